/* igny8_logging._speedups: what its five parts share. */
#ifndef IGNY8_SPEEDUPS_H
#define IGNY8_SPEEDUPS_H
#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* _speedups.c: text_line and trace_line (METH_FASTCALL). */
PyObject *igny8_text_line(PyObject *module, PyObject *const *args, Py_ssize_t nargs);
PyObject *igny8_trace_line(PyObject *module, PyObject *const *args, Py_ssize_t nargs);

/* _speedups_records.c: route_fast (METH_O), build_record and plan_attrs (METH_FASTCALL),
 * and the record, routing and poll functions. */
PyObject *igny8_route_fast(PyObject *module, PyObject *record_dict);
PyObject *igny8_build_record(PyObject *module, PyObject *const *args, Py_ssize_t nargs);
PyObject *igny8_plan_attrs(PyObject *module, PyObject *const *args, Py_ssize_t nargs);
extern PyMethodDef igny8_record_methods[];

/* _speedups_handlers.c: configure_handlers, which makes BaseRunHandler.handle. */
extern PyMethodDef igny8_handler_methods[];

/* _speedups_redis.c: configure_redis, which makes RedisStreamHandler.handle. */
extern PyMethodDef igny8_redis_methods[];

/* _speedups_calls.c: configure_calls, which makes RunLogger's logging methods. */
extern PyMethodDef igny8_call_methods[];

/* -- what the parts share ------------------------------------------------------------- */

/* Whether this interpreter is the one that configured a part (*interp*). */
static inline int
mine(PyInterpreterState *interp)
{
    return interp != NULL && interp == PyInterpreterState_Get();
}

/* The start of a configure_*(spec) of a part configured by *interp* (NULL: not yet):
 * 1 go on, 0 another interpreter configured it (the caller returns False), -1 error
 * (not a dict, or configured already by this interpreter). */
static inline int
configure_once(PyInterpreterState *interp, PyObject *spec, const char *who)
{
    if (!PyDict_Check(spec)) {
        PyErr_Format(PyExc_TypeError, "%s takes a dict", who);
        return -1;
    }
    if (interp != NULL) {
        if (interp != PyInterpreterState_Get()) {
            return 0;
        }
        PyErr_Format(PyExc_RuntimeError, "%s: configured already", who);
        return -1;
    }
    return 1;
}

/* The exception being raised, taken (a new reference). */
static inline PyObject *
take_exception(void)
{
#if PY_VERSION_HEX >= 0x030C0000
    return PyErr_GetRaisedException();
#else
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (tb != NULL && value != NULL) {
        PyException_SetTraceback(value, tb);
    }
    Py_XDECREF(type);
    Py_XDECREF(tb);
    return value;
#endif
}

/* obj.name into *out (a new reference): the instance dict first.  Only ever asked of
 * the library's own objects for names no class of theirs defines as a data descriptor
 * (a property, a slot), so the dict holds what getattr would find; else getattr. */
static inline int
get(PyObject *obj, PyObject *name, PyObject **out)
{
    PyObject **dictptr = _PyObject_GetDictPtr(obj);
    if (dictptr != NULL && *dictptr != NULL) {
        PyObject *value = PyDict_GetItemWithError(*dictptr, name);
        if (value != NULL) {
            *out = Py_NewRef(value);
            return 1;
        }
        if (PyErr_Occurred()) {
            *out = NULL;
            return -1;
        }
    }
    *out = PyObject_GetAttr(obj, name);
    return *out == NULL ? -1 : 1;
}

/* obj.name = value, in the instance dict when it has one (as get: the library's own
 * objects, names no class of theirs defines as a data descriptor). */
static inline int
set(PyObject *obj, PyObject *name, PyObject *value)
{
    PyObject **dictptr = _PyObject_GetDictPtr(obj);
    if (dictptr != NULL && *dictptr != NULL && PyDict_CheckExact(*dictptr)) {
        return PyDict_SetItem(*dictptr, name, value);
    }
    return PyObject_SetAttr(obj, name, value);
}

/* What a C handle returns for its emit's *rc*: 0 done (True), 1 the Python handle
 * *python*(self, record) instead, -1 an error: emit's `except Exception`, that is
 * *report*(self, record, exc) (handler.handleError), anything else propagated. */
static inline PyObject *
handled(int rc, PyObject *python, PyObject *report, PyObject *self, PyObject *record)
{
    if (rc > 0) {
        PyObject *args[2] = {self, record};
        return PyObject_Vectorcall(python, args, 2, NULL);
    }
    if (rc < 0) {
        if (!PyErr_ExceptionMatches(PyExc_Exception)) {
            return NULL;
        }
        PyObject *exc = take_exception();
        PyObject *args[3] = {self, record, exc};
        PyObject *done = PyObject_Vectorcall(report, args, 3, NULL);
        Py_DECREF(exc);
        if (done == NULL) {
            return NULL;
        }
        Py_DECREF(done);
    }
    Py_RETURN_TRUE;
}

/* Whether *self* has no filter and no formatter (its stock set-up): 1, 0, -1 error. */
static inline int
unfiltered_unformatted(PyObject *self, PyObject *filters, PyObject *formatter)
{
    PyObject *value;
    if (get(self, filters, &value) < 0) {
        return -1;
    }
    int ok = PyList_CheckExact(value) && PyList_GET_SIZE(value) == 0;
    Py_DECREF(value);
    if (!ok) {
        return 0;
    }
    if (get(self, formatter, &value) < 0) {
        return -1;
    }
    ok = value == Py_None;
    Py_DECREF(value);
    return ok;
}

/* spec[key] (a new reference) for *who*'s configuration; NULL with a KeyError. */
static inline PyObject *
spec_item(PyObject *spec, const char *key, const char *who)
{
    PyObject *value = PyDict_GetItemString(spec, key);
    if (value == NULL) {
        PyErr_Format(PyExc_KeyError, "%s: %s missing", who, key);
        return NULL;
    }
    return Py_NewRef(value);
}

#endif
