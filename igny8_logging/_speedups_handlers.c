/* igny8_logging._speedups, part three: the run handlers' handle() for the common case.
 *
 * BaseRunHandler.handle is, in Python, _handlers.handle_unlocked: filters, then
 * emit (route, file name, bytes, poll, one append per tree).  This is the same
 * work for a stock RunLogHandler / StageLogHandler / TraceHandler (no filter,
 * no formatter, fsync "never", no method replaced on the class or the
 * instance) and a record whose route and lines the C parts can make; every
 * other case, and every step that fails or is unusual (a file to open, a
 * stale descriptor, a short or failed write), is handed to the Python code,
 * which stays the one definition:
 *
 *   route        _routing.route_of (route_fast, else the handler's _route)
 *   file name    the three filename() methods (_ids._stage_files, else Python)
 *   bytes        _render.text_bytes / trace_bytes: the Route's cache, else the
 *                line made here from the route's ts and message (made here as
 *                _format.iso_utc and _values.message_of make them, for a stock
 *                LogRecord) with text_line / trace_line, else handler.render()
 *   poll         Watcher.poll: the FIONREAD ioctl; anything queued: Python
 *   append       FileTree.append_at / append for a file open and unchanged
 *                (nothing stale, torn or unwatched): one write(2), the GIL
 *                released; else BaseRunHandler._append (Python)
 *
 * Errors: what emit's `except Exception` catches goes to _report_error (which
 * calls handler.handleError); anything else (KeyboardInterrupt) propagates.
 */
#include "_speedups.h"

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

enum { RUN = 0, STAGE = 1, TRACE = 2 };

/* Names looked up on objects (interned once). */
#define NAMES(X)                                                                           \
    X(filters) X(formatter) X(fsync) X(trees) X(_text) X(trace_formatter) X(_failed_once)   \
    X(emit) X(filename) X(render) X(_route) X(handle) X(_append) X(_recovered) X(_failed)   \
    X(_finish_short) X(_last) X(_stale) X(_unwatched) X(_torn) X(fd) X(append_at)          \
    X(stage) X(event) X(fields) X(items) X(ts) X(message) X(rendered) X(polled) X(parts)  \
    X(ref) X(run_id) X(account_id) X(site_id) X(_stock) X(_heads) X(max_record_bytes)    \
    X(levelno) X(levelname) X(exc_info) X(exc_text) X(stack_info) X(created) X(msg)       \
    X(args) X(getMessage) X(_fd) X(poll) X(_fds) X(move_to_end)

#define DECLARE(name) PyObject *s_##name;
#define INTERN(name)                                                                       \
    if ((H.s_##name = PyUnicode_InternFromString(#name)) == NULL) return -1;

static struct {
    PyInterpreterState *interp; /* who configured it; NULL: not configured */
    NAMES(DECLARE)
    PyObject *classes[3];       /* RunLogHandler, StageLogHandler, TraceHandler */
    PyObject *emit;             /* BaseRunHandler.emit */
    PyObject *filename[3];      /* each class's filename */
    PyObject *render[3];        /* each class's render */
    PyObject *route_method;     /* BaseRunHandler._route */
    PyObject *handle_unlocked;  /* _handlers.handle_unlocked: the Python handle */
    PyObject *report_error;     /* _handlers._report_error(handler, record, exc) */
    PyObject *route_cls;        /* _routing.Route */
    PyObject *route_attr;       /* ROUTE_ATTR */
    PyObject *record_cls;       /* logging.LogRecord */
    PyObject *get_message;      /* LogRecord.getMessage */
    PyObject *tree_cls;         /* _files.FileTree */
    PyObject *append_at;        /* FileTree.append_at */
    PyObject *odict_cls;        /* collections.OrderedDict: FileTree._fds */
    PyObject *files_globals;    /* vars(_files): its `os` must be the os module */
    PyObject *os_module, *k_os;
    PyObject *stage_files;      /* _ids._stage_files: name by (type(stage), stage) */
    PyObject *run_log, *trace_file, *run_start, *never, *log_event;
    PyObject *no_fields;        /* _format._NO_FIELDS */
    PyObject *common;           /* _routing._COMMON */
    PyObject *watcher;          /* _watch.WATCHER */
    long warning;               /* logging.WARNING */
    long line_factor;           /* _trace._LINE_FACTOR */
    /* _format.iso_utc's cache, for this module's own calls */
    long long ms_stamp, sec_stamp;
    PyObject *ms_text;
    char sec_text[32];
    size_t sec_len;
} H;

static int
intern_names(void)
{
    NAMES(INTERN)
    return 0;
}

/* -- small helpers: 1 yes, 0 no (or hand over), -1 error ------------------------------ */

/* Whether the instance dict of *self* replaces one of the methods handle() relies on. */
static int
instance_overrides(PyObject *self)
{
    PyObject **dictptr = _PyObject_GetDictPtr(self);
    PyObject *d = dictptr == NULL ? NULL : *dictptr;
    if (d == NULL) {
        return 0;
    }
    PyObject *names[4] = {H.s_emit, H.s_filename, H.s_render, H.s__route};
    for (int i = 0; i < 4; i++) {
        PyObject *found = PyDict_GetItemWithError(d, names[i]);
        if (found != NULL) {
            return 1;
        }
        if (PyErr_Occurred()) {
            return -1;
        }
    }
    return 0;
}

/* The handler kind (RUN, STAGE, TRACE) when *self* is a stock handler set up the stock
 * way; -1 for the Python handle; -2 on error. */
static int
stock_kind(PyObject *self)
{
    PyTypeObject *type = Py_TYPE(self);
    int kind = -1;
    for (int i = 0; i < 3; i++) {
        if ((PyObject *)type == H.classes[i]) {
            kind = i;
        }
    }
    if (kind < 0 || _PyType_Lookup(type, H.s_emit) != H.emit ||
        _PyType_Lookup(type, H.s_filename) != H.filename[kind] ||
        _PyType_Lookup(type, H.s_render) != H.render[kind] ||
        _PyType_Lookup(type, H.s__route) != H.route_method) {
        return -1;
    }
    int over = instance_overrides(self);
    if (over != 0) {
        return over < 0 ? -2 : -1;
    }
    int ok = unfiltered_unformatted(self, H.s_filters, H.s_formatter);
    if (ok <= 0) {
        return ok < 0 ? -2 : -1;
    }
    PyObject *value;
    if (get(self, H.s_fsync, &value) < 0) {
        return -2;
    }
    ok = value == H.never ||
         (PyUnicode_CheckExact(value) && PyUnicode_Compare(value, H.never) == 0);
    Py_DECREF(value);
    return ok ? kind : -1;
}

/* d[key] (borrowed) or NULL: missing (0) or error (-1), like PyDict_GetItemWithError. */
static inline PyObject *
item(PyObject *d, PyObject *key)
{
    return PyDict_GetItemWithError(d, key);
}

/* Truth of d[key] (a missing key is false). */
static inline int
truthy(PyObject *d, PyObject *key)
{
    PyObject *value = item(d, key);
    if (value == NULL) {
        return PyErr_Occurred() ? -1 : 0;
    }
    return PyObject_IsTrue(value);
}

/* -- the route's time and message -------------------------------------------------------- */

/* _format.iso_utc(created) as a new str, NULL without an error for the Python code. */
static PyObject *
iso_utc(PyObject *created)
{
    if (!PyFloat_CheckExact(created)) {
        return NULL;
    }
    double scaled = PyFloat_AS_DOUBLE(created) * 1000.0;
    if (!(scaled >= 0.0 && scaled < 9.0e15)) {
        return NULL;
    }
    long long stamp = (long long)scaled; /* int(created * 1000): truncated */
    if (stamp == H.ms_stamp && H.ms_text != NULL) {
        return Py_NewRef(H.ms_text);
    }
    long long sec = stamp / 1000;
    if (sec != H.sec_stamp) {
        time_t when = (time_t)sec;
        struct tm tm;
        if (gmtime_r(&when, &tm) == NULL) {
            return NULL;
        }
        H.sec_len = strftime(H.sec_text, sizeof H.sec_text, "%Y-%m-%dT%H:%M:%S", &tm);
        if (H.sec_len == 0) {
            H.sec_stamp = -1;
            return NULL;
        }
        H.sec_stamp = sec;
    }
    char text[sizeof H.sec_text + 6];
    size_t n = H.sec_len;
    memcpy(text, H.sec_text, n);
    int ms = (int)(stamp % 1000);
    text[n] = '.';
    text[n + 1] = (char)('0' + ms / 100);
    text[n + 2] = (char)('0' + ms / 10 % 10);
    text[n + 3] = (char)('0' + ms % 10);
    text[n + 4] = 'Z';
    text[n + 5] = '\0';
    PyObject *made = PyUnicode_FromString(text);
    if (made == NULL) {
        return NULL;
    }
    Py_XSETREF(H.ms_text, Py_NewRef(made));
    H.ms_stamp = stamp;
    return made;
}

/* route.<name> when it is made already (of exact type *kind*): 1 and a new reference in
 * *out*; 0 (not made: *out* NULL); -1 on error. */
static int
made_already(PyObject *route, PyObject *name, PyTypeObject *kind, PyObject **out)
{
    if (get(route, name, out) < 0) {
        return -1;
    }
    if (Py_IS_TYPE(*out, kind)) {
        return 1;
    }
    Py_CLEAR(*out);
    return 0;
}

/* route.ts, made (and kept on the route) when missing: a new reference, NULL without an
 * error when the Python code must make it, NULL with one on error. */
static PyObject *
route_ts(PyObject *route, PyObject *d)
{
    PyObject *ts;
    if (made_already(route, H.s_ts, &PyUnicode_Type, &ts) != 0) {
        return ts;
    }
    PyObject *created = item(d, H.s_created);
    if (created == NULL) {
        return NULL;
    }
    ts = iso_utc(created);
    if (ts != NULL && set(route, H.s_ts, ts) < 0) {
        Py_CLEAR(ts);
    }
    return ts;
}

/* route.message, made as message_of makes it for a stock LogRecord with a str msg and
 * tuple args whose formatting succeeds; else NULL (with an error only on error). */
static PyObject *
route_message(PyObject *route, PyObject *record, PyObject *d)
{
    PyObject *message;
    if (made_already(route, H.s_message, &PyUnicode_Type, &message) != 0) {
        return message;
    }
    if ((PyObject *)Py_TYPE(record) != H.record_cls ||
        _PyType_Lookup(Py_TYPE(record), H.s_getMessage) != H.get_message) {
        return NULL;
    }
    PyObject *msg = item(d, H.s_msg);
    PyObject *args = msg == NULL ? NULL : item(d, H.s_args);
    if (args == NULL || !PyUnicode_CheckExact(msg)) {
        return NULL;
    }
    if (args == Py_None || (PyTuple_CheckExact(args) && PyTuple_GET_SIZE(args) == 0)) {
        message = Py_NewRef(msg);
    }
    else if (PyTuple_CheckExact(args)) {
        message = PyUnicode_Format(msg, args);
        if (message == NULL) {
            if (PyErr_ExceptionMatches(PyExc_Exception)) {
                PyErr_Clear(); /* the Python code writes its placeholder */
            }
            return NULL;
        }
        if (!PyUnicode_CheckExact(message)) {
            Py_DECREF(message);
            return NULL;
        }
    }
    else {
        return NULL;
    }
    if (set(route, H.s_message, message) < 0) {
        Py_CLEAR(message);
    }
    return message;
}

/* _routing.field_items(route) when the fields take no common key (else NULL, no error). */
static PyObject *
route_items(PyObject *route, PyObject *fields)
{
    PyObject *items;
    if (made_already(route, H.s_items, &PyList_Type, &items) != 0) {
        return items;
    }
    if (!PyDict_CheckExact(fields)) {
        return NULL;
    }
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    while (PyDict_Next(fields, &pos, &key, &value)) {
        int taken = PySet_Contains(H.common, key);
        if (taken != 0) {
            return NULL; /* a name to change (or an error): the Python code */
        }
    }
    items = PyDict_Items(fields);
    if (items != NULL && set(route, H.s_items, items) < 0) {
        Py_CLEAR(items);
    }
    return items;
}

/* -- the bytes ------------------------------------------------------------------------------ */

/* formatter.attr is True */
static int
is_stock(PyObject *formatter)
{
    PyObject *stock;
    if (get(formatter, H.s__stock, &stock) < 0) {
        return -1;
    }
    int ok = stock == Py_True;
    Py_DECREF(stock);
    return ok;
}

static int
max_bytes(PyObject *formatter, Py_ssize_t *out)
{
    PyObject *value;
    if (get(formatter, H.s_max_record_bytes, &value) < 0) {
        return -1;
    }
    *out = PyLong_CheckExact(value) ? PyLong_AsSsize_t(value) : -1;
    Py_DECREF(value);
    if (*out == -1 && PyErr_Occurred()) {
        return -1;
    }
    return *out > 0;
}

/* Whether *formatter* is stock and the record has no traceback (nor, *with_stack*, a stack):
 * the case the line functions write (-1: error). */
static int
plain_case(PyObject *formatter, PyObject *d, int with_stack)
{
    int rc = is_stock(formatter);
    if (rc <= 0) {
        return rc;
    }
    if ((rc = truthy(d, H.s_exc_info)) != 0 || (rc = truthy(d, H.s_exc_text)) != 0 ||
        (with_stack && (rc = truthy(d, H.s_stack_info)) != 0)) {
        return rc < 0 ? -1 : 0;
    }
    return 1;
}

/* The text line of *record* (TextFormatter.format_bytes, stock case), a new reference;
 * NULL without an error: the Python code renders it. */
static PyObject *
text_bytes(PyObject *formatter, PyObject *record, PyObject *d, PyObject *route,
           PyObject *stage, PyObject *event)
{
    if (plain_case(formatter, d, 1) <= 0) {
        return NULL;
    }
    if (event != Py_None && PyUnicode_Compare(event, H.run_start) == 0) {
        return NULL;
    }
    PyObject *levelname = item(d, H.s_levelname);
    if (levelname == NULL) {
        return NULL;
    }
    PyObject *heads, *fields = NULL, *items = NULL, *ts = NULL, *message = NULL, *line = NULL;
    if (get(formatter, H.s__heads, &heads) < 0) {
        return NULL;
    }
    PyObject *key = PyTuple_Pack(2, levelname, stage);
    PyObject *head = key == NULL || !PyDict_CheckExact(heads) ? NULL : item(heads, key);
    Py_XDECREF(key);
    Py_ssize_t limit;
    if (head == NULL || max_bytes(formatter, &limit) <= 0) {
        goto done;
    }
    Py_INCREF(head);
    if (event == Py_None) {
        items = Py_NewRef(Py_None);
    }
    else {
        if (get(route, H.s_fields, &fields) < 0) {
            goto done_head;
        }
        int shown = PyObject_IsTrue(fields);
        int plain = shown > 0 ? PySet_Contains(H.no_fields, event) : 0;
        if (shown < 0 || plain < 0) {
            goto done_head;
        }
        items = shown && !plain ? route_items(route, fields) : Py_NewRef(Py_None);
        if (items == NULL) {
            goto done_head;
        }
    }
    if ((ts = route_ts(route, d)) == NULL || (message = route_message(route, record, d)) == NULL) {
        goto done_head;
    }
    PyObject *short_ = PyLong_FromSsize_t(limit >> 2);
    if (short_ != NULL) {
        PyObject *args[5] = {ts, head, message, items, short_};
        line = igny8_text_line(NULL, args, 5);
        Py_DECREF(short_);
        if (line == Py_None) {
            Py_CLEAR(line);
        }
    }
done_head:
    Py_DECREF(head);
done:
    Py_XDECREF(message);
    Py_XDECREF(ts);
    Py_XDECREF(items);
    Py_XDECREF(fields);
    Py_DECREF(heads);
    return line;
}

/* The trace line of *record* (TraceFormatter.format_line, stock case), as text_bytes. */
static PyObject *
trace_bytes(PyObject *formatter, PyObject *record, PyObject *d, PyObject *route,
            PyObject *stage, PyObject *event)
{
    if (plain_case(formatter, d, 0) <= 0) {
        return NULL;
    }
    PyObject *levelname = item(d, H.s_levelname);
    Py_ssize_t limit;
    if (levelname == NULL || max_bytes(formatter, &limit) <= 0) {
        return NULL;
    }
    PyObject *ref = NULL, *ids[3] = {NULL, NULL, NULL}, *fields = NULL, *items = NULL;
    PyObject *ts = NULL, *message = NULL, *line = NULL, *short_ = NULL, *budget = NULL;
    if (get(route, H.s_ref, &ref) < 0 || get(ref, H.s_run_id, &ids[0]) < 0 ||
        get(ref, H.s_account_id, &ids[1]) < 0 || get(ref, H.s_site_id, &ids[2]) < 0 ||
        get(route, H.s_fields, &fields) < 0) {
        goto done;
    }
    if ((items = route_items(route, fields)) == NULL || (ts = route_ts(route, d)) == NULL ||
        (message = route_message(route, record, d)) == NULL) {
        goto done;
    }
    short_ = PyLong_FromSsize_t(limit >> 2);
    budget = short_ == NULL ? NULL : PyLong_FromSsize_t(limit * H.line_factor + 4096);
    if (budget != NULL) {
        PyObject *args[11] = {ts,      event == Py_None ? H.log_event : event,
                              levelname, ids[0], ids[1], ids[2], stage, message, items,
                              short_,  budget};
        line = igny8_trace_line(NULL, args, 11);
        if (line == Py_None) {
            Py_CLEAR(line);
        }
    }
done:
    Py_XDECREF(budget);
    Py_XDECREF(short_);
    Py_XDECREF(message);
    Py_XDECREF(ts);
    Py_XDECREF(items);
    Py_XDECREF(fields);
    for (int i = 0; i < 3; i++) {
        Py_XDECREF(ids[i]);
    }
    Py_XDECREF(ref);
    return line;
}

/* -- the poll and the append ------------------------------------------------------------- */

/* Watcher.poll: nothing queued on the inotify descriptor costs one ioctl. */
static int
poll_watcher(void)
{
    PyObject *fd_obj;
    if (get(H.watcher, H.s__fd, &fd_obj) < 0) {
        return -1;
    }
    long fd = PyLong_AsLong(fd_obj);
    Py_DECREF(fd_obj);
    if (fd == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (fd < 0) {
        return 0;
    }
    int queued = 0;
    if (fd > 0x7fffffffL || ioctl((int)fd, FIONREAD, &queued) < 0 || queued <= 0) {
        return 0; /* as Watcher.poll: a failed ioctl delivers nothing */
    }
    PyObject *done = PyObject_CallMethodNoArgs(H.watcher, H.s_poll);
    Py_XDECREF(done);
    return done == NULL ? -1 : 0;
}

/* Whether a set-valued attribute of *tree* is non-empty (-1: error). */
static int
nonempty(PyObject *tree, PyObject *name)
{
    PyObject *value;
    if (get(tree, name, &value) < 0) {
        return -1;
    }
    int rc = PyObject_IsTrue(value);
    Py_DECREF(value);
    return rc;
}

/* The open descriptor of parts/name when nothing about the tree's files is pending:
 * 1 with new references in *desc* and *key*, and *hit* set when it is the last file
 * appended to (FileTree.append_at's first branch) or else moved to the end of the LRU
 * cache (FileTree.append's); 0 for the Python code; -1 on error. */
static int
open_descriptor(PyObject *tree, PyObject *parts, PyObject *name, PyObject **desc,
                PyObject **key, int *hit)
{
    PyObject *names[3] = {H.s__stale, H.s__unwatched, H.s__torn};
    for (int i = 0; i < 3; i++) {
        int busy = nonempty(tree, names[i]);
        if (busy != 0) {
            return busy < 0 ? -1 : 0; /* something to reopen or check: the Python code */
        }
    }
    PyObject *last;
    if (get(tree, H.s__last, &last) < 0) {
        return -1;
    }
    *hit = PyTuple_CheckExact(last) && PyTuple_GET_SIZE(last) == 4 &&
           PyTuple_GET_ITEM(last, 0) == parts && PyTuple_GET_ITEM(last, 1) == name;
    if (*hit) {
        *desc = Py_NewRef(PyTuple_GET_ITEM(last, 2));
        *key = Py_NewRef(PyTuple_GET_ITEM(last, 3));
        Py_DECREF(last);
        return 1;
    }
    Py_DECREF(last);
    if (!PyTuple_CheckExact(parts)) {
        return 0;
    }
    PyObject *fds;
    if (get(tree, H.s__fds, &fds) < 0) {
        return -1;
    }
    int rc = 0;
    Py_ssize_t n = PyTuple_GET_SIZE(parts);
    *key = Py_IS_TYPE(fds, (PyTypeObject *)H.odict_cls) ? PyTuple_New(n + 1) : NULL;
    if (*key != NULL) {
        for (Py_ssize_t i = 0; i < n; i++) {
            PyTuple_SET_ITEM(*key, i, Py_NewRef(PyTuple_GET_ITEM(parts, i)));
        }
        PyTuple_SET_ITEM(*key, n, Py_NewRef(name));
        *desc = Py_XNewRef(PyDict_GetItemWithError(fds, *key));
        if (*desc != NULL) {
            PyObject *moved = PyObject_CallMethodOneArg(fds, H.s_move_to_end, *key);
            rc = moved == NULL ? -1 : 1;
            Py_XDECREF(moved);
        }
        else {
            rc = PyErr_Occurred() ? -1 : 0; /* not open: the Python code opens it */
        }
        if (rc <= 0) {
            Py_CLEAR(*desc);
            Py_CLEAR(*key);
        }
    }
    else if (PyErr_Occurred()) {
        rc = -1;
    }
    Py_DECREF(fds);
    return rc;
}

/* FileTree.append_at for a file open and unchanged: 1 written, 0 for the Python code
 * (nothing written), -1 an error (a failed _finish_short: *failed* holds the tree's key,
 * a new reference). */
static int
append_fast(PyObject *tree, PyObject *parts, PyObject *name, PyObject *data,
            PyObject **failed)
{
    if ((PyObject *)Py_TYPE(tree) != H.tree_cls ||
        _PyType_Lookup(Py_TYPE(tree), H.s_append_at) != H.append_at ||
        PyDict_GetItemWithError(H.files_globals, H.k_os) != H.os_module) {
        return PyErr_Occurred() ? -1 : 0;
    }
    /* The descriptor object stays referenced (by *desc*) during the write: its
     * number is never closed and reused under it (see _files._Descriptor). */
    PyObject *desc = NULL, *key = NULL, *fd_obj = NULL;
    int hit = 0;
    int rc = open_descriptor(tree, parts, name, &desc, &key, &hit);
    if (rc <= 0) {
        return rc;
    }
    rc = 0;
    if (get(desc, H.s_fd, &fd_obj) < 0) {
        rc = -1;
        goto done;
    }
    long fd = PyLong_AsLong(fd_obj);
    Py_DECREF(fd_obj);
    if (fd == -1 && PyErr_Occurred()) {
        rc = -1;
        goto done;
    }
    if (fd < 0 || fd > 0x7fffffffL) {
        goto done;
    }
    const char *bytes = PyBytes_AS_STRING(data);
    Py_ssize_t size = PyBytes_GET_SIZE(data), written;
    Py_BEGIN_ALLOW_THREADS
    written = write((int)fd, bytes, (size_t)size);
    Py_END_ALLOW_THREADS
    if (written < 0) {
        goto done; /* nothing written (EINTR included): the Python code tells the cases apart */
    }
    rc = 1;
    if (written < size) { /* a short write (full disk, signal): the rest, as Python does */
        PyObject *fd_arg = PyLong_FromLong(fd), *n = PyLong_FromSsize_t(written);
        PyObject *finished = NULL;
        if (fd_arg != NULL && n != NULL) {
            PyObject *call[5] = {tree, key, fd_arg, data, n};
            finished = PyObject_VectorcallMethod(H.s__finish_short, call,
                                                 5 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
        }
        Py_XDECREF(fd_arg);
        Py_XDECREF(n);
        if (finished == NULL) {
            *failed = Py_NewRef(key);
            rc = -1;
            goto done;
        }
        Py_DECREF(finished);
    }
    if (!hit) { /* append_at remembers the file appended to */
        PyObject *last = PyTuple_Pack(4, parts, name, desc, key);
        if (last == NULL || set(tree, H.s__last, last) < 0) {
            rc = -1;
        }
        Py_XDECREF(last);
    }
done:
    Py_XDECREF(key);
    Py_XDECREF(desc);
    return rc;
}

/* Calls handler.<method>(args...) and drops the result: 0, or -1 on error. */
static int
call_method(PyObject *self, PyObject *method, PyObject *const *args, Py_ssize_t n)
{
    PyObject *call[6] = {self};
    for (Py_ssize_t i = 0; i < n; i++) {
        call[i + 1] = args[i];
    }
    PyObject *done =
        PyObject_VectorcallMethod(method, call, (n + 1) | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
    Py_XDECREF(done);
    return done == NULL ? -1 : 0;
}

/* One append per tree, failures counted as BaseRunHandler._append counts them: 0 done,
 * 1 for the Python code (nothing written), -1 error. */
static int
append_all(PyObject *self, PyObject *parts, PyObject *name, PyObject *data)
{
    PyObject *trees;
    if (get(self, H.s_trees, &trees) < 0) {
        return -1;
    }
    if (!PyList_CheckExact(trees)) {
        Py_DECREF(trees);
        return 1; /* the Python code, whatever it is */
    }
    int rc = 0;
    for (Py_ssize_t i = 0; rc == 0 && i < PyList_GET_SIZE(trees); i++) {
        PyObject *tree = PyList_GET_ITEM(trees, i);
        Py_INCREF(tree);
        PyObject *failed = NULL;
        int done = append_fast(tree, parts, name, data, &failed);
        if (done == 0) { /* the Python code: append_at, failures and recoveries */
            PyObject *args[5] = {tree, parts, name, data, Py_False};
            rc = call_method(self, H.s__append, args, 5);
        }
        else if (done > 0) {
            int once = nonempty(self, H.s__failed_once);
            if (once > 0) {
                rc = call_method(self, H.s__recovered, &tree, 1);
            }
            else if (once < 0) {
                rc = -1;
            }
        }
        else if (failed != NULL && PyErr_ExceptionMatches(PyExc_Exception)) {
            PyObject *exc = take_exception();
            PyObject *args[3] = {tree, failed, exc};
            rc = call_method(self, H.s__failed, args, 3);
            Py_DECREF(exc);
        }
        else {
            rc = -1;
        }
        Py_XDECREF(failed);
        Py_DECREF(tree);
    }
    Py_DECREF(trees);
    return rc;
}

/* -- handle ------------------------------------------------------------------------------ */

/* The file of the run folder (a new reference), NULL without an error: skip the record. */
static PyObject *
file_name(int kind, PyObject *record_dict, PyObject *stage, PyObject *event, int *python)
{
    if (kind == RUN) {
        return Py_NewRef(H.run_log);
    }
    if (kind == TRACE) {
        if (event == Py_None) {
            PyObject *levelno = item(record_dict, H.s_levelno);
            if (levelno == NULL || !PyLong_CheckExact(levelno)) {
                *python = PyErr_Occurred() == NULL;
                return NULL;
            }
            long level = PyLong_AsLong(levelno);
            if (level == -1 && PyErr_Occurred()) {
                return NULL;
            }
            if (level < H.warning) {
                return NULL;
            }
        }
        return Py_NewRef(H.trace_file);
    }
    if (stage == Py_None) {
        return NULL;
    }
    PyObject *key = PyTuple_Pack(2, (PyObject *)Py_TYPE(stage), stage);
    if (key == NULL) {
        return NULL;
    }
    PyObject *name = item(H.stage_files, key);
    Py_DECREF(key);
    if (name == NULL) {
        *python = PyErr_Occurred() == NULL;
        return NULL;
    }
    return Py_NewRef(name);
}

/* The Python handle for what this one does not do. */
static PyObject *
python_handle(PyObject *self, PyObject *record)
{
    PyObject *args[2] = {self, record};
    return PyObject_Vectorcall(H.handle_unlocked, args, 2, NULL);
}

/* emit's work; 0 done, 1 for the Python handle (nothing written yet), -1 error. */
static int
emit(PyObject *self, int kind, PyObject *record)
{
    PyObject *d = PyObject_GenericGetDict(record, NULL);
    if (d == NULL) {
        return -1;
    }
    int rc = 1, python = 0;
    PyObject *route = NULL, *stage = NULL, *event = NULL, *name = NULL, *data = NULL;
    PyObject *rendered = NULL, *key = NULL, *parts = NULL;
    if (!PyDict_CheckExact(d)) {
        goto done;
    }
    route = Py_XNewRef(item(d, H.route_attr));
    if (route == NULL) {
        if (PyErr_Occurred()) {
            rc = -1;
            goto done;
        }
        route = igny8_route_fast(NULL, d);
        if (route == NULL) {
            rc = -1;
            goto done;
        }
        if (route == Py_None) {
            Py_CLEAR(route);
            PyObject *call[2] = {self, record};
            route = PyObject_VectorcallMethod(H.s__route, call,
                                              2 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
            if (route == NULL) {
                rc = -1;
                goto done;
            }
        }
    }
    if (route == Py_None || route == Py_False) {
        rc = 0; /* no run, or refused (counted by _route) */
        goto done;
    }
    if ((PyObject *)Py_TYPE(route) != H.route_cls) {
        goto done;
    }
    if (get(route, H.s_stage, &stage) < 0 || get(route, H.s_event, &event) < 0) {
        rc = -1;
        goto done;
    }
    if (event != Py_None && !PyUnicode_CheckExact(event)) {
        goto done;
    }
    name = file_name(kind, d, stage, event, &python);
    if (name == NULL) {
        rc = PyErr_Occurred() ? -1 : python ? 1 : 0;
        goto done;
    }
    if (get(self, kind == TRACE ? H.s_trace_formatter : H.s__text, &key) < 0 ||
        get(route, H.s_rendered, &rendered) < 0) {
        rc = -1;
        goto done;
    }
    if (!PyDict_CheckExact(rendered)) {
        goto done;
    }
    data = Py_XNewRef(item(rendered, key));
    if (data == NULL && !PyErr_Occurred()) {
        data = kind == TRACE ? trace_bytes(key, record, d, route, stage, event)
                             : text_bytes(key, record, d, route, stage, event);
        if (data != NULL && (!PyBytes_CheckExact(data) ||
                             PyDict_SetItem(rendered, key, data) < 0)) {
            Py_CLEAR(data);
        }
        if (data == NULL && !PyErr_Occurred()) { /* the Python renderer (it caches too) */
            PyObject *call[3] = {self, record, route};
            data = PyObject_VectorcallMethod(H.s_render, call,
                                             3 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
        }
    }
    if (data == NULL) {
        rc = -1;
        goto done;
    }
    if (!PyBytes_CheckExact(data)) {
        goto done;
    }
    int polled = nonempty(route, H.s_polled);
    if (polled < 0) {
        rc = -1;
        goto done;
    }
    if (!polled) { /* once per record, for every handler and tree */
        if (set(route, H.s_polled, Py_True) < 0 || poll_watcher() < 0) {
            rc = -1;
            goto done;
        }
    }
    if (get(route, H.s_parts, &parts) < 0) {
        rc = -1;
        goto done;
    }
    rc = append_all(self, parts, name, data);
done:
    Py_XDECREF(parts);
    Py_XDECREF(data);
    Py_XDECREF(rendered);
    Py_XDECREF(key);
    Py_XDECREF(name);
    Py_XDECREF(event);
    Py_XDECREF(stage);
    Py_XDECREF(route);
    Py_DECREF(d);
    return rc;
}

static PyObject *
handle(PyObject *self, PyObject *record)
{
    if (!mine(H.interp)) {
        return python_handle(self, record);
    }
    int kind = stock_kind(self);
    int rc = kind == -2 ? -1 : kind < 0 ? 1 : emit(self, kind, record);
    return handled(rc, H.handle_unlocked, H.report_error, self, record);
}

static PyMethodDef handle_def = {
    "handle", handle, METH_O,
    "handle(record) -> True\n\n"
    "Filter, then emit without the handler lock (the C accelerator's handle_unlocked).",
};

/* -- configuration ----------------------------------------------------------------------- */

#define TAKE(field, key)                                                                  \
    if ((H.field = spec_item(spec, key, "configure_handlers")) == NULL) return NULL;

/* configure_handlers(spec) -> the handle method descriptor for BaseRunHandler, or False
 * (another interpreter configured it). */
static PyObject *
configure_handlers(PyObject *module, PyObject *spec)
{
    int go = configure_once(H.interp, spec, "configure_handlers");
    if (go <= 0) {
        return go < 0 ? NULL : Py_NewRef(Py_False);
    }
    if (intern_names() < 0) {
        return NULL;
    }
    PyObject *base = PyDict_GetItemString(spec, "BaseRunHandler");
    if (base == NULL || !PyType_Check(base)) {
        PyErr_SetString(PyExc_TypeError, "configure_handlers: BaseRunHandler must be a class");
        return NULL;
    }
    TAKE(classes[RUN], "RunLogHandler")
    TAKE(classes[STAGE], "StageLogHandler")
    TAKE(classes[TRACE], "TraceHandler")
    TAKE(emit, "emit")
    TAKE(filename[RUN], "RunLogHandler.filename")
    TAKE(filename[STAGE], "StageLogHandler.filename")
    TAKE(filename[TRACE], "TraceHandler.filename")
    TAKE(render[RUN], "RunLogHandler.render")
    TAKE(render[STAGE], "StageLogHandler.render")
    TAKE(render[TRACE], "TraceHandler.render")
    TAKE(route_method, "_route")
    TAKE(handle_unlocked, "handle_unlocked")
    TAKE(report_error, "_report_error")
    TAKE(route_cls, "Route")
    TAKE(route_attr, "ROUTE_ATTR")
    TAKE(record_cls, "LogRecord")
    TAKE(get_message, "LogRecord.getMessage")
    TAKE(tree_cls, "FileTree")
    TAKE(append_at, "FileTree.append_at")
    TAKE(odict_cls, "OrderedDict")
    TAKE(files_globals, "vars(_files)")
    TAKE(os_module, "os")
    TAKE(stage_files, "_stage_files")
    TAKE(run_log, "RUN_LOG")
    TAKE(trace_file, "TRACE_FILE")
    TAKE(run_start, "RUN_START")
    TAKE(log_event, "LOG")
    TAKE(no_fields, "_NO_FIELDS")
    TAKE(common, "_COMMON")
    TAKE(watcher, "WATCHER")
    for (int i = 0; i < 3; i++) {
        if (!PyType_Check(H.classes[i]) ||
            !PyType_IsSubtype((PyTypeObject *)H.classes[i], (PyTypeObject *)base)) {
            PyErr_SetString(PyExc_TypeError, "configure_handlers: not a BaseRunHandler");
            return NULL;
        }
    }
    if (!PyDict_Check(H.files_globals) || !PyDict_Check(H.stage_files) ||
        !PyAnySet_Check(H.no_fields) || !PyAnySet_Check(H.common) ||
        !PyType_Check(H.route_cls) || !PyType_Check(H.record_cls) ||
        !PyType_Check(H.tree_cls) || !PyType_Check(H.odict_cls)) {
        PyErr_SetString(PyExc_TypeError, "configure_handlers: a value of the wrong type");
        return NULL;
    }
    PyObject *warning = PyDict_GetItemString(spec, "WARNING");
    PyObject *factor = PyDict_GetItemString(spec, "_LINE_FACTOR");
    if (warning == NULL || factor == NULL) {
        PyErr_SetString(PyExc_KeyError, "configure_handlers: WARNING or _LINE_FACTOR missing");
        return NULL;
    }
    H.warning = PyLong_AsLong(warning);
    H.line_factor = PyLong_AsLong(factor);
    if (PyErr_Occurred()) {
        return NULL;
    }
    if ((H.k_os = PyUnicode_InternFromString("os")) == NULL ||
        (H.never = PyUnicode_InternFromString("never")) == NULL) {
        return NULL;
    }
    H.ms_stamp = H.sec_stamp = -1;
    PyObject *method = PyDescr_NewMethod((PyTypeObject *)base, &handle_def);
    if (method != NULL) {
        H.interp = PyInterpreterState_Get();
    }
    return method;
}

PyMethodDef igny8_handler_methods[] = {
    {"configure_handlers", configure_handlers, METH_O,
     "configure_handlers(spec) -> BaseRunHandler.handle in C, or False"},
    {NULL, NULL, 0, NULL},
};
