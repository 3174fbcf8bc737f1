"""``RespError`` and ``PushParser``, the twins of ``src/fastpath/resp_push.pxi``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .router import ChannelRouter


class RespError(Exception):
    """An error reply (``-ERR ...``) read from a Redis connection."""


_PMESSAGE_HEAD = b"*4\r\n$8\r\npmessage\r\n"


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
    """

    __slots__ = ("on_message", "on_reply", "on_error", "channel_filter", "handler_errors",
                 "_buffer")

    def __init__(
        self,
        on_message: Callable[[bytes | None, bytes, bytes, Any], Any],
        on_reply: Callable[[Any], Any],
        on_error: Callable[[BaseException], Any] | None = None,
        channel_filter: ChannelRouter | None = None,
    ) -> None:
        self.on_message = on_message
        self.on_reply = on_reply
        self.on_error = on_error
        self.channel_filter = channel_filter
        self.handler_errors = 0
        self._buffer = b""

    def feed(self, data: bytes) -> None:
        """Parse ``data`` (plus what was left incomplete before)."""
        buffer = self._buffer + data if self._buffer else bytes(data)
        position = 0
        size = len(buffer)
        while position < size:
            if buffer.startswith(_PMESSAGE_HEAD, position):
                end = self._pmessage(buffer, position + len(_PMESSAGE_HEAD))
            else:
                end = self._reply(buffer, position)
            if end < 0:
                break
            position = end
        self._buffer = buffer[position:]

    def _pmessage(self, buffer: bytes, position: int) -> int:
        pattern, position = _bulk(buffer, position)
        if position < 0:
            return -1
        channel, position = _bulk(buffer, position)
        if position < 0:
            return -1
        data, position = _bulk(buffer, position)
        if position < 0:
            return -1
        channel_filter = self.channel_filter
        route = None
        if channel_filter is not None:
            route = channel_filter.route(channel)
            if route is None:
                return position
        self._call(self.on_message, pattern, channel, data, route)
        return position

    def _reply(self, buffer: bytes, position: int) -> int:
        value, position = _value(buffer, position)
        if position < 0:
            return -1
        if (
            isinstance(value, list)
            and len(value) == 3
            and (value[0] == b"message" or value[0] == b"smessage")
            and isinstance(value[1], bytes)
            and isinstance(value[2], bytes)
        ):
            self._call(self.on_message, None, value[1], value[2], None)
        else:
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
    if not text or not text.lstrip(b"-").isdigit():
        raise ValueError(f"RESP protocol error: bad length {text[:20]!r}")
    return int(text)


def _bulk(buffer: bytes, position: int) -> tuple[bytes, int]:
    if position >= len(buffer):
        return b"", -1
    if buffer[position] != 0x24:  # "$"
        raise ValueError("RESP protocol error: a bulk string was expected")
    text, position = _line(buffer, position + 1)
    if position < 0:
        return b"", -1
    size = _integer(text)
    end = position + size
    if size < 0:
        raise ValueError("RESP protocol error: a null bulk string in a push message")
    if end + 2 > len(buffer):
        return b"", -1
    return buffer[position:end], end + 2


def _value(buffer: bytes, position: int) -> tuple[Any, int]:
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
        end = after + size
        if end + 2 > len(buffer):
            return None, -1
        return buffer[after:end], end + 2
    if kind == 0x2A:  # "*"
        count = _integer(text)
        if count < 0:
            return None, after
        items = []
        for _ in range(count):
            item, after = _value(buffer, after)
            if after < 0:
                return None, -1
            items.append(item)
        return items, after
    raise ValueError(f"RESP protocol error: unexpected byte {kind:#x}")
