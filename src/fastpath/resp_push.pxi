# Part of src/_fastpath.pyx, which includes it: RespError and PushParser, the
# RESP2 reader of subscriber connections.

class RespError(Exception):
    """An error reply (``-ERR ...``) read from a Redis connection."""


cdef Py_ssize_t _PMESSAGE_HEAD_SIZE = 18  # len(b"*4\r\n$8\r\npmessage\r\n")
cdef Py_ssize_t _MESSAGE_HEAD_SIZE = 17  # len(b"*3\r\n$7\r\nmessage\r\n")
cdef Py_ssize_t _SMESSAGE_HEAD_SIZE = 18  # len(b"*3\r\n$8\r\nsmessage\r\n")
# arrays nested deeper than this are refused (Redis sends a subscriber depth 1)
MAX_REPLY_DEPTH = 32
cdef int _MAX_REPLY_DEPTH = 32
# what a reply that is not a message (a subscription's confirmation...) may declare, and
# an incomplete reply hold, on top of max_message_size
HEADER_SLACK = 65536
cdef Py_ssize_t _HEADER_SLACK = 65536


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


cdef Py_ssize_t _bulk_header(
    const char *buf, Py_ssize_t pos, Py_ssize_t size, Py_ssize_t *length
) except -2:
    """Parse ``$<n>\\r\\n`` at ``pos``: set ``length[0]``, return where the bytes start, or -1."""
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
    length[0] = <Py_ssize_t>count
    return line_end + 2


cdef int _too_large(long long size, Py_ssize_t limit) except -1:
    if limit >= 0 and size > limit:
        raise ValueError(
            f"RESP protocol error: a reply declares {size}, over max_message_size {limit}"
        )
    return 0


cdef object _value(const char *buf, Py_ssize_t pos, Py_ssize_t size, Py_ssize_t *after,
                   Py_ssize_t limit, int depth):
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
        _too_large(count, limit)
        if line_end + 2 + count + 2 > size:
            return None
        after[0] = line_end + 2 + <Py_ssize_t>count + 2
        return PyBytes_FromStringAndSize(buf + line_end + 2, <Py_ssize_t>count)
    if kind == c'*':
        if count < 0:
            after[0] = line_end + 2
            return None
        _too_large(count, limit)
        if depth >= _MAX_REPLY_DEPTH:
            raise ValueError("RESP protocol error: arrays nested too deep")
        items = []
        pos = line_end + 2
        count_size = <Py_ssize_t>count
        for i in range(count_size):
            item = _value(buf, pos, size, after, limit, depth + 1)
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

    ``max_message_size`` (None: no limit) bounds what is buffered: a push
    whose pattern, channel and data together declare more bytes is skipped
    as it streams past, never held; it is counted in ``oversized`` and
    reported to ``on_oversized(channel, declared)`` (``channel`` is None
    when the pattern or the channel itself was too large; ``declared`` the
    bytes declared up to the part that went over).  Any other reply
    declaring more than the limit plus :data:`HEADER_SLACK` (bytes in a
    bulk string, or items in an array), an incomplete reply longer than
    that, and arrays nested deeper than :data:`MAX_REPLY_DEPTH` raise
    ``ValueError``: no Redis sends those to a subscriber.
    """

    cdef public object on_message
    cdef public object on_reply
    cdef public object on_error
    cdef public object channel_filter
    cdef public object on_oversized
    cdef public Py_ssize_t handler_errors
    cdef public Py_ssize_t oversized
    cdef Py_ssize_t _limit  # -1: no limit
    cdef bytes _buffer
    cdef long long _skip
    cdef int _skip_bulks

    def __init__(self, on_message, on_reply, on_error=None, channel_filter=None,
                 max_message_size=None, on_oversized=None):
        self.on_message = on_message
        self.on_reply = on_reply
        self.on_error = on_error
        self.channel_filter = channel_filter
        self.handler_errors = 0
        self.max_message_size = max_message_size
        self.on_oversized = on_oversized
        self.oversized = 0
        self._buffer = b""
        self._skip = 0
        self._skip_bulks = 0

    @property
    def max_message_size(self):
        """The most bytes a push may declare (None: no limit)."""
        return None if self._limit < 0 else self._limit

    @max_message_size.setter
    def max_message_size(self, value):
        if value is None:
            self._limit = -1
        elif value < 0:
            raise ValueError("max_message_size must be >= 0 or None")
        else:
            self._limit = <Py_ssize_t>min(value, <Py_ssize_t>0x3FFFFFFFFFFFFFFF)

    def feed(self, data):
        """Parse ``data`` (plus what was left incomplete before)."""
        cdef bytes buffer
        cdef const char *buf
        cdef Py_ssize_t size, pos = 0, end, step, start, length
        if PyBytes_GET_SIZE(self._buffer):
            buffer = self._buffer + bytes(data)
        elif PyBytes_CheckExact(data):
            buffer = <bytes>data
        else:
            buffer = bytes(data)
        buf = PyBytes_AS_STRING(buffer)
        size = PyBytes_GET_SIZE(buffer)
        while pos < size:
            if self._skip:
                step = size - pos
                if self._skip < step:
                    step = <Py_ssize_t>self._skip
                pos += step
                self._skip -= step
                continue
            if self._skip_bulks:
                start = _bulk_header(buf, pos, size, &length)
                if start < 0:
                    break
                self._skip_bulks -= 1
                self._skip = <long long>length + 2
                pos = start
                continue
            if (size - pos >= _PMESSAGE_HEAD_SIZE
                    and memcmp(buf + pos, b"*4\r\n$8\r\npmessage\r\n", _PMESSAGE_HEAD_SIZE) == 0):
                end = self._push(buf, pos + _PMESSAGE_HEAD_SIZE, size, 3)
            elif (size - pos >= _MESSAGE_HEAD_SIZE
                    and memcmp(buf + pos, b"*3\r\n$7\r\nmessage\r\n", _MESSAGE_HEAD_SIZE) == 0):
                end = self._push(buf, pos + _MESSAGE_HEAD_SIZE, size, 2)
            elif (size - pos >= _SMESSAGE_HEAD_SIZE
                    and memcmp(buf + pos, b"*3\r\n$8\r\nsmessage\r\n", _SMESSAGE_HEAD_SIZE) == 0):
                end = self._push(buf, pos + _SMESSAGE_HEAD_SIZE, size, 2)
            else:
                end = self._reply(buf, pos, size)
            if end < 0:
                break
            pos = end
        if self._limit >= 0 and size - pos > self._limit + _HEADER_SLACK:
            self._buffer = b""
            raise ValueError(
                f"RESP protocol error: an incomplete reply of over {self._limit + _HEADER_SLACK} bytes"
            )
        if pos == 0:
            self._buffer = buffer
        elif pos < size:
            self._buffer = PyBytes_FromStringAndSize(buf + pos, size - pos)
        else:
            self._buffer = b""

    cdef Py_ssize_t _push(self, const char *buf, Py_ssize_t pos, Py_ssize_t size,
                          int count) except -2:
        """A ``pmessage`` (3 bulks after its head) or ``message``/``smessage`` (2)."""
        cdef Py_ssize_t starts[3]
        cdef Py_ssize_t lengths[3]
        cdef Py_ssize_t start, length
        cdef long long declared = 0
        cdef int index
        for index in range(count):
            start = _bulk_header(buf, pos, size, &length)
            if start < 0:
                return -1
            declared += length
            if self._limit >= 0 and declared > self._limit:
                return self._skip_push(buf, starts, lengths, count, index, start, length,
                                       declared)
            if length > size - start - 2:
                return -1
            starts[index] = start
            lengths[index] = length
            pos = start + length + 2
        if count == 2:
            self._call(self.on_message, (
                None,
                PyBytes_FromStringAndSize(buf + starts[0], lengths[0]),
                PyBytes_FromStringAndSize(buf + starts[1], lengths[1]),
                None,
            ))
            return pos
        channel_filter = self.channel_filter
        route = None
        if channel_filter is not None:
            if type(channel_filter) is ChannelRouter:
                route = (<ChannelRouter>channel_filter)._route(buf + starts[1], lengths[1])
            else:
                route = channel_filter.route(
                    PyBytes_FromStringAndSize(buf + starts[1], lengths[1])
                )
            if route is None:
                return pos
        self._call(self.on_message, (
            PyBytes_FromStringAndSize(buf + starts[0], lengths[0]),
            PyBytes_FromStringAndSize(buf + starts[1], lengths[1]),
            PyBytes_FromStringAndSize(buf + starts[2], lengths[2]),
            route,
        ))
        return pos

    cdef Py_ssize_t _skip_push(self, const char *buf, Py_ssize_t *starts, Py_ssize_t *lengths,
                               int count, int index, Py_ssize_t start, Py_ssize_t length,
                               long long declared) except -2:
        """Skip the rest of a push from its bulk ``index`` on (``length`` bytes at ``start``)."""
        self.oversized += 1
        self._skip = <long long>length + 2
        self._skip_bulks = count - index - 1
        if self.on_oversized is not None:
            channel = None
            if index == count - 1:
                channel = PyBytes_FromStringAndSize(buf + starts[count - 2], lengths[count - 2])
            self._call(self.on_oversized, (channel, declared))
        return start

    cdef Py_ssize_t _reply(self, const char *buf, Py_ssize_t pos, Py_ssize_t size) except -2:
        cdef Py_ssize_t after = -1
        value = _value(buf, pos, size, &after,
                       self._limit + _HEADER_SLACK if self._limit >= 0 else -1, 0)
        if after < 0:
            return -1
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
