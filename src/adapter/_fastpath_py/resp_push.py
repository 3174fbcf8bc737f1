"""``RespError`` and ``PushParser``, the twins of ``src/fastpath/resp_push.pxi``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .router import ChannelRouter


class RespError(Exception):
    """An error reply (``-ERR ...``) read from a Redis connection."""


_PMESSAGE_HEAD = b"*4\r\n$8\r\npmessage\r\n"
_MESSAGE_HEAD = b"*3\r\n$7\r\nmessage\r\n"
_SMESSAGE_HEAD = b"*3\r\n$8\r\nsmessage\r\n"
#: arrays nested deeper than this are refused (Redis sends a subscriber depth 1)
MAX_REPLY_DEPTH = 32
#: what a reply that is not a message (a subscription's confirmation...) may declare, and
#: an incomplete reply hold, on top of ``max_message_size``
HEADER_SLACK = 65536


class PushParser:
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

    __slots__ = ("on_message", "on_reply", "on_error", "channel_filter", "handler_errors",
                 "max_message_size", "on_oversized", "oversized", "_buffer", "_skip",
                 "_skip_bulks")

    def __init__(
        self,
        on_message: Callable[[bytes | None, bytes, bytes, Any], Any],
        on_reply: Callable[[Any], Any],
        on_error: Callable[[BaseException], Any] | None = None,
        channel_filter: ChannelRouter | None = None,
        max_message_size: int | None = None,
        on_oversized: Callable[[bytes | None, int], Any] | None = None,
    ) -> None:
        if max_message_size is not None and max_message_size < 0:
            raise ValueError("max_message_size must be >= 0 or None")
        self.on_message = on_message
        self.on_reply = on_reply
        self.on_error = on_error
        self.channel_filter = channel_filter
        self.handler_errors = 0
        self.max_message_size = max_message_size
        self.on_oversized = on_oversized
        #: pushes skipped because they declared more than ``max_message_size`` bytes
        self.oversized = 0
        self._buffer = b""
        #: bytes of an oversized push still to skip, then how many of its bulks
        self._skip = 0
        self._skip_bulks = 0

    def feed(self, data: bytes) -> None:
        """Parse ``data`` (plus what was left incomplete before)."""
        buffer = self._buffer + data if self._buffer else bytes(data)
        position = 0
        size = len(buffer)
        while position < size:
            if self._skip:
                step = min(self._skip, size - position)
                position += step
                self._skip -= step
                continue
            if self._skip_bulks:
                length, start = _bulk_header(buffer, position)
                if start < 0:
                    break
                self._skip_bulks -= 1
                self._skip = length + 2
                position = start
                continue
            if buffer.startswith(_PMESSAGE_HEAD, position):
                end = self._push(buffer, position + len(_PMESSAGE_HEAD), 3)
            elif buffer.startswith(_MESSAGE_HEAD, position):
                end = self._push(buffer, position + len(_MESSAGE_HEAD), 2)
            elif buffer.startswith(_SMESSAGE_HEAD, position):
                end = self._push(buffer, position + len(_SMESSAGE_HEAD), 2)
            else:
                end = self._reply(buffer, position)
            if end < 0:
                break
            position = end
        limit = self.max_message_size
        if limit is not None and size - position > limit + HEADER_SLACK:
            self._buffer = b""
            raise ValueError(
                f"RESP protocol error: an incomplete reply of over {limit + HEADER_SLACK} bytes"
            )
        self._buffer = buffer[position:]

    def _push(self, buffer: bytes, position: int, count: int) -> int:
        """A ``pmessage`` (3 bulks after its head) or ``message``/``smessage`` (2)."""
        parts: list[bytes] = []
        declared = 0
        limit = self.max_message_size
        for index in range(count):
            length, start = _bulk_header(buffer, position)
            if start < 0:
                return -1
            declared += length
            if limit is not None and declared > limit:
                return self._skip_push(parts, count, index, start, length, declared)
            position = start + length + 2
            if position > len(buffer):
                return -1
            parts.append(buffer[start:start + length])
        if count == 2:
            self._call(self.on_message, None, parts[0], parts[1], None)
            return position
        pattern, channel, data = parts
        channel_filter = self.channel_filter
        route = None
        if channel_filter is not None:
            route = channel_filter.route(channel)
            if route is None:
                return position
        self._call(self.on_message, pattern, channel, data, route)
        return position

    def _skip_push(self, parts: list[bytes], count: int, index: int, start: int, length: int,
                   declared: int) -> int:
        """Skip the rest of a push from its bulk ``index`` on (declared ``length`` at ``start``)."""
        self.oversized += 1
        self._skip = length + 2
        self._skip_bulks = count - index - 1
        if self.on_oversized is not None:
            channel = parts[count - 2] if index == count - 1 else None
            self._call(self.on_oversized, channel, declared)
        return start

    def _reply(self, buffer: bytes, position: int) -> int:
        limit = self.max_message_size
        bound = None if limit is None else limit + HEADER_SLACK
        value, position = _value(buffer, position, bound, 0)
        if position < 0:
            return -1
        self._call(self.on_reply, value)
        return position

    def _call(self, function: Callable[..., Any], *args: Any) -> None:
        try:
            function(*args)
        except Exception as exc:
            self.handler_errors += 1
            if self.on_error is not None:
                try:
                    self.on_error(exc)
                except Exception:  # noqa: S110 - a failing error hook must not stop parsing
                    pass


def _line(buffer: bytes, position: int) -> tuple[bytes, int]:
    end = buffer.find(b"\r\n", position)
    if end < 0:
        return b"", -1
    return buffer[position:end], end + 2


def _integer(text: bytes) -> int:
    """A RESP length or integer: an optional ``-`` and 1 to 18 ASCII digits."""
    digits = text[1:] if text[:1] == b"-" else text
    if not digits or len(digits) > 18 or not digits.isdigit():
        raise ValueError("RESP protocol error: bad length or integer")
    return int(text)


def _bulk_header(buffer: bytes, position: int) -> tuple[int, int]:
    """``$<n>\\r\\n`` at ``position``: ``(n, where its bytes start)``; start -1 if incomplete."""
    if position >= len(buffer):
        return 0, -1
    if buffer[position] != 0x24:  # "$"
        raise ValueError("RESP protocol error: a bulk string was expected")
    text, start = _line(buffer, position + 1)
    if start < 0:
        return 0, -1
    size = _integer(text)
    if size < 0:
        raise ValueError("RESP protocol error: a null bulk string in a push message")
    return size, start


def _too_large(size: int, limit: int | None) -> None:
    if limit is not None and size > limit:
        raise ValueError(
            f"RESP protocol error: a reply declares {size}, over max_message_size {limit}"
        )


def _value(buffer: bytes, position: int, limit: int | None, depth: int) -> tuple[Any, int]:
    if position >= len(buffer):
        return None, -1
    kind = buffer[position]
    text, after = _line(buffer, position + 1)
    if after < 0:
        return None, -1
    if kind == 0x2B:  # "+"
        return text, after
    if kind == 0x2D:  # "-"
        return RespError(text.decode(errors="replace")), after
    if kind == 0x3A:  # ":"
        return _integer(text), after
    if kind == 0x24:  # "$"
        size = _integer(text)
        if size < 0:
            return None, after
        _too_large(size, limit)
        end = after + size
        if end + 2 > len(buffer):
            return None, -1
        return buffer[after:end], end + 2
    if kind == 0x2A:  # "*"
        count = _integer(text)
        if count < 0:
            return None, after
        _too_large(count, limit)
        if depth >= MAX_REPLY_DEPTH:
            raise ValueError("RESP protocol error: arrays nested too deep")
        items = []
        for _ in range(count):
            item, after = _value(buffer, after, limit, depth + 1)
            if after < 0:
                return None, -1
            items.append(item)
        return items, after
    raise ValueError(f"RESP protocol error: unexpected byte {kind:#x}")
