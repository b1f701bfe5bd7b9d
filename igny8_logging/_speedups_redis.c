/* igny8_logging._speedups, part four: RedisStreamHandler's handle() for the common case.
 *
 * RedisStreamHandler.handle is, in Python, _handlers.handle_unlocked: filters, then
 * emit, which queues (route.parts, route.stage, bulk(text), bulk(trace) or None) for
 * the sender thread.  This is the same for a stock handler (its exact class, no
 * filter, no formatter, emit not replaced) and a record the file handlers routed
 * and rendered already (its route's `rendered` holds the text line, and the trace
 * line when the record reaches the trace): the entry is made here and appended to
 * the sender's deque when that needs no wake-up, no trim and no start.  Everything
 * else (no route yet, a line not rendered, an empty or full queue, no sender
 * thread) is handed to the Python code, which stays the one definition:
 *
 *   route        record.__dict__[ROUTE_ATTR], as _route_of left it
 *   lines        route.rendered[handler._text_formatter / _trace_formatter]
 *   reaches the trace   route.event is not None or levelno >= WARNING
 *   bulk         _redis_script.bulk: b"$%d\r\n%b\r\n" % (len(line), line)
 *   queue        Sender.put: the deque append, when the queue holds records
 *                (no wake-up), is under its buffer and the thread runs
 *
 * Errors: what emit's `except Exception` catches goes to _report_error (which calls
 * handler.handleError); anything else (KeyboardInterrupt) propagates.
 */
#include "_speedups.h"

#include <string.h>

#define RNAMES(X)                                                                          \
    X(filters) X(formatter) X(emit) X(_closed) X(_sender) X(queue) X(buffer) X(thread)     \
    X(put) X(append) X(rendered) X(_text_formatter) X(_trace_formatter) X(event) X(stage) \
    X(parts) X(levelno)

#define DECLARE(name) PyObject *s_##name;
#define INTERN(name)                                                                       \
    if ((R.s_##name = PyUnicode_InternFromString(#name)) == NULL) return -1;

static struct {
    PyInterpreterState *interp; /* who configured it; NULL: not configured */
    RNAMES(DECLARE)
    PyObject *cls;             /* RedisStreamHandler */
    PyObject *emit;            /* RedisStreamHandler.emit */
    PyObject *handle_unlocked; /* _handlers.handle_unlocked: the Python handle */
    PyObject *report_error;    /* _handlers._report_error(handler, record, exc) */
    PyObject *route_cls;       /* _routing.Route */
    PyObject *route_attr;      /* ROUTE_ATTR */
    PyObject *deque_cls;       /* collections.deque: Sender.queue */
    long warning;              /* logging.WARNING */
} R;

static int
intern_names(void)
{
    RNAMES(INTERN)
    return 0;
}

/* 1 when *self* is a stock handler set up the stock way, 0 not, -1 error. */
static int
stock(PyObject *self)
{
    PyTypeObject *type = Py_TYPE(self);
    if ((PyObject *)type != R.cls || _PyType_Lookup(type, R.s_emit) != R.emit) {
        return 0;
    }
    PyObject **dictptr = _PyObject_GetDictPtr(self);
    if (dictptr != NULL && *dictptr != NULL) {
        if (PyDict_GetItemWithError(*dictptr, R.s_emit) != NULL) {
            return 0;
        }
        if (PyErr_Occurred()) {
            return -1;
        }
    }
    return unfiltered_unformatted(self, R.s_filters, R.s_formatter);
}

/* rendered[key] as a new reference when it is bytes; NULL (no error): not made. */
static PyObject *
line_of(PyObject *self, PyObject *rendered, PyObject *name)
{
    PyObject *key;
    if (get(self, name, &key) < 0) {
        return NULL;
    }
    PyObject *line = PyDict_GetItemWithError(rendered, key);
    Py_DECREF(key);
    return line != NULL && PyBytes_CheckExact(line) ? Py_NewRef(line) : NULL;
}

/* _redis_script.bulk(line): one RESP bulk string, a new reference. */
static PyObject *
bulk(PyObject *line)
{
    char digits[24];
    Py_ssize_t size = PyBytes_GET_SIZE(line);
    int n = 0;
    size_t rest = (size_t)size;
    do { /* the length in decimal, backwards */
        digits[n++] = (char)('0' + rest % 10);
        rest /= 10;
    } while (rest != 0);
    PyObject *out = PyBytes_FromStringAndSize(NULL, 1 + n + 2 + size + 2);
    if (out != NULL) {
        char *p = PyBytes_AS_STRING(out);
        *p++ = '$';
        while (n > 0) {
            *p++ = digits[--n];
        }
        memcpy(p, "\r\n", 2);
        memcpy(p + 2, PyBytes_AS_STRING(line), (size_t)size);
        memcpy(p + 2 + size, "\r\n", 2);
    }
    return out;
}

/* Whether the record reaches the trace: 1, 0, -1 error, 2 for the Python code. */
static int
reaches_trace(PyObject *route, PyObject *record_dict)
{
    PyObject *event;
    if (get(route, R.s_event, &event) < 0) {
        return -1;
    }
    int has_event = event != Py_None;
    Py_DECREF(event);
    if (has_event) {
        return 1;
    }
    PyObject *levelno = PyDict_GetItemWithError(record_dict, R.s_levelno);
    if (levelno == NULL || !PyLong_CheckExact(levelno)) {
        return PyErr_Occurred() ? -1 : 2;
    }
    long level = PyLong_AsLong(levelno);
    if (level == -1 && PyErr_Occurred()) {
        return -1;
    }
    return level >= R.warning;
}

/* Sender.put(entry): the deque append when nothing else is due; 0 done, -1 error. */
static int
put(PyObject *self, PyObject *entry)
{
    PyObject *sender, *queue = NULL, *buffer = NULL, *thread = NULL, *done = NULL;
    if (get(self, R.s__sender, &sender) < 0) {
        return -1;
    }
    int rc = -1, fast = 0;
    if (get(sender, R.s_queue, &queue) < 0 || get(sender, R.s_buffer, &buffer) < 0 ||
        get(sender, R.s_thread, &thread) < 0) {
        goto done;
    }
    if ((PyObject *)Py_TYPE(queue) == R.deque_cls && PyLong_CheckExact(buffer) &&
        thread != Py_None) {
        Py_ssize_t held = PyObject_Size(queue);
        Py_ssize_t limit = PyLong_AsSsize_t(buffer);
        if (held < 0 || (limit == -1 && PyErr_Occurred())) {
            goto done;
        }
        fast = held > 0 && held < limit; /* no wake-up, no trim */
    }
    PyObject *args[2] = {fast ? queue : sender, entry};
    done = PyObject_VectorcallMethod(fast ? R.s_append : R.s_put, args,
                                     2 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
    rc = done == NULL ? -1 : 0;
done:
    Py_XDECREF(done);
    Py_XDECREF(thread);
    Py_XDECREF(buffer);
    Py_XDECREF(queue);
    Py_DECREF(sender);
    return rc;
}

/* emit's work; 0 done, 1 for the Python handle (nothing queued yet), -1 error. */
static int
emit(PyObject *self, PyObject *record)
{
    PyObject *d = PyObject_GenericGetDict(record, NULL);
    if (d == NULL) {
        return -1;
    }
    int rc = 1;
    PyObject *route, *closed = NULL, *rendered = NULL, *text = NULL, *trace = NULL;
    PyObject *entry = NULL, *parts = NULL, *stage = NULL;
    route = PyDict_CheckExact(d) ? Py_XNewRef(PyDict_GetItemWithError(d, R.route_attr)) : NULL;
    if (route == NULL) {
        rc = PyErr_Occurred() ? -1 : 1;
        goto done;
    }
    if (route == Py_False) {
        rc = 0; /* refused (counted where it was routed) */
        goto done;
    }
    if ((PyObject *)Py_TYPE(route) != R.route_cls) {
        goto done; /* None (routed again by the Python code), or unusual */
    }
    if (get(self, R.s__closed, &closed) < 0 || get(route, R.s_rendered, &rendered) < 0) {
        rc = -1;
        goto done;
    }
    int is_closed = PyObject_IsTrue(closed);
    if (is_closed != 0) {
        rc = is_closed < 0 ? -1 : 0;
        goto done;
    }
    if (!PyDict_CheckExact(rendered)) {
        goto done;
    }
    if ((text = line_of(self, rendered, R.s__text_formatter)) == NULL) {
        rc = PyErr_Occurred() ? -1 : 1;
        goto done;
    }
    int traced = reaches_trace(route, d);
    if (traced < 0 || traced > 1) {
        rc = traced < 0 ? -1 : 1;
        goto done;
    }
    if (traced && (trace = line_of(self, rendered, R.s__trace_formatter)) == NULL) {
        rc = PyErr_Occurred() ? -1 : 1;
        goto done;
    }
    if (get(route, R.s_parts, &parts) < 0 || get(route, R.s_stage, &stage) < 0) {
        rc = -1;
        goto done;
    }
    PyObject *packed_text = bulk(text);
    PyObject *packed_trace = trace == NULL ? Py_NewRef(Py_None) : bulk(trace);
    if (packed_text != NULL && packed_trace != NULL) {
        entry = PyTuple_Pack(4, parts, stage, packed_text, packed_trace);
    }
    Py_XDECREF(packed_text);
    Py_XDECREF(packed_trace);
    rc = entry == NULL ? -1 : put(self, entry);
done:
    Py_XDECREF(entry);
    Py_XDECREF(stage);
    Py_XDECREF(parts);
    Py_XDECREF(trace);
    Py_XDECREF(text);
    Py_XDECREF(rendered);
    Py_XDECREF(closed);
    Py_XDECREF(route);
    Py_DECREF(d);
    return rc;
}

static PyObject *
handle(PyObject *self, PyObject *record)
{
    if (!mine(R.interp)) {
        return handled(1, R.handle_unlocked, R.report_error, self, record);
    }
    int rc = stock(self);
    rc = rc < 0 ? -1 : rc == 0 ? 1 : emit(self, record);
    return handled(rc, R.handle_unlocked, R.report_error, self, record);
}

static PyMethodDef handle_def = {
    "handle", handle, METH_O,
    "handle(record) -> True\n\n"
    "Filter, then emit without the handler lock (the C accelerator's handle_unlocked).",
};

/* -- configuration ----------------------------------------------------------------------- */

#define TAKE(field, key)                                                                  \
    if ((R.field = spec_item(spec, key, "configure_redis")) == NULL) return NULL;

/* configure_redis(spec) -> the handle method descriptor for RedisStreamHandler, or False
 * (another interpreter configured it). */
static PyObject *
configure_redis(PyObject *module, PyObject *spec)
{
    int go = configure_once(R.interp, spec, "configure_redis");
    if (go <= 0) {
        return go < 0 ? NULL : Py_NewRef(Py_False);
    }
    if (intern_names() < 0) {
        return NULL;
    }
    TAKE(cls, "RedisStreamHandler")
    TAKE(emit, "emit")
    TAKE(handle_unlocked, "handle_unlocked")
    TAKE(report_error, "_report_error")
    TAKE(route_cls, "Route")
    TAKE(route_attr, "ROUTE_ATTR")
    TAKE(deque_cls, "deque")
    if (!PyType_Check(R.cls) || !PyType_Check(R.route_cls) || !PyType_Check(R.deque_cls)) {
        PyErr_SetString(PyExc_TypeError, "configure_redis: a value of the wrong type");
        return NULL;
    }
    PyObject *warning = PyDict_GetItemString(spec, "WARNING");
    if (warning == NULL) {
        PyErr_SetString(PyExc_KeyError, "configure_redis: WARNING missing");
        return NULL;
    }
    R.warning = PyLong_AsLong(warning);
    if (PyErr_Occurred()) {
        return NULL;
    }
    PyObject *method = PyDescr_NewMethod((PyTypeObject *)R.cls, &handle_def);
    if (method != NULL) {
        R.interp = PyInterpreterState_Get();
    }
    return method;
}

PyMethodDef igny8_redis_methods[] = {
    {"configure_redis", configure_redis, METH_O,
     "configure_redis(spec) -> RedisStreamHandler.handle in C, or False"},
    {NULL, NULL, 0, NULL},
};
