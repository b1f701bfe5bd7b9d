/* igny8_logging._speedups, part two: a record's making and routing, and the inotify poll.
 *
 * Like the line functions (_speedups.c), each function here does, for the
 * common case, exactly what a piece of Python does, and answers None for
 * anything else so that the Python code (the one definition) takes over:
 *
 *   build_record  _logrecord._built: logging.LogRecord(...) without __init__
 *   route_fast    _routing.route_of for a record naming its run, tenant and
 *                 stage by plain ids already validated (the route cache hit)
 *   plan_attrs    _records.RunPlan.attrs: a RunLogger call's extra= as record
 *                 attributes, and its route
 *   pending       the bytes an inotify descriptor holds (ioctl FIONREAD)
 *
 * The Python modules hand over what these read (the LogRecord class, the
 * caches, the key names) once, with configure_records / configure_routing.
 * That state belongs to the interpreter that configured it: called from
 * another (a sub-interpreter), the functions answer None and Python does the work.
 */
#include "_speedups.h"
#include <sys/ioctl.h>

#include "pythread.h"

/* -- making a record ---------------------------------------------------------------- */

#define N_KEYS 21

static const char *const RECORD_KEYS[N_KEYS] = {
    "name",     "msg",        "args",      "levelname", "levelno",
    "pathname", "filename",   "module",    "exc_info",  "exc_text",
    "stack_info", "lineno",   "funcName",  "created",   "msecs",
    "relativeCreated", "thread", "threadName", "processName", "process",
    "taskName",
};

static struct {
    PyInterpreterState *interp; /* who configured it; NULL: not configured */
    PyObject *record_cls;       /* logging.LogRecord */
    PyObject *logging;          /* the logging module */
    PyObject *clock;            /* time.time, or time.time_ns (3.13) */
    PyObject *current_thread;   /* threading.current_thread */
    PyObject *process_name;     /* _logrecord._process_name */
    PyObject *task_name;        /* _logrecord._task_name, or None before 3.12 */
    PyObject *names_of;         /* _logrecord._names_of */
    PyObject *paths;            /* _logrecord._paths: (filename, module) by pathname */
    PyObject *level_names;      /* logging._levelToName */
    PyObject *get_level_name;   /* logging.getLevelName */
    PyObject *mapping;          /* collections.abc.Mapping */
    PyObject *pid;              /* this process's id (set_pid after a fork) */
    PyObject *empty;            /* () */
    PyObject *a_threads, *a_processes, *a_start, *a_name, *a_dict;
    PyObject *keys[N_KEYS];
    PyObject *template;         /* a record's keys (None values), room for its extras */
    PyObject *active;           /* threading._active: the Thread of each thread id */
    PyObject *thread_name;      /* threading.Thread.name (the property) */
    PyObject *a__name, *a_multiprocessing, *a_mp, *a_mp_process, *a_current_process;
    PyObject *a__current_process, *a_base_process, *a_modules, *main_process;
    PyObject *sys_dict;         /* vars(sys) */
    int ns;                     /* created from time_ns, as 3.13 does */
} REC;

/* out[i] = the interned names[i]; on failure none is kept (-1, an exception set). */
static int
intern_all(const char *const *names, int count, PyObject **out)
{
    for (int i = 0; i < count; i++) {
        out[i] = PyUnicode_InternFromString(names[i]);
        if (out[i] == NULL) {
            while (--i >= 0) {
                Py_CLEAR(out[i]);
            }
            return -1;
        }
    }
    return 0;
}

/* What thread_name_of and process_name_of read: threading's table and property, and
 * the names they look up. */
static int
configure_names(void)
{
#define INTERN_INTO(field, text)                                                          \
    if (REC.field == NULL && (REC.field = PyUnicode_InternFromString(text)) == NULL) return -1;
    INTERN_INTO(a__name, "_name")
    INTERN_INTO(a_multiprocessing, "logMultiprocessing")
    INTERN_INTO(a_mp, "multiprocessing")
    INTERN_INTO(a_mp_process, "multiprocessing.process")
    INTERN_INTO(a_current_process, "current_process")
    INTERN_INTO(a__current_process, "_current_process")
    INTERN_INTO(a_base_process, "BaseProcess")
    INTERN_INTO(a_modules, "modules")
    INTERN_INTO(main_process, "MainProcess")
#undef INTERN_INTO
    PyObject *sys = PyImport_ImportModule("sys");
    if (sys == NULL) {
        return -1;
    }
    Py_XSETREF(REC.sys_dict, Py_NewRef(PyModule_GetDict(sys)));
    Py_DECREF(sys);
    PyObject *threading = PyImport_ImportModule("threading");
    if (threading == NULL) {
        return -1;
    }
    PyObject *active = PyObject_GetAttrString(threading, "_active");
    PyObject *cls = PyObject_GetAttrString(threading, "Thread");
    Py_DECREF(threading);
    PyObject *prop = cls == NULL || !PyType_Check(cls)
                         ? NULL
                         : _PyType_Lookup((PyTypeObject *)cls, REC.a_name);
    Py_XDECREF(cls);
    if (active == NULL || !PyDict_CheckExact(active) || prop == NULL) {
        PyErr_Clear(); /* an unusual threading: current_thread() is asked each time */
        Py_CLEAR(active);
    }
    Py_XSETREF(REC.active, active);
    Py_XSETREF(REC.thread_name, Py_XNewRef(prop));
    return 0;
}

static PyObject *
configure_records(PyObject *self, PyObject *args)
{
    PyObject *cls, *logging_mod, *clock, *current_thread, *process_name, *task_name;
    PyObject *names_of, *paths, *level_names, *get_level_name, *mapping, *pid;
    int ns;
    if (!PyArg_ParseTuple(args, "O!OOOOOOO!O!OOO!p:configure_records", &PyType_Type, &cls,
                          &logging_mod, &clock, &current_thread, &process_name, &task_name,
                          &names_of, &PyDict_Type, &paths, &PyDict_Type, &level_names,
                          &get_level_name, &mapping, &PyLong_Type, &pid, &ns)) {
        return NULL;
    }
    if (REC.interp != NULL && !mine(REC.interp)) {
        Py_RETURN_FALSE; /* another interpreter's: this one uses the Python code */
    }
    static const char *const ATTRS[4] = {"logThreads", "logProcesses", "_startTime", "__dict__"};
    PyObject *keys[N_KEYS], *attrs[4];
    if (intern_all(RECORD_KEYS, N_KEYS, keys) < 0) {
        return NULL;
    }
    PyObject *empty = intern_all(ATTRS, 4, attrs) < 0 ? NULL : PyTuple_New(0);
    if (empty == NULL) {
        for (int i = 0; i < N_KEYS; i++) {
            Py_DECREF(keys[i]);
        }
        if (attrs[0] != NULL) { /* interned, the tuple failed */
            for (int i = 0; i < 4; i++) {
                Py_DECREF(attrs[i]);
            }
        }
        return NULL;
    }
    PyObject *a_threads = attrs[0], *a_processes = attrs[1], *a_start = attrs[2];
    PyObject *a_dict = attrs[3];
    /* Configured twice (a reload): the new objects replace the old ones. */
    Py_XSETREF(REC.record_cls, Py_NewRef(cls));
    Py_XSETREF(REC.logging, Py_NewRef(logging_mod));
    Py_XSETREF(REC.clock, Py_NewRef(clock));
    Py_XSETREF(REC.current_thread, Py_NewRef(current_thread));
    Py_XSETREF(REC.process_name, Py_NewRef(process_name));
    Py_XSETREF(REC.task_name, Py_NewRef(task_name));
    Py_XSETREF(REC.names_of, Py_NewRef(names_of));
    Py_XSETREF(REC.paths, Py_NewRef(paths));
    Py_XSETREF(REC.level_names, Py_NewRef(level_names));
    Py_XSETREF(REC.get_level_name, Py_NewRef(get_level_name));
    Py_XSETREF(REC.mapping, Py_NewRef(mapping));
    Py_XSETREF(REC.pid, Py_NewRef(pid));
    Py_XSETREF(REC.empty, empty);
    Py_XSETREF(REC.a_threads, a_threads);
    Py_XSETREF(REC.a_processes, a_processes);
    Py_XSETREF(REC.a_start, a_start);
    Py_XSETREF(REC.a_dict, a_dict);
    for (int i = 0; i < N_KEYS; i++) {
        Py_XSETREF(REC.keys[i], keys[i]);
    }
    REC.a_name = REC.keys[0]; /* "name", also threading.Thread's attribute */
    REC.ns = ns;
    /* Each record's __dict__ is a copy of this: one clone of a keys table sized for the
     * record's attributes and the run's extras, instead of 21 insertions and resizes. */
    Py_CLEAR(REC.template);
#if PY_VERSION_HEX < 0x030E0000
    REC.template = _PyDict_NewPresized(N_KEYS + 16);
#else
    REC.template = PyDict_New();
#endif
    if (REC.template == NULL) {
        return NULL;
    }
    for (int i = 0; i < (task_name == Py_None ? N_KEYS - 1 : N_KEYS); i++) {
        if (PyDict_SetItem(REC.template, REC.keys[i], Py_None) < 0) {
            Py_CLEAR(REC.template);
            return NULL;
        }
    }
    if (configure_names() < 0) {
        return NULL;
    }
    REC.interp = PyInterpreterState_Get();
    Py_RETURN_TRUE;
}

static PyObject *
set_pid(PyObject *self, PyObject *pid)
{
    if (!PyLong_CheckExact(pid)) {
        PyErr_SetString(PyExc_TypeError, "set_pid takes an int");
        return NULL;
    }
    if (mine(REC.interp)) {
        Py_XSETREF(REC.pid, Py_NewRef(pid));
    }
    Py_RETURN_NONE;
}

/* logging.<name> as a truth value: 1, 0, or -1 with an exception set. */
/* logging.<name> (a new reference): the module's dict, else getattr (a module
 * __getattr__, a module object of another type). */
static PyObject *
logging_attr(PyObject *name)
{
    if (PyModule_CheckExact(REC.logging)) {
        PyObject *value = PyDict_GetItemWithError(PyModule_GetDict(REC.logging), name);
        if (value != NULL) {
            return Py_NewRef(value);
        }
        if (PyErr_Occurred()) {
            return NULL;
        }
    }
    return PyObject_GetAttr(REC.logging, name);
}

static int
logging_flag(PyObject *name)
{
    PyObject *value = logging_attr(name);
    if (value == NULL) {
        return -1;
    }
    int truth = PyObject_IsTrue(value);
    Py_DECREF(value);
    return truth;
}

/* created, msecs and relativeCreated, as this Python's LogRecord.__init__ makes them. */
static int
record_times(PyObject **created, PyObject **msecs, PyObject **relative)
{
    PyObject *now = PyObject_CallNoArgs(REC.clock);
    if (now == NULL) {
        return -1;
    }
    PyObject *start = logging_attr(REC.a_start);
    if (start == NULL) {
        Py_DECREF(now);
        return -1;
    }
    int rc = -1;
    if (REC.ns) { /* 3.13: ct = time_ns(); ct / 1e9; (ct % 1e9) // 1e6; (ct - start) / 1e6 */
        long long ct = PyLong_AsLongLong(now);
        long long st = PyLong_AsLongLong(start);
        if (!PyErr_Occurred() && ct >= 0 && st >= 0) {
            double c = (double)ct / 1e9;
            double ms = (double)((ct % 1000000000LL) / 1000000LL);
            if (ms == 999.0 && (long long)c != ct / 1000000000LL) {
                ms = 0.0;
            }
            *created = PyFloat_FromDouble(c);
            *msecs = PyFloat_FromDouble(ms);
            *relative = PyFloat_FromDouble((double)(ct - st) / 1e6);
            rc = 0;
        }
        else if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_ValueError, "a time before 1970");
        }
    }
    else { /* 3.11, 3.12: ct = time(); int((ct - int(ct)) * 1000) + 0.0; (ct - start) * 1000 */
        double c = PyFloat_AsDouble(now);
        double st = PyFloat_AsDouble(start);
        if (!PyErr_Occurred() && c >= 0.0) {
            *created = Py_NewRef(now);
            *msecs = PyFloat_FromDouble((double)(long long)((c - (double)(long long)c) * 1000));
            *relative = PyFloat_FromDouble((c - st) * 1000);
            rc = 0;
        }
        else if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_ValueError, "a time before 1970");
        }
    }
    Py_DECREF(now);
    Py_DECREF(start);
    if (rc == 0 && (*created == NULL || *msecs == NULL || *relative == NULL)) {
        rc = -1;
    }
    return rc;
}

/* The attribute *name* kept in *obj*'s instance dict, when its class's *descr* is the
 * stock one (whose getter returns it): a new reference, NULL (no error) otherwise. */
static PyObject *
stock_attribute(PyObject *obj, PyObject *attr, PyObject *descr, PyObject *name)
{
    if (descr == NULL || _PyType_Lookup(Py_TYPE(obj), attr) != descr) {
        return NULL;
    }
    PyObject *d = PyObject_GenericGetDict(obj, NULL);
    if (d == NULL) {
        PyErr_Clear();
        return NULL;
    }
    PyObject *value = PyDict_GetItemWithError(d, name);
    Py_DECREF(d);
    if (value == NULL || !PyUnicode_Check(value)) {
        PyErr_Clear();
        return NULL;
    }
    return Py_NewRef(value);
}

/* threading.current_thread().name for the thread *ident* (a new reference): its Thread
 * from threading._active and the stock name property's _name, else the calls. */
static PyObject *
thread_name_of(PyObject *ident)
{
    PyObject *thread = REC.active == NULL ? NULL : PyDict_GetItemWithError(REC.active, ident);
    if (thread != NULL) {
        Py_INCREF(thread);
        PyObject *name = stock_attribute(thread, REC.a_name, REC.thread_name, REC.a__name);
        Py_DECREF(thread);
        if (name != NULL) {
            return name;
        }
    }
    if (PyErr_Occurred()) {
        return NULL;
    }
    PyObject *current = PyObject_CallNoArgs(REC.current_thread);
    if (current == NULL) {
        return NULL;
    }
    PyObject *name = PyObject_GetAttr(current, REC.a_name);
    Py_DECREF(current);
    return name;
}

/* _logrecord._process_name() (a new reference): multiprocessing.current_process().name
 * read from multiprocessing.process when both are the stock ones, else the call. */
static PyObject *
process_name_of(void)
{
    int on = logging_flag(REC.a_multiprocessing);
    if (on <= 0) {
        return on < 0 ? NULL : Py_NewRef(Py_None);
    }
    PyObject *modules = REC.sys_dict == NULL ? NULL : PyDict_GetItemWithError(REC.sys_dict, REC.a_modules);
    if (modules == NULL || !PyDict_Check(modules)) { /* sys.modules, borrowed */
        PyErr_Clear();
        return PyObject_CallNoArgs(REC.process_name);
    }
    PyObject *mp = PyDict_GetItemWithError(modules, REC.a_mp);
    if (mp == NULL || mp == Py_None) {
        return PyErr_Occurred() ? NULL : Py_NewRef(REC.main_process);
    }
    PyObject *name = NULL, *process = PyDict_GetItemWithError(modules, REC.a_mp_process);
    if (process != NULL && PyModule_CheckExact(process) && PyModule_CheckExact(mp)) {
        PyObject *ours = PyDict_GetItemWithError(PyModule_GetDict(mp), REC.a_current_process);
        PyObject *names = PyModule_GetDict(process);
        PyObject *stock = PyDict_GetItemWithError(names, REC.a_current_process);
        PyObject *current = PyDict_GetItemWithError(names, REC.a__current_process);
        PyObject *base = PyDict_GetItemWithError(names, REC.a_base_process);
        if (ours != NULL && ours == stock && current != NULL && base != NULL &&
            PyType_Check(base)) {
            PyObject *descr = _PyType_Lookup((PyTypeObject *)base, REC.a_name);
            Py_INCREF(current);
            name = stock_attribute(current, REC.a_name, descr, REC.a__name);
            Py_DECREF(current);
        }
    }
    PyErr_Clear(); /* a lookup that failed: the Python code decides */
    return name != NULL ? name : PyObject_CallNoArgs(REC.process_name);
}

/* LogRecord's args: args[0] for one non-empty mapping, else args (new reference). */
static PyObject *
record_args(PyObject *args)
{
    if (PyTuple_Check(args) && PyTuple_GET_SIZE(args) == 1) {
        PyObject *first = PyTuple_GET_ITEM(args, 0);
        /* the common arguments are no mappings (their types are not registered as one) */
        int plain = PyLong_CheckExact(first) || PyUnicode_CheckExact(first) ||
                    PyFloat_CheckExact(first) || first == Py_None || PyBool_Check(first) ||
                    PyTuple_CheckExact(first) || PyList_CheckExact(first) ||
                    PyBytes_CheckExact(first);
        int is_mapping = plain             ? 0
                         : PyDict_Check(first) ? 1
                                               : PyObject_IsInstance(first, REC.mapping);
        if (is_mapping < 0) {
            return NULL;
        }
        if (is_mapping) {
            int truth = PyObject_IsTrue(first);
            if (truth < 0) {
                return NULL;
            }
            if (truth) {
                return Py_NewRef(first);
            }
        }
    }
    return Py_NewRef(args);
}

/* build_record(name, level, pathname, lineno, msg, args, exc_info, func=None, sinfo=None)
 * -> a logging.LogRecord, or None when args is not a tuple (Python builds it). */
PyObject *
igny8_build_record(PyObject *self, PyObject *const *a, Py_ssize_t n)
{
    if (n < 7 || n > 9) {
        PyErr_SetString(PyExc_TypeError, "build_record takes 7 to 9 arguments");
        return NULL;
    }
    if (!mine(REC.interp) || !PyTuple_Check(a[5])) {
        Py_RETURN_NONE;
    }
    PyObject *level = a[1], *pathname = a[2];
    PyObject *func = n > 7 ? a[7] : Py_None, *sinfo = n > 8 ? a[8] : Py_None;
    PyObject *created = NULL, *msecs = NULL, *relative = NULL, *args = NULL, *names = NULL;
    PyObject *levelname = NULL, *thread = NULL, *thread_name = NULL, *process_name = NULL;
    PyObject *task = NULL, *d = NULL, *record = NULL;

    if (record_times(&created, &msecs, &relative) < 0) {
        goto done;
    }
    args = record_args(a[5]);
    if (args == NULL) {
        goto done;
    }
    names = PyDict_GetItemWithError(REC.paths, pathname);
    if (names != NULL) {
        Py_INCREF(names);
    }
    else if (!PyErr_Occurred()) {
        names = PyObject_CallOneArg(REC.names_of, pathname);
    }
    if (names == NULL) {
        goto done;
    }
    if (!PyTuple_CheckExact(names) || PyTuple_GET_SIZE(names) != 2) {
        PyErr_SetString(PyExc_TypeError, "_names_of must give (filename, module)");
        goto done;
    }
    PyObject *known = PyDict_GetItemWithError(REC.level_names, level); /* get(level) or ... */
    int named = known == NULL ? 0 : PyObject_IsTrue(known);
    if (named < 0 || PyErr_Occurred()) {
        goto done;
    }
    levelname = named ? Py_NewRef(known) : PyObject_CallOneArg(REC.get_level_name, level);
    if (levelname == NULL) {
        goto done;
    }
    int threads = logging_flag(REC.a_threads);
    if (threads < 0) {
        goto done;
    }
    if (threads) {
        thread = PyLong_FromUnsignedLong(PyThread_get_thread_ident());
        thread_name = thread == NULL ? NULL : thread_name_of(thread);
        if (thread_name == NULL) {
            goto done;
        }
    }
    else {
        thread = Py_NewRef(Py_None);
        thread_name = Py_NewRef(Py_None);
    }
    process_name = process_name_of();
    if (process_name == NULL) {
        goto done;
    }
    int processes = logging_flag(REC.a_processes);
    if (processes < 0) {
        goto done;
    }
    if (REC.task_name != Py_None) {
        task = PyObject_CallNoArgs(REC.task_name);
        if (task == NULL) {
            goto done;
        }
    }
    PyObject *values[N_KEYS] = {
        a[0],      a[4],   args,      levelname,  level,
        pathname,  PyTuple_GET_ITEM(names, 0), PyTuple_GET_ITEM(names, 1), a[6], Py_None,
        sinfo,     a[3],   func,      created,    msecs,
        relative,  thread, thread_name, process_name, processes ? REC.pid : Py_None,
        task,
    };
    d = PyDict_Copy(REC.template);
    if (d == NULL) {
        goto done;
    }
    for (int i = 0; i < (task == NULL ? N_KEYS - 1 : N_KEYS); i++) {
        if (PyDict_SetItem(d, REC.keys[i], values[i]) < 0) {
            goto done;
        }
    }
    record = PyBaseObject_Type.tp_new((PyTypeObject *)REC.record_cls, REC.empty, NULL);
    /* Through the type's __dict__ descriptor, as `record.__dict__ = d` does: 3.13 keeps
     * attributes inline, and PyObject_GenericSetDict would leave them unseen. */
    if (record != NULL && PyObject_SetAttr(record, REC.a_dict, d) < 0) {
        Py_CLEAR(record);
    }
done:
    Py_XDECREF(created);
    Py_XDECREF(msecs);
    Py_XDECREF(relative);
    Py_XDECREF(args);
    Py_XDECREF(names);
    Py_XDECREF(levelname);
    Py_XDECREF(thread);
    Py_XDECREF(thread_name);
    Py_XDECREF(process_name);
    Py_XDECREF(task);
    Py_XDECREF(d);
    return record;
}

/* -- routing a record ---------------------------------------------------------------- */

static struct {
    PyInterpreterState *interp;
    PyObject *route_attr;  /* ROUTE_ATTR */
    PyObject *route_cls;   /* Route */
    PyObject *places;      /* _places: (ref, parts, stage) by (run id, account, site, stage) */
    PyObject *last;        /* the last key LogRecord.__init__ sets */
    PyObject *skip;        /* _SKIP: keys that are no field */
    PyObject *fields_attr; /* FIELDS_ATTR */
    PyObject *record_attrs; /* RECORD_ATTRS: names a LogRecord has of its own */
    PyObject *routing_keys; /* ROUTING_KEYS */
    PyObject *k_run, *k_account, *k_site, *k_stage, *k_event;
    Py_ssize_t tail;       /* how many keys LogRecord.__init__ sets */
} RT;

static PyObject *
configure_routing(PyObject *self, PyObject *args)
{
    PyObject *route_attr, *route_cls, *places, *last, *skip, *fields_attr, *record_attrs;
    PyObject *routing_keys;
    Py_ssize_t tail;
    if (!PyArg_ParseTuple(args, "UOO!nUO!UO!O!:configure_routing", &route_attr, &route_cls,
                          &PyDict_Type, &places, &tail, &last, &PyFrozenSet_Type, &skip,
                          &fields_attr, &PyFrozenSet_Type, &record_attrs, &PyFrozenSet_Type,
                          &routing_keys)) {
        return NULL;
    }
    if (RT.interp != NULL && !mine(RT.interp)) {
        Py_RETURN_FALSE;
    }
    if (tail < 1) {
        PyErr_SetString(PyExc_ValueError, "tail must be >= 1");
        return NULL;
    }
    static const char *const NAMES[5] = {"run_id", "account_id", "site_id", "stage", "event"};
    PyObject *keys[5];
    if (intern_all(NAMES, 5, keys) < 0) {
        return NULL;
    }
    Py_XSETREF(RT.route_attr, Py_NewRef(route_attr));
    Py_XSETREF(RT.route_cls, Py_NewRef(route_cls));
    Py_XSETREF(RT.places, Py_NewRef(places));
    Py_XSETREF(RT.last, Py_NewRef(last));
    Py_XSETREF(RT.skip, Py_NewRef(skip));
    Py_XSETREF(RT.fields_attr, Py_NewRef(fields_attr));
    Py_XSETREF(RT.record_attrs, Py_NewRef(record_attrs));
    Py_XSETREF(RT.routing_keys, Py_NewRef(routing_keys));
    Py_XSETREF(RT.k_run, keys[0]);
    Py_XSETREF(RT.k_account, keys[1]);
    Py_XSETREF(RT.k_site, keys[2]);
    Py_XSETREF(RT.k_stage, keys[3]);
    Py_XSETREF(RT.k_event, keys[4]);
    RT.tail = tail;
    RT.interp = PyInterpreterState_Get();
    Py_RETURN_TRUE;
}

/* A key the files never show as a field: `key[:1] == "_"` (_routing, _records). */
static int
private_name(PyObject *key)
{
    return PyUnicode_GET_LENGTH(key) > 0 && PyUnicode_READ_CHAR(key, 0) == '_';
}

/* _routing._fields: the extra keys that are fields (a new dict), Py_None for the
 * Python code (a key that is not a str, a FIELDS_ATTR that is not a dict), NULL on error. */
static PyObject *
record_fields(PyObject *d)
{
    Py_ssize_t pos = 0, index = 0;
    PyObject *key, *value;
    int after_init = 0; /* the extra keys follow LogRecord's own: skip those */
    while (PyDict_Next(d, &pos, &key, &value)) {
        if (index++ == RT.tail - 1) {
            after_init = key == RT.last;
            if (!after_init && PyUnicode_CheckExact(key)) {
                after_init = PyUnicode_Compare(key, RT.last) == 0;
            }
            break;
        }
    }
    if (!after_init) {
        pos = 0; /* a factory changed the order: look at every key */
    }
    PyObject *fields = PyDict_New();
    if (fields == NULL) {
        return NULL;
    }
    while (PyDict_Next(d, &pos, &key, &value)) {
        if (!PyUnicode_CheckExact(key)) {
            goto python;
        }
        int skipped = PySet_Contains(RT.skip, key);
        if (skipped < 0) {
            goto error;
        }
        if (skipped || private_name(key)) {
            continue;
        }
        if (PyDict_SetItem(fields, key, value) < 0) {
            goto error;
        }
    }
    PyObject *named = PyDict_GetItemWithError(d, RT.fields_attr);
    if (named != NULL) {
        int truth = PyObject_IsTrue(named);
        if (truth < 0) {
            goto error;
        }
        if (truth) {
            if (!PyDict_CheckExact(named)) {
                goto python;
            }
            if (PyDict_Update(fields, named) < 0) {
                goto error;
            }
        }
    }
    else if (PyErr_Occurred()) {
        goto error;
    }
    return fields;
python:
    Py_DECREF(fields);
    Py_RETURN_NONE;
error:
    Py_DECREF(fields);
    return NULL;
}

static int
plain_id(PyObject *value)
{
    return value == Py_None || PyUnicode_CheckExact(value) || PyLong_CheckExact(value);
}

/* route_fast(record_dict) -> Route | None: the record's route when it names its run,
 * tenant and stage by plain ids seen before (and its event is a str or None); set as
 * ROUTE_ATTR.  None: the Python code routes it (it also fills the cache). */
PyObject *
igny8_route_fast(PyObject *self, PyObject *d)
{
    if (!mine(RT.interp) || !PyDict_CheckExact(d)) {
        Py_RETURN_NONE;
    }
    /* With all four ids on the record, a bound context changes nothing. */
    PyObject *ids[4], *keys[4] = {RT.k_run, RT.k_account, RT.k_site, RT.k_stage};
    for (int i = 0; i < 4; i++) {
        ids[i] = PyDict_GetItemWithError(d, keys[i]);
        if (ids[i] == NULL || !plain_id(ids[i])) {
            goto python;
        }
    }
    if (!PyUnicode_CheckExact(ids[0])) {
        goto python;
    }
    PyObject *event = PyDict_GetItemWithError(d, RT.k_event);
    if (event == NULL) {
        if (PyErr_Occurred()) {
            return NULL;
        }
        event = Py_None;
    }
    else if (event != Py_None && !PyUnicode_CheckExact(event)) {
        goto python;
    }
    PyObject *place_key = PyTuple_Pack(4, ids[0], ids[1], ids[2], ids[3]);
    if (place_key == NULL) {
        return NULL;
    }
    PyObject *place = PyDict_GetItemWithError(RT.places, place_key);
    Py_DECREF(place_key);
    if (place == NULL || !PyTuple_CheckExact(place) || PyTuple_GET_SIZE(place) != 3) {
        goto python;
    }
    Py_INCREF(place); /* the cache may be cleared while the route is made */
    Py_INCREF(event);
    PyObject *fields = record_fields(d);
    PyObject *route = NULL;
    if (fields != NULL && fields != Py_None) {
        PyObject *call[5] = {PyTuple_GET_ITEM(place, 0), PyTuple_GET_ITEM(place, 2), event,
                             fields, PyTuple_GET_ITEM(place, 1)};
        route = PyObject_Vectorcall(RT.route_cls, call, 5, NULL);
        if (route != NULL && PyDict_SetItem(d, RT.route_attr, route) < 0) {
            Py_CLEAR(route);
        }
    }
    else if (fields == Py_None) {
        route = Py_NewRef(Py_None);
    }
    Py_XDECREF(fields);
    Py_DECREF(event);
    Py_DECREF(place);
    return route;
python:
    if (PyErr_Occurred()) {
        return NULL;
    }
    Py_RETURN_NONE;
}


/* plan_attrs(given, ids, ref, stage, parts) -> (attrs, Route) | None: _records.RunPlan.attrs
 * for an exact dict of str keys that are no LogRecord attribute nor the library's own, an
 * adapter bound to its stage (or given none) and a str or no event; None: the Python code. */
PyObject *
igny8_plan_attrs(PyObject *self, PyObject *const *a, Py_ssize_t n)
{
    if (n != 5) {
        PyErr_SetString(PyExc_TypeError, "plan_attrs takes 5 arguments");
        return NULL;
    }
    PyObject *given = a[0], *ids = a[1], *ref = a[2], *stage = a[3], *parts = a[4];
    if (!mine(RT.interp) || !PyDict_CheckExact(given) || !PyDict_CheckExact(ids)) {
        Py_RETURN_NONE;
    }
    PyObject *fields = PyDict_New();
    if (fields == NULL) {
        return NULL;
    }
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    int rc = 1; /* 1: common case, 0: the Python code, -1: error */
    while (rc > 0 && PyDict_Next(given, &pos, &key, &value)) {
        if (!PyUnicode_CheckExact(key) || key == RT.fields_attr || key == RT.route_attr) {
            rc = 0;
            break;
        }
        int own = PySet_Contains(RT.record_attrs, key);
        int routing = own ? 0 : PySet_Contains(RT.routing_keys, key);
        if (own < 0 || routing < 0) {
            rc = -1;
        }
        else if (own) {
            rc = 0; /* kept as fields under FIELDS_ATTR: RunPlan._split */
        }
        else if (!routing && !private_name(key)) {
            rc = PyDict_SetItem(fields, key, value) < 0 ? -1 : 1;
        }
    }
    if (rc > 0) { /* the library's own keys, compared by value too */
        int named = PyDict_Contains(given, RT.fields_attr);
        int routed = named ? named : PyDict_Contains(given, RT.route_attr);
        rc = named < 0 || routed < 0 ? -1 : named || routed ? 0 : 1;
    }
    if (rc > 0 && stage == Py_None) { /* a stage of the call counts: RunPlan.attrs does it */
        int staged = PyDict_Contains(given, RT.k_stage);
        rc = staged < 0 ? -1 : staged ? 0 : 1;
    }
    PyObject *attrs = NULL, *result = NULL;
    if (rc > 0) {
        attrs = PyDict_Copy(given);
        if (attrs == NULL || PyDict_Update(attrs, ids) < 0) {
            rc = -1;
        }
    }
    PyObject *event = NULL;
    if (rc > 0) {
        event = PyDict_GetItemWithError(attrs, RT.k_event);
        if (event == NULL) {
            rc = PyErr_Occurred() ? -1 : 1;
            event = Py_None;
        }
        else if (event != Py_None && !PyUnicode_CheckExact(event)) {
            rc = 0; /* the handlers name it */
        }
    }
    if (rc > 0) {
        Py_INCREF(event);
        PyObject *call[5] = {ref, stage, event, fields, parts};
        PyObject *route = PyObject_Vectorcall(RT.route_cls, call, 5, NULL);
        Py_DECREF(event);
        if (route == NULL) {
            rc = -1;
        }
        else {
            result = PyTuple_Pack(2, attrs, route);
            Py_DECREF(route);
            if (result == NULL) {
                rc = -1;
            }
        }
    }
    Py_XDECREF(attrs);
    Py_DECREF(fields);
    if (rc < 0) {
        return NULL;
    }
    if (rc == 0) {
        Py_RETURN_NONE;
    }
    return result;
}

/* -- the inotify poll ---------------------------------------------------------------- */

/* pending(fd) -> the bytes queued on *fd* (ioctl FIONREAD), -1 when it cannot be asked.
 * Instant, so the GIL is kept (fcntl.ioctl releases and takes it again). */
static PyObject *
pending(PyObject *self, PyObject *arg)
{
    long fd = PyLong_AsLong(arg);
    if (fd == -1 && PyErr_Occurred()) {
        return NULL;
    }
    int queued = 0;
    if (fd < 0 || fd > 0x7fffffffL || ioctl((int)fd, FIONREAD, &queued) < 0) {
        queued = -1;
    }
    return PyLong_FromLong(queued);
}

PyMethodDef igny8_record_methods[] = {
    {"configure_records", configure_records, METH_VARARGS,
     "configure_records(LogRecord, logging, clock, current_thread, process_name, task_name,\n"
     "                  names_of, paths, level_names, get_level_name, Mapping, pid, ns) -> bool"},
    {"set_pid", set_pid, METH_O, "set_pid(pid): this process's id (after a fork)."},
    {"build_record", (PyCFunction)(void (*)(void))igny8_build_record, METH_FASTCALL,
     "build_record(name, level, pathname, lineno, msg, args, exc_info, func=None, sinfo=None)\n"
     "-> LogRecord | None"},
    {"configure_routing", configure_routing, METH_VARARGS,
     "configure_routing(ROUTE_ATTR, Route, places, tail, last, skip, FIELDS_ATTR,\n"
     "                  RECORD_ATTRS, ROUTING_KEYS) -> bool"},
    {"route_fast", igny8_route_fast, METH_O, "route_fast(record_dict) -> Route | None"},
    {"plan_attrs", (PyCFunction)(void (*)(void))igny8_plan_attrs, METH_FASTCALL,
     "plan_attrs(given, ids, ref, stage, parts) -> (attrs, Route) | None"},
    {"pending", pending, METH_O, "pending(fd) -> bytes queued on an inotify descriptor, or -1"},
    {NULL, NULL, 0, NULL},
};
