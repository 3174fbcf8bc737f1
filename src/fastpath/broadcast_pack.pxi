# Part of src/_fastpath.pyx, which includes it: pack_broadcast and the
# MessagePack writer behind it.

cdef inline void _store16(char *out, unsigned int value) noexcept:
    out[0] = <char>(value >> 8)
    out[1] = <char>value


cdef inline void _store32(char *out, uint64_t value) noexcept:
    out[0] = <char>(value >> 24)
    out[1] = <char>(value >> 16)
    out[2] = <char>(value >> 8)
    out[3] = <char>value


cdef inline void _store64(char *out, uint64_t value) noexcept:
    _store32(out, value >> 32)
    _store32(out + 4, value & 0xFFFFFFFF)


cdef inline int _pack_byte(_Writer *w, unsigned char byte) except -1:
    _reserve(w, 1)
    w.data[w.size] = <char>byte
    w.size += 1
    return 0


cdef inline int _pack_head(_Writer *w, size_t size, unsigned char fix, size_t fix_limit,
                    unsigned char code8, unsigned char code16) except -1:
    """A str/bin/array/map header: ``fix | size``, or a 1-, 2- or 4-byte size.

    ``fix_limit`` 0 means no fix form; ``code8`` 0 means no 1-byte form.
    Returns 1 (give up) for sizes of 2**32 and more.
    """
    cdef char *out
    _reserve(w, 5)
    out = w.data + w.size
    if size < fix_limit:
        out[0] = <char>(fix | size)
        w.size += 1
    elif code8 and size < 0x100:
        out[0] = <char>code8
        out[1] = <char>size
        w.size += 2
    elif size < 0x10000:
        out[0] = <char>code16
        _store16(out + 1, <unsigned int>size)
        w.size += 3
    elif size <= 0xFFFFFFFF:
        out[0] = <char>(code16 + 1)  # the 4-byte form follows the 2-byte one
        _store32(out + 1, size)
        w.size += 5
    else:
        return 1
    return 0


cdef inline int _pack_utf8(_Writer *w, const char *data, Py_ssize_t size) except -1:
    if _pack_head(w, <size_t>size, 0xA0, 32, 0xD9, 0xDA):
        return 1
    return _put(w, data, size)


cdef inline int _pack_str(_Writer *w, object text) except -1:
    """An exact ``str``; 1 (give up) if it does not encode to UTF-8."""
    cdef Py_ssize_t size
    cdef const char *data
    _srx_unicode_ready(text)
    if PyUnicode_IS_ASCII(text):
        return _pack_utf8(w, <const char *>PyUnicode_1BYTE_DATA(text),
                          PyUnicode_GET_LENGTH(text))
    data = PyUnicode_AsUTF8AndSize(text, &size)
    if data == NULL:
        PyErr_Clear()  # lone surrogates: packb writes them its own way
        return 1
    return _pack_utf8(w, data, size)


cdef int _pack_int(_Writer *w, object value) except -1:
    """An exact ``int``; 1 (give up) beyond the 64-bit range."""
    cdef int overflow = 0
    cdef long long small = PyLong_AsLongLongAndOverflow(value, &overflow)
    cdef unsigned long long big
    cdef char *out
    if overflow < 0:
        return 1
    if overflow > 0:
        big = _srx_as_unsigned(value)
        if big == <unsigned long long>-1 and PyErr_Occurred():
            PyErr_Clear()
            return 1
        _reserve(w, 9)
        out = w.data + w.size
        out[0] = <char>0xCF
        _store64(out + 1, big)
        w.size += 9
        return 0
    _reserve(w, 9)
    out = w.data + w.size
    if small >= 0:
        if small < 0x80:
            out[0] = <char>small
            w.size += 1
        elif small < 0x100:
            out[0] = <char>0xCC
            out[1] = <char>small
            w.size += 2
        elif small < 0x10000:
            out[0] = <char>0xCD
            _store16(out + 1, <unsigned int>small)
            w.size += 3
        elif small < 0x100000000:
            out[0] = <char>0xCE
            _store32(out + 1, <uint64_t>small)
            w.size += 5
        else:
            out[0] = <char>0xCF
            _store64(out + 1, <uint64_t>small)
            w.size += 9
    elif small >= -0x20:
        out[0] = <char>small
        w.size += 1
    elif small >= -0x80:
        out[0] = <char>0xD0
        out[1] = <char>small
        w.size += 2
    elif small >= -0x8000:
        out[0] = <char>0xD1
        _store16(out + 1, <unsigned int>(small & 0xFFFF))
        w.size += 3
    elif small >= -0x80000000:
        out[0] = <char>0xD2
        _store32(out + 1, <uint64_t>small & 0xFFFFFFFF)
        w.size += 5
    else:
        out[0] = <char>0xD3
        _store64(out + 1, <uint64_t>small)
        w.size += 9
    return 0


cdef int _pack_float(_Writer *w, double value) except -1:
    cdef uint64_t bits
    memcpy(&bits, &value, 8)
    _reserve(w, 9)
    w.data[w.size] = <char>0xCB
    _store64(w.data + w.size + 1, bits)
    w.size += 9
    return 0


cdef inline int _pack_bin(_Writer *w, const char *data, Py_ssize_t size) except -1:
    if _pack_head(w, <size_t>size, 0, 0, 0xC4, 0xC5):
        return 1
    return _put(w, data, size)


cdef int _pack_memoryview(_Writer *w, object view) except -1:
    """``bytes(view)`` as bin; 1 (give up) unless it is C-contiguous."""
    cdef Py_buffer buffer
    cdef int result
    if _srx_get_buffer(view, &buffer, PyBUF_SIMPLE) < 0:
        PyErr_Clear()
        return 1
    try:
        result = _pack_bin(w, <const char *>buffer.buf, buffer.len)
    finally:
        PyBuffer_Release(&buffer)
    return result


cdef inline int64_t _floor_div(int64_t a, int64_t b) noexcept:
    cdef int64_t q = a // b
    if (a % b != 0) and ((a < 0) != (b < 0)):
        q -= 1
    return q


cdef int _pack_datetime(_Writer *w, object value) except -1:
    """A ``datetime`` as timestamp ext -1 (naive means UTC); 1 to give up."""
    cdef PyObject *tzinfo = PyDateTime_DATE_GET_TZINFO(value)
    cdef int64_t year, month, days, micros, seconds, nanos
    cdef char *out
    year = PyDateTime_GET_YEAR(value)
    month = PyDateTime_GET_MONTH(value)
    days = ((year - 1) * 365 + (year - 1) // 4 - (year - 1) // 100 + (year - 1) // 400
            + _DAYS_BEFORE_MONTH[month] + PyDateTime_GET_DAY(value) - _EPOCH_ORDINAL)
    if month > 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
        days += 1
    micros = (days * 86400
              + PyDateTime_DATE_GET_HOUR(value) * 3600
              + PyDateTime_DATE_GET_MINUTE(value) * 60
              + PyDateTime_DATE_GET_SECOND(value)) * 1000000 \
        + PyDateTime_DATE_GET_MICROSECOND(value)
    if tzinfo != NULL and <object>tzinfo is not None and <object>tzinfo is not _UTC:
        zone = <object>tzinfo
        if type(zone) is not _Timezone and (
                _ZoneInfoType is None or type(zone) is not _ZoneInfoType):
            return 1  # a tzinfo of the caller's: its utcoffset is Python code
        offset = value.utcoffset()
        if not PyDelta_CheckExact(offset):
            return 1
        micros -= (<int64_t>PyDateTime_DELTA_GET_DAYS(offset) * 86400
                   + PyDateTime_DELTA_GET_SECONDS(offset)) * 1000000 \
            + PyDateTime_DELTA_GET_MICROSECONDS(offset)
    seconds = _floor_div(micros, 1000000)
    nanos = (micros - seconds * 1000000) * 1000
    _reserve(w, 15)
    out = w.data + w.size
    if nanos == 0 and 0 <= seconds < 0x100000000:
        out[0] = <char>0xD6
        out[1] = <char>0xFF
        _store32(out + 2, <uint64_t>seconds)
        w.size += 6
    elif 0 <= seconds < 0x400000000:
        out[0] = <char>0xD7
        out[1] = <char>0xFF
        _store64(out + 2, (<uint64_t>nanos << 34) | <uint64_t>seconds)
        w.size += 10
    else:
        out[0] = <char>0xC7
        out[1] = 12
        out[2] = <char>0xFF
        _store32(out + 3, <uint64_t>nanos)
        _store64(out + 7, <uint64_t>seconds)
        w.size += 15
    return 0


cdef int _pack_key(_Writer *w, object key) except -1:
    """A map key: a string, or the JSON text of None, a bool, an int or a float."""
    cdef type kind = type(key)
    cdef char digits[32]
    cdef _Writer text_writer
    cdef int overflow = 0
    cdef long long small
    if kind is str:
        return _pack_str(w, key)
    if key is None:
        return _pack_utf8(w, b"null", 4)
    if key is True:
        return _pack_utf8(w, b"true", 4)
    if key is False:
        return _pack_utf8(w, b"false", 5)
    if kind is int:
        small = PyLong_AsLongLongAndOverflow(key, &overflow)
        if overflow:
            return 1
        return _pack_utf8(w, digits, _format_integer(digits, small))
    if kind is float:
        # the JSON text, as the JSON writer makes it (a float's repr is short:
        # the stack buffer is enough, but the writer may move to the heap)
        text_writer.data = digits
        text_writer.size = 0
        text_writer.capacity = sizeof(digits)
        text_writer.on_heap = False
        try:
            _write_float(&text_writer, <double>key)
            return _pack_utf8(w, text_writer.data, text_writer.size)
        finally:
            if text_writer.on_heap:
                PyMem_Free(text_writer.data)
    return 1


cdef int _pack_value(_Writer *w, object value, int depth) except -1:
    """Write ``value`` as packb would; 0 when done, 1 to give up (see above)."""
    cdef type kind = type(value)
    cdef Py_ssize_t pos = 0, size, i
    cdef PyObject *key
    cdef PyObject *item
    cdef int result = 0
    if depth > _PACK_MAX_DEPTH:
        return 1
    if kind is str:
        return _pack_str(w, value)
    if kind is int:
        return _pack_int(w, value)
    if value is None:
        return _pack_byte(w, 0xC0)
    if value is True:
        return _pack_byte(w, 0xC3)
    if value is False:
        return _pack_byte(w, 0xC2)
    if kind is float:
        return _pack_float(w, <double>value)
    if kind is bytes:
        return _pack_bin(w, PyBytes_AS_STRING(value), PyBytes_GET_SIZE(value))
    if kind is bytearray:
        return _pack_bin(w, PyByteArray_AS_STRING(value), PyByteArray_GET_SIZE(value))
    if kind is memoryview:
        return _pack_memoryview(w, value)
    if PyDateTime_CheckExact(value):
        return _pack_datetime(w, value)
    if kind is not dict and kind is not list and kind is not tuple:
        return 1
    if Py_EnterRecursiveCall(" while encoding a MessagePack value"):
        PyErr_Clear()  # packb meets the same depth and reports it
        return 1
    try:
        if kind is dict:
            if _pack_head(w, <size_t>PyDict_Size(value), 0x80, 16, 0, 0xDE):
                return 1
            while PyDict_Next(value, &pos, &key, &item):
                # the key is as deep as its value, which checks the depth
                result = _pack_key(w, <object>key)
                if not result:
                    result = _pack_value(w, <object>item, depth + 1)
                if result:
                    break
        elif kind is list:
            size = PyList_GET_SIZE(value)
            if _pack_head(w, <size_t>size, 0x90, 16, 0, 0xDC):
                return 1
            for i in range(size):
                # no code of the caller's runs while packing, but should the
                # list change size anyway, give up rather than read past it
                if PyList_GET_SIZE(value) != size:
                    return 1
                result = _pack_value(w, <object>PyList_GET_ITEM(value, i), depth + 1)
                if result:
                    break
        else:
            size = PyTuple_GET_SIZE(value)
            if _pack_head(w, <size_t>size, 0x90, 16, 0, 0xDC):
                return 1
            for i in range(size):
                result = _pack_value(w, <object>PyTuple_GET_ITEM(value, i), depth + 1)
                if result:
                    break
    finally:
        Py_LeaveRecursiveCall()
    return result


cdef const char *_PACKET_HEAD = b"\x83\xa4type\x02\xa4data"  # 12 bytes
cdef const char *_OPTS_HEAD = b"\x83\xa5rooms"  # 7 bytes


cdef int _pack_message(_Writer *w, object uid, object nsp, object data, object rooms,
                       object except_rooms, object flags, bint emitter) except -1:
    """``[uid, packet, opts]``; 0 when done, 1 to give up."""
    _pack_byte(w, 0x93)
    if _pack_value(w, uid, 1):
        return 1
    _put(w, _PACKET_HEAD, 12)
    if _pack_value(w, data, 2):
        return 1
    _put(w, b"\xa3nsp", 4)
    if _pack_value(w, nsp, 2):
        return 1
    _put(w, _OPTS_HEAD, 7)
    if _pack_value(w, rooms, 2):
        return 1
    if emitter:
        _put(w, b"\xa5flags", 6)
        if _pack_value(w, flags, 2):
            return 1
        _put(w, b"\xa6except", 7)
        return _pack_value(w, except_rooms, 2)
    _put(w, b"\xa6except", 7)
    if _pack_value(w, except_rooms, 2):
        return 1
    _put(w, b"\xa5flags", 6)
    return _pack_value(w, flags, 2)


cdef object _unique(object except_rooms):
    """``list(dict.fromkeys(except_rooms))``, without the dict for 0 or 1 rooms."""
    cdef type kind = type(except_rooms)
    cdef Py_ssize_t size
    if kind is list or kind is tuple:
        size = len(except_rooms)
        if size == 0:
            return except_rooms
        if size == 1:
            try:
                hash(except_rooms[0])
            except TypeError:
                pass  # dict.fromkeys raises it, in its own words
            else:
                return except_rooms
    return list(dict.fromkeys(except_rooms))


def pack_broadcast(uid, nsp, data, rooms, except_rooms, flags, *, bint emitter=False):
    """Encode a ``[uid, packet, opts]`` broadcast message with the msgpack parser.

    The bytes are ``notepack.packb(broadcast.broadcast_value(uid, nsp,
    data, rooms, except_rooms, flags))``: what Node's adapter writes with
    notepack.io 3, ``except`` de-duplicated in order.

    :param uid: the sending server's uid.
    :param nsp: the namespace.
    :param data: the event name followed by its arguments.
    :param rooms: the rooms to broadcast to (none for everyone).
    :param except_rooms: the rooms whose clients must not get the event.
    :param flags: Socket.IO's broadcast flags (``volatile``, ``compress``...).
    :param emitter: write the ``opts`` keys in the order of Node's
                    ``@socket.io/redis-emitter`` (``rooms, flags, except``)
                    instead of the adapter's (``rooms, except, flags``).

    Raises ``TypeError`` when the data cannot be serialized.
    """
    cdef char stack[_PACK_STACK_SIZE]
    cdef _Writer w
    cdef type kind = type(rooms)
    if kind is not list and kind is not tuple:
        rooms = list(rooms)
    except_rooms = _unique(except_rooms)
    w.data = stack
    w.size = 0
    w.capacity = _PACK_STACK_SIZE
    w.on_heap = False
    try:
        if not _pack_message(&w, uid, nsp, data, rooms, except_rooms, flags, emitter):
            return PyBytes_FromStringAndSize(w.data, w.size)
    finally:
        if w.on_heap:
            PyMem_Free(w.data)
    # what packb makes of it: the same bytes, written the slow way, or its error
    return _packb(_broadcast.broadcast_value(uid, nsp, data, rooms, except_rooms, flags,
                                         emitter=emitter))
