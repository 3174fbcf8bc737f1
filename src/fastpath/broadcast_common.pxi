# Part of src/_fastpath.pyx, which includes it: what the broadcast codec parts
# share: cimports, imports, constants.

# ------------------------------------------------------- broadcast messages
#
# ``pack_broadcast`` writes the MessagePack bytes of ``[uid, packet, opts]``
# itself, byte for byte what ``notepack.packb(broadcast.broadcast_value(...))``
# writes: minimal headers (fixstr/str8/str16/str32, fixint and the smallest
# int, float64 for every float, bin for bytes-likes, timestamp ext -1 for
# ``datetime``, fixarray/array16/array32, fixmap/map16/map32), and map keys
# that are not strings written as the text JSON gives them.  Values of exact
# ``str``, ``int``, ``float``, ``bool``, ``None``, ``bytes``, ``bytearray``,
# ``memoryview``, ``list``, ``tuple``, ``dict`` and ``datetime`` (naive, or
# with a ``timezone`` or ``ZoneInfo``) are written here.  Anything else
# (subclasses, other types, ints beyond 64 bits, strings with lone
# surrogates, non-contiguous memoryviews, nesting deeper than packb allows,
# which also catches cycles) makes ``_pack_value`` give up, and the message
# is encoded again by ``notepack.packb``, which then decides: its bytes
# or its error.  Nothing here runs code of the caller's (``utcoffset`` is
# only called on the two C tzinfo types), so giving up midway has no visible
# effect.
#
# ``parse_broadcast`` validates in C what ``protocol.broadcast.parse_broadcast`` does in
# Python; exact ``list``/``tuple``/``dict`` containers are read here, and a
# subclass (whose methods Python would call) hands the whole value to
# ``protocol.broadcast.parse_broadcast``.

from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release
from cpython.datetime cimport (
    PyDateTime_CheckExact,
    PyDateTime_DATE_GET_HOUR,
    PyDateTime_DATE_GET_MICROSECOND,
    PyDateTime_DATE_GET_MINUTE,
    PyDateTime_DATE_GET_SECOND,
    PyDateTime_DATE_GET_TZINFO,
    PyDateTime_DELTA_GET_DAYS,
    PyDateTime_DELTA_GET_MICROSECONDS,
    PyDateTime_DELTA_GET_SECONDS,
    PyDateTime_GET_DAY,
    PyDateTime_GET_MONTH,
    PyDateTime_GET_YEAR,
    PyDelta_CheckExact,
    datetime_new,
    import_datetime,
)
from cpython.bool cimport PyBool_Check
from cpython.exc cimport PyErr_Occurred
from cpython.float cimport PyFloat_Check
from cpython.long cimport PyLong_Check
from cpython.dict cimport PyDict_GetItemWithError
from cpython.list cimport PyList_GET_ITEM, PyList_GET_SIZE, PyList_GetSlice
from cpython.sequence cimport PySequence_Contains
from cpython.tuple cimport PyTuple_GET_ITEM
from cpython.unicode cimport PyUnicode_Check
from libc.stdint cimport int64_t, uint64_t

import datetime as _datetime

from socketio_redis_adapter.protocol import broadcast as _broadcast
from socketio_redis_adapter.protocol import errors as _errors
from socketio_redis_adapter.protocol import notepack as _notepack

try:
    import zoneinfo as _zoneinfo
    _ZoneInfo = _zoneinfo.ZoneInfo
except ImportError:  # pragma: no cover - no tz database module
    _ZoneInfo = None

import_datetime()

cdef extern from "Python.h":
    # NULL with an exception set on failure (surrogates): checked by hand
    const char *PyUnicode_AsUTF8AndSize(object text, Py_ssize_t *size)
    # with the error left set (checked by hand), unlike cpython.* declares them
    unsigned long long _srx_as_unsigned "PyLong_AsUnsignedLongLong"(object value)
    int _srx_get_buffer "PyObject_GetBuffer"(object value, Py_buffer *view, int flags)
    object PyObject_Vectorcall(object callable, PyObject **args, size_t nargsf,
                               PyObject *kwnames)

cdef extern from *:
    """
    #include "structmember.h"

    /* The offset of a writable object slot (a member descriptor of __slots__),
       or -1 for any other attribute. */
    static Py_ssize_t _srx_slot_offset(PyObject *descr) {
        PyMemberDef *member;
        if (Py_TYPE(descr) != &PyMemberDescr_Type) return -1;
        member = ((PyMemberDescrObject *)descr)->d_member;
        if (member->type != 16 /* T_OBJECT_EX */ || (member->flags & 1 /* READONLY */))
            return -1;
        return member->offset;
    }

    /* A new instance of ``type`` with its slots at ``offsets`` set to
       ``values``: what a dataclass __init__ that only assigns them makes. */
    static PyObject *_srx_new_with_slots(PyTypeObject *type, const Py_ssize_t *offsets,
                                         PyObject *const *values, int count) {
        int i;
        PyObject *obj = type->tp_alloc(type, 0);
        if (obj == NULL) return NULL;
        for (i = 0; i < count; i++) {
            Py_INCREF(values[i]);
            *(PyObject **)((char *)obj + offsets[i]) = values[i];
        }
        return obj;
    }
    """
    Py_ssize_t _srx_slot_offset(object descr)
    object _srx_new_with_slots(type kind, const Py_ssize_t *offsets, PyObject **values,
                               int count)

cdef enum:
    # notepack._pack refuses a value deeper than this (the top is 0)
    _PACK_MAX_DEPTH = 512
    # bytes written on the stack before the buffer moves to the heap
    _PACK_STACK_SIZE = 1024

cdef object _packb = _notepack.packb
cdef object _unpackb = _notepack.ormsgpack_unpackb
cdef tuple _EXT_HOOK_KWNAMES = ("ext_hook",)
cdef object _Broadcast = _broadcast.Broadcast
cdef object _MalformedMessage = _errors.MalformedMessage
cdef object _py_parse_broadcast = _broadcast.parse_broadcast
cdef object _py_ext_hook = _notepack._ext_hook
cdef object _UTC = _datetime.timezone.utc
cdef type _Timezone = _datetime.timezone
cdef object _ZoneInfoType = _ZoneInfo
cdef tuple _EVENT_TYPES = (2, 5)
cdef object _DEFAULT_TYPE = 2
cdef str _ROOT_NSP = "/"
# days from 0001-01-01 (ordinal 1) to 1970-01-01
cdef int64_t _EPOCH_ORDINAL = 719163
cdef int _DAYS_BEFORE_MONTH[13]
_DAYS_BEFORE_MONTH[:] = [0, 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334]
