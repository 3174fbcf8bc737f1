# Part of src/_fastpath.pyx, which includes it: unpack_broadcast.

cdef object _unpack_fast(bytes message):
    """The Broadcast of a well-formed ``message``; None to decode it the
    whole way.  Raises what ormsgpack and the UTF-8 decoder raise."""
    cdef const unsigned char *buf = <const unsigned char *>PyBytes_AS_STRING(message)
    cdef Py_ssize_t size = PyBytes_GET_SIZE(message)
    cdef Py_ssize_t pos = 0
    cdef Py_ssize_t count, length, i
    cdef Py_ssize_t data_start = 0, data_end = 0
    cdef const unsigned char *key
    cdef unsigned char byte
    cdef int seen = 0
    cdef int bit
    if _read_head(buf, &pos, size, 0x90) != 3:
        return None
    length = _read_str_head(buf, &pos, size)
    if length < 0:
        return None
    uid = _name(buf + pos, length)
    pos += length
    # the packet
    count = _read_head(buf, &pos, size, 0x80)
    if count < 0 or count > 3:
        return None
    nsp = _ROOT_NSP
    for i in range(count):
        length = _read_str_head(buf, &pos, size)
        if length < 0:
            return None
        key = buf + pos
        pos += length
        if pos >= size:
            return None
        byte = buf[pos]
        if _is_key(key, length, "data", 4):
            if seen & _SEEN_DATA or not (0x91 <= byte <= 0x9F or byte == 0xDC or byte == 0xDD):
                return None
            seen |= _SEEN_DATA
            data_start = pos
            data_end = _skip_value(buf, pos, size)
            if data_end < 0:
                return None
            pos = data_end
        elif _is_key(key, length, "type", 4):
            if seen & _SEEN_TYPE or (byte != 2 and byte != 5):
                return None
            seen |= _SEEN_TYPE
            pos += 1
        elif _is_key(key, length, "nsp", 3):
            if seen & _SEEN_NSP:
                return None
            seen |= _SEEN_NSP
            if byte == 0xC0:
                pos += 1
            else:
                length = _read_str_head(buf, &pos, size)
                if length < 0:
                    return None
                nsp = _name(buf + pos, length)
                pos += length
        else:
            return None
    if not seen & _SEEN_DATA:
        return None
    # opts
    rooms = except_rooms = flags = None
    seen = 0
    if pos < size and buf[pos] == 0xC0:
        pos += 1
    else:
        count = _read_head(buf, &pos, size, 0x80)
        if count < 0 or count > 3:
            return None
        for i in range(count):
            length = _read_str_head(buf, &pos, size)
            if length < 0:
                return None
            key = buf + pos
            pos += length
            if _is_key(key, length, "rooms", 5):
                bit = _SEEN_ROOMS
            elif _is_key(key, length, "except", 6):
                bit = _SEEN_EXCEPT
            elif _is_key(key, length, "flags", 5):
                bit = _SEEN_FLAGS
            else:
                return None
            if seen & bit:
                return None
            seen |= bit
            if bit == _SEEN_FLAGS:
                value = flags = _read_flags(buf, &pos, size)
            elif bit == _SEEN_ROOMS:
                value = rooms = _read_rooms(buf, &pos, size)
            else:
                value = except_rooms = _read_rooms(buf, &pos, size)
            if value is None:
                return None
    if pos != size:
        return None
    if rooms is None:
        rooms = []
    if except_rooms is None:
        except_rooms = []
    if flags is None:
        flags = {}
    # the data, last: nothing is decoded for a message that is given up
    pos = data_start
    data = _read_value(buf, &pos, data_end)
    # _MISSING (a map key ormsgpack refuses) is not a list either
    if (type(data) is not list or not PyList_GET_SIZE(data)
            or not PyUnicode_Check(<object>PyList_GET_ITEM(data, 0))):
        return None
    return _new_broadcast(uid, nsp, data, rooms, except_rooms, flags)


def unpack_broadcast(data):
    """Decode and validate a broadcast message written with the msgpack parser.

    The same as ``protocol.broadcast.decode_broadcast(MsgpackParser(), data)``.

    :param data: the message, as published on a broadcast channel.

    Raises ``MalformedMessage`` when the message cannot be decoded or is not
    a ``[uid, packet, opts]`` broadcast.
    """
    cdef PyObject *args[2]
    if type(data) is bytes:
        try:
            message = _unpack_fast(<bytes>data)
        except Exception:
            message = None
        if message is not None:
            return message
    args[0] = <PyObject *>data
    args[1] = <PyObject *>_c_ext_hook
    try:
        # notepack.unpackb(data), without its frame
        value = PyObject_Vectorcall(_unpackb, args, 1, <PyObject *>_EXT_HOOK_KWNAMES)
    except Exception as exc:
        raise _MalformedMessage(f"undecodable broadcast: {exc}") from exc
    return _parse(value)
