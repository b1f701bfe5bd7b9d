/* igny8_logging._speedups: the common case of a record's text line and trace line.
 *
 * Optional accelerator (see igny8_logging/_accel.py).  Each function writes the
 * exact bytes the Python code writes (igny8_logging/_format.py, _trace.py) for
 * the common case, and returns None for anything else, so the Python code stays
 * the one definition and handles every unusual case.  No Python code runs while
 * a line is built (exact str/int/float/bool/None only), so the borrowed
 * references read from the item list stay valid.
 */
#include "_speedups.h"
#include <math.h>
#include <stdint.h>
#include <string.h>

/* -- a growable byte buffer, on the stack while small ------------------------------ */

#define SMALL 1024

typedef struct {
    char *data;
    Py_ssize_t len;
    Py_ssize_t cap;
    char small[SMALL];
} Buf;

static void
buf_init(Buf *b)
{
    b->data = b->small;
    b->len = 0;
    b->cap = SMALL;
}

static void
buf_free(Buf *b)
{
    if (b->data != b->small) {
        PyMem_Free(b->data);
    }
}

/* Room for n more bytes; -1 (MemoryError set) when it cannot be had. */
static int
buf_grow(Buf *b, Py_ssize_t n)
{
    Py_ssize_t need = b->len + n;
    if (need <= b->cap) {
        return 0;
    }
    if (n > PY_SSIZE_T_MAX / 2 - b->len) {
        PyErr_NoMemory();
        return -1;
    }
    Py_ssize_t cap = b->cap * 2;
    if (cap < need) {
        cap = need;
    }
    char *data;
    if (b->data == b->small) {
        data = PyMem_Malloc((size_t)cap);
        if (data != NULL) {
            memcpy(data, b->small, (size_t)b->len);
        }
    }
    else {
        data = PyMem_Realloc(b->data, (size_t)cap);
    }
    if (data == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    b->data = data;
    b->cap = cap;
    return 0;
}

static int
buf_put(Buf *b, const char *s, Py_ssize_t n)
{
    if (buf_grow(b, n) < 0) {
        return -1;
    }
    memcpy(b->data + b->len, s, (size_t)n);
    b->len += n;
    return 0;
}

#define PUT_LIT(b, lit) buf_put((b), (lit), (Py_ssize_t)(sizeof(lit) - 1))

/* One code point (never a surrogate) as UTF-8; room for 4 bytes was made. */
static inline void
put_cp(Buf *b, Py_UCS4 ch)
{
    char *p = b->data + b->len;
    if (ch < 0x80) {
        p[0] = (char)ch;
        b->len += 1;
    }
    else if (ch < 0x800) {
        p[0] = (char)(0xc0 | (ch >> 6));
        p[1] = (char)(0x80 | (ch & 0x3f));
        b->len += 2;
    }
    else if (ch < 0x10000) {
        p[0] = (char)(0xe0 | (ch >> 12));
        p[1] = (char)(0x80 | ((ch >> 6) & 0x3f));
        p[2] = (char)(0x80 | (ch & 0x3f));
        b->len += 3;
    }
    else {
        p[0] = (char)(0xf0 | (ch >> 18));
        p[1] = (char)(0x80 | ((ch >> 12) & 0x3f));
        p[2] = (char)(0x80 | ((ch >> 6) & 0x3f));
        p[3] = (char)(0x80 | (ch & 0x3f));
        b->len += 4;
    }
}

#define IS_SURROGATE(ch) ((ch) >= 0xd800 && (ch) <= 0xdfff)

/* Functions below return 1 (written), 0 (not the common case: give None), -1 (error). */

/* *s* as UTF-8, as is: 0 when it holds a lone surrogate. */
static int
put_utf8(Buf *b, PyObject *s)
{
    Py_ssize_t n = PyUnicode_GET_LENGTH(s);
    if (PyUnicode_IS_ASCII(s)) {
        return buf_put(b, (const char *)PyUnicode_DATA(s), n) < 0 ? -1 : 1;
    }
    int kind = PyUnicode_KIND(s);
    const void *data = PyUnicode_DATA(s);
    if (buf_grow(b, n * 4) < 0) {
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 ch = PyUnicode_READ(kind, data, i);
        if (IS_SURROGATE(ch)) {
            return 0;
        }
        put_cp(b, ch);
    }
    return 1;
}

/* Flags a text value reports (what _pairs looks at). */
#define HAS_SPACE 1
#define HAS_QUOTE 2 /* '"' or '\\' */

/* *s* as UTF-8 when every code point is printable (str.isprintable), else 0;
 * *flags* gets HAS_SPACE / HAS_QUOTE. */
static int
put_printable(Buf *b, PyObject *s, int *flags)
{
    Py_ssize_t n = PyUnicode_GET_LENGTH(s);
    int seen = 0;
    if (PyUnicode_IS_ASCII(s)) {
        const unsigned char *p = (const unsigned char *)PyUnicode_DATA(s);
        for (Py_ssize_t i = 0; i < n; i++) {
            unsigned char c = p[i];
            if (c < 0x20 || c > 0x7e) {
                return 0;
            }
            if (c == ' ') {
                seen |= HAS_SPACE;
            }
            else if (c == '"' || c == '\\') {
                seen |= HAS_QUOTE;
            }
        }
        *flags = seen;
        return buf_put(b, (const char *)p, n) < 0 ? -1 : 1;
    }
    int kind = PyUnicode_KIND(s);
    const void *data = PyUnicode_DATA(s);
    if (buf_grow(b, n * 4) < 0) {
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 ch = PyUnicode_READ(kind, data, i);
        if (!Py_UNICODE_ISPRINTABLE(ch)) { /* surrogates are not printable */
            return 0;
        }
        if (ch == ' ') {
            seen |= HAS_SPACE;
        }
        else if (ch == '"' || ch == '\\') {
            seen |= HAS_QUOTE;
        }
        put_cp(b, ch);
    }
    *flags = seen;
    return 1;
}

/* The last floats' repr, by bit pattern: a record's text line and trace line show the
 * same values, and repr (the shortest round-tripping digits) is the costly part.
 * Only touched with the GIL held (the module does not claim a per-interpreter GIL). */
#define FLOAT_CACHE 8

static struct {
    uint64_t bits;
    unsigned char len; /* 0: empty */
    char text[31];     /* the longest repr of a double has 24 characters */
} float_cache[FLOAT_CACHE];

/* float.__repr__ of a finite float. */
static int
put_float(Buf *b, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    unsigned slot = (unsigned)((bits ^ (bits >> 29) ^ (bits >> 47)) % FLOAT_CACHE);
    if (float_cache[slot].len && float_cache[slot].bits == bits) {
        return buf_put(b, float_cache[slot].text, float_cache[slot].len) < 0 ? -1 : 1;
    }
    char *text = PyOS_double_to_string(v, 'r', 0, Py_DTSF_ADD_DOT_0, NULL);
    if (text == NULL) {
        return -1;
    }
    size_t n = strlen(text);
    if (n < sizeof float_cache[slot].text) {
        float_cache[slot].bits = bits;
        float_cache[slot].len = (unsigned char)n;
        memcpy(float_cache[slot].text, text, n);
    }
    int rc = buf_put(b, text, (Py_ssize_t)n) < 0 ? -1 : 1;
    PyMem_Free(text);
    return rc;
}

/* The decimal digits of *u*, after a '-' when *negative* (snprintf is several times slower). */
static int
put_digits(Buf *b, unsigned long long u, int negative)
{
    char text[24];
    char *end = text + sizeof text;
    char *p = end;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (negative) {
        *--p = '-';
    }
    return buf_put(b, p, end - p) < 0 ? -1 : 1;
}

static int
put_longlong(Buf *b, long long v)
{
    /* the magnitude of LLONG_MIN does not fit a long long: negate as unsigned */
    return v < 0 ? put_digits(b, 0ULL - (unsigned long long)v, 1) : put_digits(b, (unsigned long long)v, 0);
}

/* -- text_line --------------------------------------------------------------------- */

#define TEXT_INT_BOUND 1000000000000000000LL /* 10**18 */

/* One "key=value" of _pairs; *shown* grows by its length in code points. */
static int
put_pair(Buf *b, PyObject *key, PyObject *value, Py_ssize_t *shown)
{
    int flags = 0;
    int rc;
    if (!PyUnicode_CheckExact(key)) {
        return 0;
    }
    rc = put_printable(b, key, &flags);
    if (rc <= 0) {
        return rc;
    }
    if (PUT_LIT(b, "=") < 0) {
        return -1;
    }
    *shown += PyUnicode_GET_LENGTH(key) + 1;
    if (PyUnicode_CheckExact(value)) {
        Py_ssize_t start = b->len;
        Py_ssize_t n = PyUnicode_GET_LENGTH(value);
        rc = put_printable(b, value, &flags);
        if (rc <= 0) {
            return rc;
        }
        *shown += n;
        if (n && !(flags & HAS_SPACE)) {
            return 1; /* a bare word */
        }
        if (flags & HAS_QUOTE) {
            return 0; /* json.dumps territory */
        }
        if (buf_grow(b, 2) < 0) {
            return -1;
        }
        memmove(b->data + start + 1, b->data + start, (size_t)(b->len - start));
        b->data[start] = '"';
        b->len += 1;
        b->data[b->len++] = '"';
        *shown += 2;
        return 1;
    }
    Py_ssize_t start = b->len;
    if (PyLong_CheckExact(value)) {
        int overflow = 0;
        long long v = PyLong_AsLongLongAndOverflow(value, &overflow);
        if (overflow || v <= -TEXT_INT_BOUND || v >= TEXT_INT_BOUND) {
            return 0;
        }
        rc = put_longlong(b, v);
    }
    else if (PyFloat_CheckExact(value)) {
        double v = PyFloat_AS_DOUBLE(value);
        if (!isfinite(v)) {
            return 0;
        }
        rc = put_float(b, v);
    }
    else if (value == Py_None) {
        rc = PUT_LIT(b, "null") < 0 ? -1 : 1;
    }
    else if (value == Py_True) {
        rc = PUT_LIT(b, "true") < 0 ? -1 : 1;
    }
    else if (value == Py_False) {
        rc = PUT_LIT(b, "false") < 0 ? -1 : 1;
    }
    else {
        return 0;
    }
    *shown += b->len - start; /* ASCII: bytes are code points */
    return rc;
}

static PyObject *
finish(Buf *b, int rc)
{
    PyObject *result = NULL;
    if (rc > 0) {
        result = PyBytes_FromStringAndSize(b->data, b->len);
    }
    else if (rc == 0) {
        result = Py_NewRef(Py_None);
    }
    buf_free(b);
    return result;
}

PyObject *
igny8_text_line(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "text_line() takes 5 arguments");
        return NULL;
    }
    PyObject *ts = args[0], *head = args[1], *message = args[2], *items = args[3];
    Py_ssize_t short_ = PyLong_AsSsize_t(args[4]);
    if (short_ == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (!PyUnicode_CheckExact(ts) || !PyUnicode_CheckExact(head) ||
        !PyUnicode_CheckExact(message) || PyUnicode_GET_LENGTH(message) > short_) {
        Py_RETURN_NONE;
    }
    if (items != Py_None && !PyList_CheckExact(items)) {
        Py_RETURN_NONE;
    }
    Buf b;
    buf_init(&b);
    int flags;
    int rc = put_utf8(&b, ts);
    if (rc > 0) {
        rc = put_utf8(&b, head);
    }
    if (rc > 0) {
        rc = put_printable(&b, message, &flags);
    }
    if (rc > 0 && items != Py_None) {
        Py_ssize_t shown = 0;
        Py_ssize_t n = PyList_GET_SIZE(items);
        rc = PUT_LIT(&b, " ") < 0 ? -1 : 1;
        for (Py_ssize_t i = 0; i < n && rc > 0; i++) {
            PyObject *item = PyList_GET_ITEM(items, i);
            if (!PyTuple_CheckExact(item) || PyTuple_GET_SIZE(item) != 2) {
                rc = 0;
                break;
            }
            if (i && PUT_LIT(&b, " ") < 0) {
                rc = -1;
                break;
            }
            shown += i ? 1 : 0;
            rc = put_pair(&b, PyTuple_GET_ITEM(item, 0), PyTuple_GET_ITEM(item, 1), &shown);
        }
        if (rc > 0 && shown > short_) {
            rc = 0; /* the Python code may cut it */
        }
    }
    if (rc > 0) {
        rc = PUT_LIT(&b, "\n") < 0 ? -1 : 1;
    }
    return finish(&b, rc);
}

/* -- trace_line -------------------------------------------------------------------- */

static const char HEX[] = "0123456789abcdef";

/* The JSON escape of '"', '\\' or a control character (< 0x20), at *p*; returns its end. */
static inline char *
put_escape(char *p, Py_UCS4 ch)
{
    *p++ = '\\';
    switch (ch) {
    case '"': *p++ = '"'; break;
    case '\\': *p++ = '\\'; break;
    case '\n': *p++ = 'n'; break;
    case '\r': *p++ = 'r'; break;
    case '\t': *p++ = 't'; break;
    case '\b': *p++ = 'b'; break;
    case '\f': *p++ = 'f'; break;
    default:
        *p++ = 'u';
        *p++ = '0';
        *p++ = '0';
        *p++ = HEX[(ch >> 4) & 0xf];
        *p++ = HEX[ch & 0xf];
    }
    return p;
}

/* *s* as a JSON string (json.dumps(ensure_ascii=False)); 0 on a lone surrogate. */
static int
put_json_str(Buf *b, PyObject *s)
{
    Py_ssize_t n = PyUnicode_GET_LENGTH(s);
    /* at most 6 bytes per code point (\u00XX), plus the quotes */
    if (n > (PY_SSIZE_T_MAX - 2) / 6 || buf_grow(b, n * 6 + 2) < 0) {
        if (!PyErr_Occurred()) {
            PyErr_NoMemory();
        }
        return -1;
    }
    char *p = b->data + b->len;
    *p++ = '"';
    int kind = PyUnicode_KIND(s);
    const void *data = PyUnicode_DATA(s);
    Py_ssize_t i = 0;
    if (PyUnicode_IS_ASCII(s)) {
        /* runs of characters written as they are, copied at once */
        const unsigned char *text = (const unsigned char *)data;
        while (i < n) {
            Py_ssize_t start = i;
            while (i < n && text[i] >= 0x20 && text[i] != '"' && text[i] != '\\') {
                i++;
            }
            memcpy(p, text + start, (size_t)(i - start));
            p += i - start;
            if (i == n) {
                break;
            }
            p = put_escape(p, text[i++]);
        }
        *p++ = '"';
        b->len = p - b->data;
        return 1;
    }
    for (; i < n; i++) {
        Py_UCS4 ch = PyUnicode_READ(kind, data, i);
        if (ch >= 0x20 && ch != '"' && ch != '\\') {
            if (ch < 0x80) {
                *p++ = (char)ch;
                continue;
            }
            if (IS_SURROGATE(ch)) {
                return 0;
            }
            b->len = p - b->data;
            put_cp(b, ch);
            p = b->data + b->len;
            continue;
        }
        p = put_escape(p, ch);
    }
    *p++ = '"';
    b->len = p - b->data;
    return 1;
}

/* A plain JSON value as both backends write it; strings longer than *limit*
 * code points (limit >= 0) are not the common case. */
static int
put_json_value(Buf *b, PyObject *value, Py_ssize_t limit)
{
    if (PyUnicode_CheckExact(value)) {
        if (limit >= 0 && PyUnicode_GET_LENGTH(value) > limit) {
            return 0;
        }
        return put_json_str(b, value);
    }
    if (PyLong_CheckExact(value)) {
        int overflow = 0;
        long long v = PyLong_AsLongLongAndOverflow(value, &overflow);
        if (overflow == 0) {
            if (v == -1 && PyErr_Occurred()) {
                return -1;
            }
            return put_longlong(b, v);
        }
        if (overflow < 0) {
            return 0; /* below -(2**63) */
        }
        unsigned long long u = PyLong_AsUnsignedLongLong(value);
        if (u == (unsigned long long)-1 && PyErr_Occurred()) {
            if (!PyErr_ExceptionMatches(PyExc_OverflowError)) {
                return -1;
            }
            PyErr_Clear();
            return 0; /* 2**64 or more */
        }
        return put_digits(b, u, 0);
    }
    if (PyFloat_CheckExact(value)) {
        double v = PyFloat_AS_DOUBLE(value);
        if (!isfinite(v) || !(v >= 1e-4 || v <= -1e-4 || v == 0.0)) {
            return 0; /* refused by allow_nan=False; or written otherwise by orjson */
        }
        return put_float(b, v);
    }
    if (value == Py_None) {
        return PUT_LIT(b, "null") < 0 ? -1 : 1;
    }
    if (value == Py_True) {
        return PUT_LIT(b, "true") < 0 ? -1 : 1;
    }
    if (value == Py_False) {
        return PUT_LIT(b, "false") < 0 ? -1 : 1;
    }
    return 0;
}

static const char *const COMMON_KEYS[] = {
    "{\"ts\":",       ",\"event\":",   ",\"level\":", ",\"run_id\":",
    ",\"account_id\":", ",\"site_id\":", ",\"stage\":", ",\"message\":",
};

PyObject *
igny8_trace_line(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 11) {
        PyErr_SetString(PyExc_TypeError, "trace_line() takes 11 arguments");
        return NULL;
    }
    PyObject *items = args[8];
    Py_ssize_t short_ = PyLong_AsSsize_t(args[9]);
    if (short_ == -1 && PyErr_Occurred()) {
        return NULL;
    }
    Py_ssize_t max_line = PyLong_AsSsize_t(args[10]);
    if (max_line == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (short_ < 0 || (items != Py_None && !PyList_CheckExact(items))) {
        Py_RETURN_NONE;
    }
    Buf b;
    buf_init(&b);
    int rc = 1;
    for (int i = 0; i < 8 && rc > 0; i++) {
        const char *key = COMMON_KEYS[i];
        if (buf_put(&b, key, (Py_ssize_t)strlen(key)) < 0) {
            rc = -1;
            break;
        }
        /* the message is cut past short_; the ids and names never are */
        rc = put_json_value(&b, args[i], i == 7 ? short_ : -1);
    }
    Py_ssize_t n = items == Py_None ? 0 : PyList_GET_SIZE(items);
    for (Py_ssize_t i = 0; i < n && rc > 0; i++) {
        PyObject *item = PyList_GET_ITEM(items, i);
        if (!PyTuple_CheckExact(item) || PyTuple_GET_SIZE(item) != 2 ||
            !PyUnicode_CheckExact(PyTuple_GET_ITEM(item, 0))) {
            rc = 0;
            break;
        }
        if (PUT_LIT(&b, ",") < 0) {
            rc = -1;
            break;
        }
        rc = put_json_str(&b, PyTuple_GET_ITEM(item, 0));
        if (rc > 0) {
            rc = PUT_LIT(&b, ":") < 0 ? -1 : 1;
        }
        if (rc > 0) {
            rc = put_json_value(&b, PyTuple_GET_ITEM(item, 1), short_);
        }
        if (rc > 0 && b.len > max_line) {
            rc = 0; /* re-encoded with shortened fields by the Python code */
        }
    }
    if (rc > 0) {
        rc = PUT_LIT(&b, "}\n") < 0 ? -1 : 1;
    }
    if (rc > 0 && b.len > max_line) {
        rc = 0;
    }
    return finish(&b, rc);
}

/* -- module ------------------------------------------------------------------------ */

static PyMethodDef methods[] = {
    {"text_line", (PyCFunction)(void (*)(void))igny8_text_line, METH_FASTCALL,
     "text_line(ts, head, message, items, short) -> bytes | None\n\n"
     "The text line (ts + head + body + newline, UTF-8) for the common case, else None."},
    {"trace_line", (PyCFunction)(void (*)(void))igny8_trace_line, METH_FASTCALL,
     "trace_line(ts, event, level, run_id, account_id, site_id, stage, message, items,\n"
     "           short, max_line) -> bytes | None\n\n"
     "The trace line (JSON object + newline) for the common case, else None."},
    {NULL, NULL, 0, NULL},
};

/* The record, routing and poll functions, and the handlers' handles: _speedups.h. */
static int
module_exec(PyObject *module)
{
    if (PyModule_AddFunctions(module, igny8_record_methods) < 0 ||
        PyModule_AddFunctions(module, igny8_handler_methods) < 0 ||
        PyModule_AddFunctions(module, igny8_redis_methods) < 0) {
        return -1;
    }
    return PyModule_AddFunctions(module, igny8_call_methods);
}

static PyModuleDef_Slot slots[] = {
    {Py_mod_exec, module_exec},
#if PY_VERSION_HEX >= 0x030C0000
    /* the float cache is process-wide: one GIL for the interpreters that import it */
    {Py_mod_multiple_interpreters, Py_MOD_MULTIPLE_INTERPRETERS_SUPPORTED},
#endif
#if PY_VERSION_HEX >= 0x030D0000
    {Py_mod_gil, Py_MOD_GIL_USED},
#endif
    {0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "igny8_logging._speedups",
    .m_doc = "Optional C accelerator of the text and trace lines' common case.",
    .m_size = 0,
    .m_methods = methods,
    .m_slots = slots,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModuleDef_Init(&module_def);
}
