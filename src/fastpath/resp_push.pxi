# Part of src/_fastpath.pyx, which includes it: RespError and PushParser, the
# RESP2 reader of subscriber connections.

class RespError(Exception):
    """An error reply (``-ERR ...``) read from a Redis connection."""


cdef Py_ssize_t _PMESSAGE_HEAD_SIZE = 18  # len(b"*4\r\n$8\r\npmessage\r\n")


cdef Py_ssize_t _line_end(const char *buf, Py_ssize_t pos, Py_ssize_t size):
    """Index of the ``\\r\\n`` ending the line at ``pos``, or -1 if incomplete."""
    cdef const char *hit
    while pos < size:
        hit = <const char *>memchr(buf + pos, c'\r', size - pos)
        if hit == NULL or hit - buf + 1 >= size:
            return -1
        if hit[1] == c'\n':
            return hit - buf
        pos = hit - buf + 1
    return -1


cdef long long _parse_int(const char *buf, Py_ssize_t start, Py_ssize_t end) except? -2:
    cdef long long value = 0
    cdef bint negative = False
    cdef Py_ssize_t i = start
    if i < end and buf[i] == c'-':
        negative = True
        i += 1
    if i >= end or end - i > 18:
        raise ValueError("RESP protocol error: bad length or integer")
    while i < end:
        if buf[i] < c'0' or buf[i] > c'9':
            raise ValueError("RESP protocol error: bad length or integer")
        value = value * 10 + (buf[i] - c'0')
        i += 1
    return -value if negative else value


cdef Py_ssize_t _bulk_span(
    const char *buf, Py_ssize_t pos, Py_ssize_t size, Py_ssize_t *start, Py_ssize_t *length
) except -2:
    """Parse ``$<n>\\r\\n<n bytes>\\r\\n``; return the position after it or -1."""
    cdef Py_ssize_t line_end
    cdef long long count
    if pos >= size:
        return -1
    if buf[pos] != c'$':
        raise ValueError("RESP protocol error: a bulk string was expected")
    line_end = _line_end(buf, pos + 1, size)
    if line_end < 0:
        return -1
    count = _parse_int(buf, pos + 1, line_end)
    if count < 0:
        raise ValueError("RESP protocol error: a null bulk string in a push message")
    start[0] = line_end + 2
    length[0] = <Py_ssize_t>count
    if start[0] + length[0] + 2 > size:
        return -1
    return start[0] + length[0] + 2


cdef object _value(const char *buf, Py_ssize_t pos, Py_ssize_t size, Py_ssize_t *after):
    """Parse one RESP2 value at ``pos``; ``after[0]`` is -1 if incomplete."""
    cdef Py_ssize_t line_end, i, count_size
    cdef long long count
    cdef char kind
    cdef list items
    after[0] = -1
    if pos >= size:
        return None
    kind = buf[pos]
    line_end = _line_end(buf, pos + 1, size)
    if line_end < 0:
        return None
    if kind == c'+':
        after[0] = line_end + 2
        return PyBytes_FromStringAndSize(buf + pos + 1, line_end - pos - 1)
    if kind == c'-':
        after[0] = line_end + 2
        return RespError(
            PyUnicode_DecodeUTF8(buf + pos + 1, line_end - pos - 1, "replace")
        )
    if kind != c':' and kind != c'$' and kind != c'*':
        raise ValueError(f"RESP protocol error: unexpected byte {kind & 0xff:#x}")
    count = _parse_int(buf, pos + 1, line_end)
    if kind == c':':
        after[0] = line_end + 2
        return count
    if kind == c'$':
        if count < 0:
            after[0] = line_end + 2
            return None
        if line_end + 2 + count + 2 > size:
            return None
        after[0] = line_end + 2 + <Py_ssize_t>count + 2
        return PyBytes_FromStringAndSize(buf + line_end + 2, <Py_ssize_t>count)
    if kind == c'*':
        if count < 0:
            after[0] = line_end + 2
            return None
        items = []
        pos = line_end + 2
        count_size = <Py_ssize_t>count
        for i in range(count_size):
            item = _value(buf, pos, size, after)
            if after[0] < 0:
                return None
            items.append(item)
            pos = after[0]
        after[0] = pos
        return items
    raise ValueError(f"RESP protocol error: unexpected byte {kind & 0xff:#x}")


cdef class PushParser:
    """Split a subscriber connection's bytes into RESP2 replies, dropping early.

    ``feed(data)`` parses every complete reply.  A ``pmessage`` whose channel
    ``channel_filter.route(channel)`` rejects is dropped before its payload
    becomes an object; other ``pmessage`` pushes, and ``message`` and
    ``smessage`` (sharded) pushes, go to ``on_message(pattern, channel,
    data, route)`` (``pattern`` is None for ``message`` and ``smessage``;
    ``route`` is what the filter returned for a ``pmessage``, so the channel
    is routed once, and None without a filter or for the
    others); every other reply (subscription confirmations, ``pong``,
    errors as :class:`RespError`) goes to ``on_reply(value)``.  An exception
    raised by a callback is counted in ``handler_errors`` and passed to
    ``on_error``; it never loses the rest of the stream.  Raises
    ``ValueError`` when the stream is not RESP2.
    """

    cdef public object on_message
    cdef public object on_reply
    cdef public object on_error
    cdef public object channel_filter
    cdef public Py_ssize_t handler_errors
    cdef bytes _buffer

    def __init__(self, on_message, on_reply, on_error=None, channel_filter=None):
        self.on_message = on_message
        self.on_reply = on_reply
        self.on_error = on_error
        self.channel_filter = channel_filter
        self.handler_errors = 0
        self._buffer = b""

    def feed(self, data):
        """Parse ``data`` (plus what was left incomplete before)."""
        cdef bytes buffer
        cdef const char *buf
        cdef Py_ssize_t size, pos = 0, end
        if PyBytes_GET_SIZE(self._buffer):
            buffer = self._buffer + bytes(data)
        elif PyBytes_CheckExact(data):
            buffer = <bytes>data
        else:
            buffer = bytes(data)
        buf = PyBytes_AS_STRING(buffer)
        size = PyBytes_GET_SIZE(buffer)
        while pos < size:
            if (size - pos >= _PMESSAGE_HEAD_SIZE
                    and memcmp(buf + pos, b"*4\r\n$8\r\npmessage\r\n", _PMESSAGE_HEAD_SIZE) == 0):
                end = self._pmessage(buf, pos + _PMESSAGE_HEAD_SIZE, size)
            else:
                end = self._reply(buf, pos, size)
            if end < 0:
                break
            pos = end
        if pos == 0:
            self._buffer = buffer
        elif pos < size:
            self._buffer = PyBytes_FromStringAndSize(buf + pos, size - pos)
        else:
            self._buffer = b""

    cdef Py_ssize_t _pmessage(self, const char *buf, Py_ssize_t pos, Py_ssize_t size) except -2:
        cdef Py_ssize_t pattern_start, pattern_size, channel_start, channel_size
        cdef Py_ssize_t data_start, data_size
        pos = _bulk_span(buf, pos, size, &pattern_start, &pattern_size)
        if pos < 0:
            return -1
        pos = _bulk_span(buf, pos, size, &channel_start, &channel_size)
        if pos < 0:
            return -1
        pos = _bulk_span(buf, pos, size, &data_start, &data_size)
        if pos < 0:
            return -1
        channel_filter = self.channel_filter
        route = None
        if channel_filter is not None:
            if type(channel_filter) is ChannelRouter:
                route = (<ChannelRouter>channel_filter)._route(buf + channel_start, channel_size)
            else:
                route = channel_filter.route(
                    PyBytes_FromStringAndSize(buf + channel_start, channel_size)
                )
            if route is None:
                return pos
        self._call(self.on_message, (
            PyBytes_FromStringAndSize(buf + pattern_start, pattern_size),
            PyBytes_FromStringAndSize(buf + channel_start, channel_size),
            PyBytes_FromStringAndSize(buf + data_start, data_size),
            route,
        ))
        return pos

    cdef Py_ssize_t _reply(self, const char *buf, Py_ssize_t pos, Py_ssize_t size) except -2:
        cdef Py_ssize_t after = -1
        value = _value(buf, pos, size, &after)
        if after < 0:
            return -1
        if (type(value) is list and len(value) == 3
                and (value[0] == b"message" or value[0] == b"smessage")
                and type(value[1]) is bytes and type(value[2]) is bytes):
            self._call(self.on_message, (None, value[1], value[2], None))
        else:
            self._call(self.on_reply, (value,))
        return after

    cdef void _call(self, object function, tuple args):
        try:
            function(*args)
        except Exception as exc:
            self.handler_errors += 1
            if self.on_error is not None:
                try:
                    self.on_error(exc)
                except Exception:
                    pass
