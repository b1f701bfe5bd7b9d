/* igny8_logging._speedups: what its three parts share. */
#ifndef IGNY8_SPEEDUPS_H
#define IGNY8_SPEEDUPS_H
#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* _speedups.c: text_line and trace_line (METH_FASTCALL). */
PyObject *igny8_text_line(PyObject *module, PyObject *const *args, Py_ssize_t nargs);
PyObject *igny8_trace_line(PyObject *module, PyObject *const *args, Py_ssize_t nargs);

/* _speedups_records.c: route_fast (METH_O), and the record, routing and poll functions. */
PyObject *igny8_route_fast(PyObject *module, PyObject *record_dict);
extern PyMethodDef igny8_record_methods[];

/* _speedups_handlers.c: configure_handlers, which makes BaseRunHandler.handle. */
extern PyMethodDef igny8_handler_methods[];

#endif
