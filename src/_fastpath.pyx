# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Compiled core of the adapter, built as ``socketio_redis_adapter._fastpath``.

This is the twin of ``socketio_redis_adapter._fastpath_py``: both modules
expose the same names, signatures and behaviour, and the test suite runs every
test against both.  Nothing here does I/O: these are the per-message and
per-recipient hot paths of the adapter.
"""

import asyncio as _asyncio
import functools as _functools
import json as _json
import sys as _sys
from collections import deque as _deque

from cpython.bytes cimport (
    PyBytes_AS_STRING,
    PyBytes_CheckExact,
    PyBytes_FromStringAndSize,
    PyBytes_GET_SIZE,
)
from cpython.dict cimport (
    PyDict_Contains,
    PyDict_DelItem,
    PyDict_GetItemWithError,
    PyDict_Next,
    PyDict_Size,
    PyDict_Update,
    PyDict_Values,
)
from cpython.object cimport PyObject
from cpython.tuple cimport PyTuple_GET_SIZE
from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.string cimport memchr, memcmp, memmove

cdef extern from "Python.h":
    # returns non-zero (1 on CPython 3.11) with RecursionError set
    int Py_EnterRecursiveCall(const char *where)
    void Py_LeaveRecursiveCall()
    PyObject **PySequence_Fast_ITEMS(object sequence)
    void _decref "Py_DECREF"(PyObject *item)

cdef extern from *:
    """
    /* Shorten a list in place, without touching the slots past the new end
       (their references have been moved or dropped by the caller). */
    static inline void _srafp_set_list_size(PyObject *list, Py_ssize_t size) {
        Py_SET_SIZE((PyVarObject *)list, size);
    }
    """
    void _set_list_size "_srafp_set_list_size"(list items, Py_ssize_t size)


cdef inline int _enter_recursive_call(const char *where) except -1:
    if Py_EnterRecursiveCall(where):
        return -1
    return 0

cdef object _MISSING = object()


# for the JSON and MessagePack writers (buffer, json_text, broadcast_pack)
from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE
from cpython.exc cimport PyErr_Clear
from cpython.long cimport PyLong_AsLongLongAndOverflow
from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_Realloc
from cpython.unicode cimport (
    PyUnicode_1BYTE_DATA,
    PyUnicode_DecodeASCII,
    PyUnicode_DATA,
    PyUnicode_GET_LENGTH,
    PyUnicode_KIND,
    PyUnicode_New,
    PyUnicode_READ,
)
from libc.math cimport isfinite, isnan
from libc.string cimport memcpy, memset

cdef extern from *:
    """
    #if PY_VERSION_HEX < 0x030C0000
    #define _srx_unicode_ready(o) PyUnicode_READY(o)
    #else
    #define _srx_unicode_ready(o) 0
    #endif
    """
    int _srx_unicode_ready(object o) except -1
    bint PyUnicode_IS_ASCII(object o)

cdef extern from "Python.h":
    char *PyOS_double_to_string(double val, char format_code, int precision,
                                int flags, int *type) except NULL
    int Py_DTSF_ADD_DOT_0


# The parts, one layer each, in src/fastpath/.  They are compiled as one
# module with this file, in this order: a part uses the names this file and
# the parts before it define.
include "fastpath/rooms.pxi"
include "fastpath/router.pxi"
include "fastpath/buffer.pxi"
include "fastpath/json_text.pxi"
include "fastpath/json_scan.pxi"
include "fastpath/direct.pxi"
include "fastpath/delivery.pxi"
include "fastpath/resp_push.pxi"
include "fastpath/broadcast_common.pxi"
include "fastpath/broadcast_pack.pxi"
include "fastpath/broadcast_parse.pxi"
include "fastpath/broadcast_read.pxi"
include "fastpath/broadcast_unpack.pxi"
