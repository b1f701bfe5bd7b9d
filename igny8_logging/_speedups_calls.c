/* igny8_logging._speedups, part five: RunLogger's logging methods for the common case.
 *
 * RunLogger.debug / info / warning / error / critical are, in Python,
 * self._log_call(level, msg, args, kwargs): isEnabledFor, the plan's attributes
 * and route (_records.RunPlan.attrs), the caller (_caller.find_caller), the stock
 * record (_logrecord.make_record), its attributes and route, then
 * logger.callHandlers (or logger.handle when the logger has filters).  This is
 * the same in one C call for a call with no keyword but a non-empty `extra=` dict
 * (or none), an adapter whose plan is set (RunLogger's own process) and whose
 * class keeps RunLogger's _log_call, a stock Logger (isEnabledFor, callHandlers
 * not replaced) and the stock record factory.  Everything else, and every step
 * that is unusual (a caller location not seen before, a level not in the
 * logger's cache, no handler found), is handed to the Python code, which stays
 * the one definition:
 *
 *   enabled      Logger.isEnabledFor: not disabled, then logger._cache[level]
 *   attributes   plan_attrs (part two), else plan.route(plan.stage, None, {})
 *   caller       find_caller: the first frame not the library's (_is_library's
 *                cache), its location from _caller._lines by (id(code), f_lasti)
 *                when the frame is not traced; else find_caller itself
 *   record       build_record (part two), when logging's factory is LogRecord
 *   handlers     Logger.callHandlers: each handler of the logger and its parents
 *                while they propagate, when record.levelno >= handler.level
 */
#include "_speedups.h"

#include <string.h>

#define CNAMES(X)                                                                          \
    X(logger) X(_plan) X(_log_call) X(isEnabledFor) X(callHandlers) X(disabled) X(_cache) \
    X(filters) X(handlers) X(level) X(propagate) X(parent) X(handle) X(ids) X(ref)        \
    X(stage) X(parts) X(route) X(name) X(extra) X(f_trace) X(_srcfile)                     \
    X(_logRecordFactory)

#define DECLARE(name) PyObject *s_##name;
#define INTERN(name)                                                                       \
    if ((C.s_##name = PyUnicode_InternFromString(#name)) == NULL) return -1;

static struct {
    PyInterpreterState *interp; /* who configured it; NULL: not configured */
    CNAMES(DECLARE)
    PyObject *log_call;       /* RunLogger._log_call */
    PyObject *is_enabled;     /* logging.Logger.isEnabledFor */
    PyObject *call_handlers;  /* logging.Logger.callHandlers */
    PyObject *logging_dict;   /* vars(logging) */
    PyObject *record_cls;     /* logging.LogRecord */
    PyObject *route_attr;     /* ROUTE_ATTR */
    PyObject *find_caller;    /* _caller.find_caller */
    PyObject *is_library;     /* _caller._is_library */
    PyObject *library_files;  /* _caller._library_files */
    PyObject *lines;          /* _caller._lines */
    PyObject *levels[5];      /* DEBUG ... CRITICAL as ints */
    PyObject *python[5];      /* RunLogger's Python debug ... critical (PY_METHODS) */
} C;

static int
intern_names(void)
{
    CNAMES(INTERN)
    return 0;
}

/* -- the steps ------------------------------------------------------------------------ */

/* logger.isEnabledFor(level): 1, 0, -1 error, 2 for the Python code (not cached). */
static int
enabled(PyObject *logger, PyObject *level)
{
    PyObject *value;
    if (get(logger, C.s_disabled, &value) < 0) {
        return -1;
    }
    int off = PyObject_IsTrue(value);
    Py_DECREF(value);
    if (off != 0) {
        return off < 0 ? -1 : 0;
    }
    if (get(logger, C.s__cache, &value) < 0) {
        return -1;
    }
    PyObject *known = PyDict_CheckExact(value) ? PyDict_GetItemWithError(value, level) : NULL;
    int rc = known == NULL ? (PyErr_Occurred() ? -1 : 2) : PyObject_IsTrue(known);
    Py_DECREF(value);
    return rc;
}

/* Whether *filename* is one of the library's (the frames find_caller skips). */
static int
is_library(PyObject *filename)
{
    PyObject *known = PyDict_GetItemWithError(C.library_files, filename);
    if (known != NULL) {
        return PyObject_IsTrue(known);
    }
    if (PyErr_Occurred()) {
        return -1;
    }
    PyObject *answer = PyObject_CallOneArg(C.is_library, filename);
    if (answer == NULL) {
        return -1;
    }
    int rc = PyObject_IsTrue(answer);
    Py_DECREF(answer);
    return rc;
}

/* find_caller(frame, 1): it skips the library's frames and caches the call site. */
static PyObject *
find_caller(PyObject *frame)
{
    PyObject *one = PyLong_FromLong(1);
    if (one == NULL) {
        return NULL;
    }
    PyObject *args[2] = {frame, one};
    PyObject *where = PyObject_Vectorcall(C.find_caller, args, 2, NULL);
    Py_DECREF(one);
    return where;
}

/* The location the caller's record names, (filename, lineno, funcName), a new reference:
 * find_caller(the current frame, 1), from its cache when it holds the call site. */
static PyObject *
caller(void)
{
    PyFrameObject *top = PyEval_GetFrame(); /* borrowed */
    PyObject *srcfile = PyDict_GetItemWithError(C.logging_dict, C.s__srcfile);
    if (top == NULL || srcfile == NULL || srcfile == Py_None) {
        goto python;
    }
    PyFrameObject *frame = (PyFrameObject *)Py_NewRef(top);
    PyCodeObject *code = NULL;
    while (frame != NULL) {
        code = PyFrame_GetCode(frame);
        int library = is_library(code->co_filename);
        if (library <= 0) {
            if (library < 0) {
                Py_DECREF(code);
                Py_DECREF(frame);
                return NULL;
            }
            break;
        }
        Py_CLEAR(code);
        PyFrameObject *back = PyFrame_GetBack(frame);
        Py_DECREF(frame);
        frame = back;
    }
    if (frame == NULL) {
        goto python;
    }
    PyObject *where = NULL;
    PyObject *id = PyLong_FromVoidPtr(code);
    PyObject *lasti = id == NULL ? NULL : PyLong_FromLong(PyFrame_GetLasti(frame));
    PyObject *key = lasti == NULL ? NULL : PyTuple_Pack(2, id, lasti);
    PyObject *entry = key == NULL ? NULL : PyDict_GetItemWithError(C.lines, key);
    if (entry != NULL && PyTuple_CheckExact(entry) && PyTuple_GET_SIZE(entry) == 2 &&
        PyTuple_GET_ITEM(entry, 0) == (PyObject *)code) {
        PyObject *trace = PyObject_GetAttr((PyObject *)frame, C.s_f_trace);
        if (trace == Py_None) {
            where = Py_NewRef(PyTuple_GET_ITEM(entry, 1));
        }
        Py_XDECREF(trace);
    }
    Py_XDECREF(key);
    Py_XDECREF(lasti);
    Py_XDECREF(id);
    Py_DECREF(code);
    if (where == NULL && !PyErr_Occurred()) { /* a new call site */
        where = find_caller((PyObject *)frame);
    }
    Py_DECREF(frame);
    return where;
python:
    return PyErr_Occurred() ? NULL : find_caller(top == NULL ? Py_None : (PyObject *)top);
}

/* logger.callHandlers(record) for a stock Logger: 0 done, -1 error. */
static int
call_handlers(PyObject *logger, PyObject *record, long levelno)
{
    PyObject *c = Py_NewRef(logger);
    Py_ssize_t found = 0;
    int rc = 0;
    while (c != NULL && c != Py_None && rc == 0) {
        PyObject *handlers;
        if (get(c, C.s_handlers, &handlers) < 0) {
            rc = -1;
            break;
        }
        if (!PyList_Check(handlers)) { /* not logging's: its own iteration */
            PyObject *list = PySequence_List(handlers);
            Py_DECREF(handlers);
            if (list == NULL) {
                rc = -1;
                break;
            }
            handlers = list;
        }
        for (Py_ssize_t i = 0; rc == 0 && i < PyList_GET_SIZE(handlers); i++) {
            PyObject *handler = Py_NewRef(PyList_GET_ITEM(handlers, i));
            PyObject *level;
            found++;
            if (get(handler, C.s_level, &level) < 0) {
                rc = -1;
            }
            else {
                int due;
                if (PyLong_CheckExact(level)) {
                    long at = PyLong_AsLong(level);
                    due = at == -1 && PyErr_Occurred() ? -1 : levelno >= at;
                }
                else {
                    PyObject *no = PyLong_FromLong(levelno);
                    due = no == NULL ? -1 : PyObject_RichCompareBool(no, level, Py_GE);
                    Py_XDECREF(no);
                }
                Py_DECREF(level);
                if (due < 0) {
                    rc = -1;
                }
                else if (due) {
                    PyObject *args[2] = {handler, record};
                    PyObject *done = PyObject_VectorcallMethod(
                        C.s_handle, args, 2 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
                    rc = done == NULL ? -1 : 0;
                    Py_XDECREF(done);
                }
            }
            Py_DECREF(handler);
        }
        Py_DECREF(handlers);
        if (rc < 0) {
            break;
        }
        PyObject *propagate;
        if (get(c, C.s_propagate, &propagate) < 0) {
            rc = -1;
            break;
        }
        int up = PyObject_IsTrue(propagate);
        Py_DECREF(propagate);
        PyObject *next = NULL;
        if (up < 0 || (up && get(c, C.s_parent, &next) < 0)) {
            rc = -1;
            break;
        }
        Py_SETREF(c, next);
    }
    Py_XDECREF(c);
    if (rc == 0 && found == 0) { /* nothing handled: logging's lastResort and warning */
        PyObject *args[2] = {logger, record};
        PyObject *done = PyObject_Vectorcall(C.call_handlers, args, 2, NULL);
        rc = done == NULL ? -1 : 0;
        Py_XDECREF(done);
    }
    return rc;
}

/* -- the methods ---------------------------------------------------------------------- */

/* Whether the call, the adapter and its logger are the common case (1), not (0), -1. */
static int
common_case(PyObject *self, size_t nargs, PyObject *kwnames, PyObject *logger)
{
    if (nargs < 1 || _PyType_Lookup(Py_TYPE(self), C.s__log_call) != C.log_call) {
        return 0;
    }
    if (kwnames != NULL &&
        (PyTuple_GET_SIZE(kwnames) != 1 || PyTuple_GET_ITEM(kwnames, 0) != C.s_extra)) {
        return 0;
    }
    PyTypeObject *type = Py_TYPE(logger);
    return _PyType_Lookup(type, C.s_isEnabledFor) == C.is_enabled &&
           _PyType_Lookup(type, C.s_callHandlers) == C.call_handlers;
}

/* The Python method at *index* (PY_METHODS): the same frames above _log_call. */
static PyObject *
python_call(int index, PyObject *self, PyObject *const *args, size_t nargs, PyObject *kwnames)
{
    Py_ssize_t total = (Py_ssize_t)nargs + (kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames));
    PyObject *small[9];
    PyObject **call = total < 9 ? small : PyMem_New(PyObject *, (size_t)total + 1);
    if (call == NULL) {
        return PyErr_NoMemory();
    }
    call[0] = self;
    memcpy(call + 1, args, (size_t)total * sizeof(PyObject *));
    PyObject *done = PyObject_Vectorcall(C.python[index], call, nargs + 1, kwnames);
    if (call != small) {
        PyMem_Free(call);
    }
    return done;
}

/* attrs and route of the call (new references): 1, 0 for the Python code, -1. */
static int
plan_of_call(PyObject *plan, PyObject *given, PyObject **attrs, PyObject **route)
{
    PyObject *ids, *ref = NULL, *stage = NULL, *parts = NULL, *made = NULL;
    if (get(plan, C.s_ids, &ids) < 0) {
        return -1;
    }
    int rc = -1;
    if (get(plan, C.s_stage, &stage) < 0) {
        goto done;
    }
    int truth = given == NULL ? 0 : PyObject_IsTrue(given);
    if (truth < 0) {
        goto done;
    }
    if (!truth) { /* plan.ids, plan.route(plan.stage, None, {}) */
        PyObject *empty = PyDict_New();
        if (empty == NULL) {
            goto done;
        }
        PyObject *args[4] = {plan, stage, Py_None, empty};
        *route = PyObject_VectorcallMethod(C.s_route, args, 4 | PY_VECTORCALL_ARGUMENTS_OFFSET,
                                           NULL);
        Py_DECREF(empty);
        if (*route != NULL) {
            *attrs = Py_NewRef(ids);
            rc = 1;
        }
        goto done;
    }
    if (get(plan, C.s_ref, &ref) < 0 || get(plan, C.s_parts, &parts) < 0) {
        goto done;
    }
    PyObject *args[5] = {given, ids, ref, stage, parts};
    made = igny8_plan_attrs(NULL, args, 5);
    if (made == NULL) {
        goto done;
    }
    rc = 0;
    if (PyTuple_CheckExact(made) && PyTuple_GET_SIZE(made) == 2) {
        *attrs = Py_NewRef(PyTuple_GET_ITEM(made, 0));
        *route = Py_NewRef(PyTuple_GET_ITEM(made, 1));
        rc = 1;
    }
done:
    Py_XDECREF(made);
    Py_XDECREF(parts);
    Py_XDECREF(stage);
    Py_XDECREF(ref);
    Py_DECREF(ids);
    return rc;
}

/* The record of the call, handled: 0 done, 1 for the Python code, -1 error. */
static int
log_record(PyObject *logger, PyObject *level, long levelno, PyObject *msg,
           PyObject *const *rest, size_t nrest, PyObject *attrs, PyObject *route)
{
    PyObject *factory = PyDict_GetItemWithError(C.logging_dict, C.s__logRecordFactory);
    if (factory != C.record_cls) {
        return PyErr_Occurred() ? -1 : 1;
    }
    PyObject *name, *where = NULL, *args = NULL, *record = NULL, *d = NULL, *filters = NULL;
    if (get(logger, C.s_name, &name) < 0) {
        return -1;
    }
    int rc = -1;
    where = caller();
    if (where == NULL) {
        goto done;
    }
    if (!PyTuple_CheckExact(where) || PyTuple_GET_SIZE(where) != 3) {
        rc = 1;
        goto done;
    }
    args = PyTuple_New((Py_ssize_t)nrest);
    if (args == NULL) {
        goto done;
    }
    for (size_t i = 0; i < nrest; i++) {
        PyTuple_SET_ITEM(args, (Py_ssize_t)i, Py_NewRef(rest[i]));
    }
    PyObject *build[9] = {name, level, PyTuple_GET_ITEM(where, 0), PyTuple_GET_ITEM(where, 1),
                          msg,  args,  Py_None, PyTuple_GET_ITEM(where, 2), Py_None};
    record = igny8_build_record(NULL, build, 9);
    if (record == NULL) {
        goto done;
    }
    if (record == Py_None) {
        rc = 1;
        goto done;
    }
    d = PyObject_GenericGetDict(record, NULL);
    if (d == NULL || PyDict_Update(d, attrs) < 0 ||
        (route != Py_None && PyDict_SetItem(d, C.route_attr, route) < 0)) {
        goto done;
    }
    if (get(logger, C.s_filters, &filters) < 0) {
        goto done;
    }
    int filtered = PyObject_IsTrue(filters);
    int off = 0;
    if (filtered == 0) {
        PyObject *disabled;
        if (get(logger, C.s_disabled, &disabled) < 0) {
            goto done;
        }
        off = PyObject_IsTrue(disabled);
        Py_DECREF(disabled);
    }
    if (filtered < 0 || off < 0) {
        goto done;
    }
    if (filtered || off) { /* logger.handle(record): its filters decide */
        PyObject *call[2] = {logger, record};
        PyObject *done = PyObject_VectorcallMethod(C.s_handle, call,
                                                   2 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
        rc = done == NULL ? -1 : 0;
        Py_XDECREF(done);
    }
    else {
        rc = call_handlers(logger, record, levelno);
    }
done:
    Py_XDECREF(filters);
    Py_XDECREF(d);
    Py_XDECREF(record);
    Py_XDECREF(args);
    Py_XDECREF(where);
    Py_DECREF(name);
    return rc;
}

/* One logging method at *index* (DEBUG ... CRITICAL). */
static PyObject *
log_at(int index, PyObject *self, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    PyObject *level = C.levels[index];
    size_t nargs = PyVectorcall_NARGS(nargsf);
    if (!mine(C.interp)) {
        return python_call(index, self, args, nargs, kwnames);
    }
    PyObject *logger, *plan = NULL, *plan_logger = NULL, *attrs = NULL, *route = NULL;
    if (get(self, C.s_logger, &logger) < 0) {
        return NULL;
    }
    int rc = common_case(self, nargs, kwnames, logger);
    if (rc > 0) {
        PyObject *given = kwnames == NULL ? NULL : args[nargs];
        if (given != NULL && !PyDict_CheckExact(given)) {
            rc = 0;
        }
        else if (get(self, C.s__plan, &plan) < 0) {
            rc = -1;
        }
        else if (plan == Py_None) {
            rc = 0;
        }
        else if (get(plan, C.s_logger, &plan_logger) < 0) {
            rc = -1;
        }
        else if (plan_logger != logger) {
            rc = 0;
        }
        else {
            rc = enabled(logger, level);
            if (rc == 0) { /* not enabled: nothing more */
                Py_DECREF(plan_logger);
                Py_DECREF(plan);
                Py_DECREF(logger);
                Py_RETURN_NONE;
            }
            if (rc == 2) {
                rc = 0;
            }
            else if (rc > 0) {
                rc = plan_of_call(plan, given, &attrs, &route);
            }
            if (rc > 0) {
                long levelno = PyLong_AsLong(level);
                int done = log_record(logger, level, levelno, args[0], args + 1, nargs - 1,
                                      attrs, route);
                rc = done < 0 ? -1 : done == 0 ? 2 : 0;
            }
        }
    }
    Py_XDECREF(route);
    Py_XDECREF(attrs);
    Py_XDECREF(plan_logger);
    Py_XDECREF(plan);
    Py_DECREF(logger);
    if (rc < 0) {
        return NULL;
    }
    if (rc == 2) {
        Py_RETURN_NONE;
    }
    return python_call(index, self, args, nargs, kwnames);
}

#define LEVEL_METHOD(fn, index)                                                           \
    static PyObject *fn(PyObject *self, PyObject *const *args, size_t nargsf,          \
                        PyObject *kwnames)                                              \
    {                                                                                   \
        return log_at(index, self, args, nargsf, kwnames);                              \
    }
LEVEL_METHOD(debug, 0)
LEVEL_METHOD(info, 1)
LEVEL_METHOD(warning, 2)
LEVEL_METHOD(error, 3)
LEVEL_METHOD(critical, 4)

#define DEF(fn, doc)                                                                      \
    {#fn, (PyCFunction)(void (*)(void))fn, METH_FASTCALL | METH_KEYWORDS, doc}

static PyMethodDef level_defs[5] = {
    DEF(debug, "Log *msg* % *args* at DEBUG (RunLogger.debug, in C)."),
    DEF(info, "Log *msg* % *args* at INFO (RunLogger.info, in C)."),
    DEF(warning, "Log *msg* % *args* at WARNING (RunLogger.warning, in C)."),
    DEF(error, "Log *msg* % *args* at ERROR (RunLogger.error, in C)."),
    DEF(critical, "Log *msg* % *args* at CRITICAL (RunLogger.critical, in C)."),
};

/* -- configuration ----------------------------------------------------------------------- */

#define TAKE(field, key)                                                                  \
    if ((C.field = spec_item(spec, key, "configure_calls")) == NULL) return NULL;

/* configure_calls(spec) -> {"debug": method, ...} for RunLogger, or False (another
 * interpreter configured it). */
static PyObject *
configure_calls(PyObject *module, PyObject *spec)
{
    int go = configure_once(C.interp, spec, "configure_calls");
    if (go <= 0) {
        return go < 0 ? NULL : Py_NewRef(Py_False);
    }
    if (intern_names() < 0) {
        return NULL;
    }
    PyObject *cls = PyDict_GetItemString(spec, "RunLogger");
    if (cls == NULL || !PyType_Check(cls)) {
        PyErr_SetString(PyExc_TypeError, "configure_calls: RunLogger must be a class");
        return NULL;
    }
    TAKE(log_call, "_log_call")
    TAKE(is_enabled, "Logger.isEnabledFor")
    TAKE(call_handlers, "Logger.callHandlers")
    TAKE(logging_dict, "vars(logging)")
    TAKE(record_cls, "LogRecord")
    TAKE(route_attr, "ROUTE_ATTR")
    TAKE(find_caller, "find_caller")
    TAKE(is_library, "_is_library")
    TAKE(library_files, "_library_files")
    TAKE(lines, "_lines")
    if (!PyDict_Check(C.logging_dict) || !PyDict_Check(C.library_files) ||
        !PyDict_Check(C.lines)) {
        PyErr_SetString(PyExc_TypeError, "configure_calls: a value of the wrong type");
        return NULL;
    }
    static const char *const LEVELS[5] = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"};
    static const char *const PYTHON[5] = {"debug", "info", "warning", "error", "critical"};
    for (int i = 0; i < 5; i++) {
        if ((C.python[i] = spec_item(spec, PYTHON[i], "configure_calls")) == NULL) {
            return NULL;
        }
    }
    PyObject *methods = PyDict_New();
    if (methods == NULL) {
        return NULL;
    }
    for (int i = 0; i < 5; i++) {
        C.levels[i] = spec_item(spec, LEVELS[i], "configure_calls");
        PyObject *method = C.levels[i] == NULL || !PyLong_CheckExact(C.levels[i])
                               ? NULL
                               : PyDescr_NewMethod((PyTypeObject *)cls, &level_defs[i]);
        if (method == NULL || PyDict_SetItemString(methods, level_defs[i].ml_name, method) < 0) {
            if (!PyErr_Occurred()) {
                PyErr_SetString(PyExc_TypeError, "configure_calls: a level must be an int");
            }
            Py_XDECREF(method);
            Py_DECREF(methods);
            return NULL;
        }
        Py_DECREF(method);
    }
    C.interp = PyInterpreterState_Get();
    return methods;
}

PyMethodDef igny8_call_methods[] = {
    {"configure_calls", configure_calls, METH_O,
     "configure_calls(spec) -> RunLogger's debug ... critical in C, or False"},
    {NULL, NULL, 0, NULL},
};
