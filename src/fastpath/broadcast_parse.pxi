# Part of src/_fastpath.pyx, which includes it: parse_broadcast, Broadcast
# construction and timestamp decoding.

# ``Broadcast(uid, nsp, data, rooms, except_rooms, flags)`` without running
# the dataclass's __init__, which only assigns the six slots; any other shape
# of the class (a __post_init__, other fields, no slots) calls the class.
cdef Py_ssize_t _BROADCAST_SLOTS[6]
cdef bint _broadcast_by_slots = False


cdef int _init_broadcast_slots() except -1:
    global _broadcast_by_slots
    cdef Py_ssize_t i
    names = ("uid", "nsp", "data", "rooms", "except_rooms", "flags")
    if (_Broadcast.__new__ is not object.__new__
            or type(_Broadcast).__call__ is not type.__call__
            or hasattr(_Broadcast, "__post_init__")
            or tuple(_Broadcast.__dataclass_fields__) != names
            or _Broadcast.__init__.__qualname__ != "Broadcast.__init__"):
        return 0
    for i in range(6):
        _BROADCAST_SLOTS[i] = _srx_slot_offset(_Broadcast.__dict__[names[i]])
        if _BROADCAST_SLOTS[i] < 0:
            return 0
    _broadcast_by_slots = True
    return 0


_init_broadcast_slots()


cdef object _new_broadcast(object uid, object nsp, object data, object rooms,
                           object except_rooms, object flags):
    cdef PyObject *values[6]
    if not _broadcast_by_slots:
        return _Broadcast(uid, nsp, data, rooms, except_rooms, flags)
    values[0] = <PyObject *>uid
    values[1] = <PyObject *>nsp
    values[2] = <PyObject *>data
    values[3] = <PyObject *>rooms
    values[4] = <PyObject *>except_rooms
    values[5] = <PyObject *>flags
    return _srx_new_with_slots(<type>_Broadcast, _BROADCAST_SLOTS, values, 6)


# the MessagePack timestamps that decode to a datetime (years 1 to 9999)
cdef int64_t _MIN_MICROS = -62135596800 * <int64_t>1000000
cdef int64_t _MAX_MICROS = 253402300800 * <int64_t>1000000 - 1


cdef inline uint64_t _load32(const unsigned char *data) noexcept:
    return ((<uint64_t>data[0] << 24) | (<uint64_t>data[1] << 16)
            | (<uint64_t>data[2] << 8) | <uint64_t>data[3])


cdef object _utc_datetime(int64_t micros):
    """The aware UTC datetime ``micros`` microseconds after 1970-01-01."""
    cdef int64_t days = _floor_div(micros, 86400 * <int64_t>1000000)
    cdef int64_t rest = micros - days * 86400 * <int64_t>1000000
    cdef int64_t n, n400, n100, n4, n1, year, month, preceding
    cdef bint leap
    # CPython's ord_to_ymd
    n = days + _EPOCH_ORDINAL - 1
    n400 = n // 146097
    n = n % 146097
    year = n400 * 400 + 1
    n100 = n // 36524
    n = n % 36524
    n4 = n // 1461
    n = n % 1461
    n1 = n // 365
    n = n % 365
    year += n100 * 100 + n4 * 4 + n1
    if n1 == 4 or n100 == 4:
        year -= 1
        month = 12
        n = 30
    else:
        leap = n1 == 3 and (n4 != 24 or n100 == 3)
        month = (n + 50) >> 5
        preceding = _DAYS_BEFORE_MONTH[month] + (1 if month > 2 and leap else 0)
        if preceding > n:
            month -= 1
            preceding = _DAYS_BEFORE_MONTH[month] + (1 if month > 2 and leap else 0)
        n -= preceding
    return datetime_new(
        <int>year, <int>month, <int>(n + 1),
        <int>(rest // 3600000000), <int>(rest // 60000000 % 60),
        <int>(rest // 1000000 % 60), <int>(rest % 1000000), _UTC,
    )


cdef object _timestamp(const unsigned char *raw, Py_ssize_t size):
    """The datetime of the timestamp (ext -1) body at ``raw``; ``_MISSING``
    for a body of another size or a date out of range (years 1 to 9999)."""
    cdef int64_t seconds, nanos, micros
    cdef uint64_t packed
    if size == 4:
        seconds = <int64_t>_load32(raw)
        nanos = 0
    elif size == 8:
        packed = (_load32(raw) << 32) | _load32(raw + 4)
        seconds = <int64_t>(packed & 0x3FFFFFFFF)
        nanos = <int64_t>(packed >> 34)
    elif size == 12:
        nanos = <int64_t>_load32(raw)
        seconds = <int64_t>((_load32(raw + 4) << 32) | _load32(raw + 8))
    else:
        return _MISSING
    if -62135596800 - 10 <= seconds <= 253402300800 + 10:
        micros = seconds * 1000000 + nanos // 1000
        if _MIN_MICROS <= micros <= _MAX_MICROS:
            return _utc_datetime(micros)
    return _MISSING


def _ext_hook(code, data):
    """``notepack._ext_hook``, timestamps (ext -1) decoded in C."""
    if type(code) is int and code == -1 and type(data) is bytes:
        value = _timestamp(<const unsigned char *>PyBytes_AS_STRING(data),
                           PyBytes_GET_SIZE(data))
        if value is not _MISSING:
            return value
    # other extensions, bad sizes (its ValueError) and dates out of range
    # (its OverflowError)
    return _py_ext_hook(code, data)


cdef object _c_ext_hook = _ext_hook


cdef inline bint _is_room(object room) noexcept:
    return (PyUnicode_Check(room) or PyLong_Check(room) or PyFloat_Check(room)) \
        and not PyBool_Check(room)


cdef object _parse_rooms(object rooms, str what):
    """``protocol.rooms.parse_rooms``; None when ``rooms`` is a list or tuple subclass."""
    cdef type kind = type(rooms)
    cdef Py_ssize_t i
    if rooms is None:
        return []
    if kind is list:
        for i in range(PyList_GET_SIZE(rooms)):
            if not _is_room(<object>PyList_GET_ITEM(rooms, i)):
                break
        else:
            return PyList_GetSlice(rooms, 0, PyList_GET_SIZE(rooms))
    elif kind is tuple:
        for i in range(PyTuple_GET_SIZE(rooms)):
            if not _is_room(<object>PyTuple_GET_ITEM(rooms, i)):
                break
        else:
            return list(rooms)
    elif isinstance(rooms, (list, tuple)):
        return None  # its own iteration: protocol.rooms.parse_rooms does it
    raise _MalformedMessage(f"opts.{what} is not a list of room names")


cdef inline object _get(dict mapping, str key, object default):
    cdef PyObject *found = PyDict_GetItemWithError(mapping, key)
    if found == NULL:
        if PyErr_Occurred():
            raise
        return default
    return <object>found


cdef object _parse(object value):
    """``protocol.broadcast.parse_broadcast`` (which gets any container subclass)."""
    cdef type kind = type(value)
    cdef Py_ssize_t size
    if kind is list:
        size = PyList_GET_SIZE(value)
    elif kind is tuple:
        size = PyTuple_GET_SIZE(value)
    elif isinstance(value, (list, tuple)):
        return _py_parse_broadcast(value)
    else:
        size = -1
    if size < 3:
        raise _MalformedMessage("a broadcast is not a [uid, packet, opts] array")
    uid = value[0]
    packet = value[1]
    opts = value[2]
    if type(packet) is not dict:
        if isinstance(packet, dict):
            return _py_parse_broadcast(value)
        raise _MalformedMessage("packet is not a map")
    kind_value = _get(<dict>packet, "type", _DEFAULT_TYPE)
    if not PySequence_Contains(_EVENT_TYPES, kind_value):
        raise _MalformedMessage(
            f"packet type {_get(<dict>packet, 'type', None)!r} is not an event"
        )
    data = _get(<dict>packet, "data", None)
    if type(data) is not list:
        if isinstance(data, list):
            return _py_parse_broadcast(value)
        raise _MalformedMessage("packet.data is not [event, ...args]")
    if not PyList_GET_SIZE(data) or not PyUnicode_Check(<object>PyList_GET_ITEM(data, 0)):
        raise _MalformedMessage("packet.data is not [event, ...args]")
    nsp = _get(<dict>packet, "nsp", _ROOT_NSP)
    if nsp is None:
        nsp = _ROOT_NSP
    if not PyUnicode_Check(nsp):
        raise _MalformedMessage("packet.nsp is not a string")
    if opts is None:
        opts = {}
    elif type(opts) is not dict:
        if isinstance(opts, dict):
            return _py_parse_broadcast(value)
        raise _MalformedMessage("opts is not a map")
    flags = _get(<dict>opts, "flags", None)
    if flags is None:
        flags = {}
    elif not isinstance(flags, dict):
        raise _MalformedMessage("opts.flags is not a map")
    rooms = _parse_rooms(_get(<dict>opts, "rooms", None), "rooms")
    if rooms is None:
        return _py_parse_broadcast(value)
    except_rooms = _parse_rooms(_get(<dict>opts, "except", None), "except")
    if except_rooms is None:
        return _py_parse_broadcast(value)
    return _new_broadcast(uid, nsp, data, rooms, except_rooms, flags)


def parse_broadcast(value):
    """Validate a decoded ``[uid, packet, opts]`` broadcast message.

    Returns a :class:`Broadcast`: ``nsp`` defaults to ``"/"``, and missing
    ``rooms``, ``except`` and ``flags`` to empty ones.

    :param value: the message, as the parser decoded it.

    Raises ``MalformedMessage`` when it is not a broadcast of an event.
    """
    return _parse(value)
