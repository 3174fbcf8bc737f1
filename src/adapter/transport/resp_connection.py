"""One Redis connection speaking RESP2 over asyncio, with hiredis and batched writes.

A command is one preformatted byte string appended to a buffer that is
flushed once per event-loop iteration, so commands issued in the same
iteration go out in one write.  Once subscribed, every byte goes to the fast
path's ``PushParser`` instead of the reply reader.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Callable
from typing import Any

import hiredis

from ..fastpath import PushParser

logger = logging.getLogger("socketio_redis_adapter")


def encode_command(*args: bytes | str | int) -> bytes:
    """Encode one command in RESP (an array of bulk strings)."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def encode_publish(channel: bytes, data: bytes) -> bytes:
    """``PUBLISH channel data`` in RESP, in one formatting step."""
    return b"*3\r\n$7\r\nPUBLISH\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (
        len(channel), channel, len(data), data,
    )


def decode_command(payload: bytes) -> list[bytes]:
    """The arguments of one command encoded by :func:`encode_command` or
    :func:`encode_publish` (to send it again elsewhere)."""
    reader = hiredis.Reader()
    reader.feed(payload)
    arguments = reader.gets()
    if not isinstance(arguments, list):
        raise ValueError("not one encoded command")
    return arguments


def encode_spublish(channel: bytes, data: bytes) -> bytes:
    """``SPUBLISH channel data`` in RESP, in one formatting step."""
    return b"*3\r\n$8\r\nSPUBLISH\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (
        len(channel), channel, len(data), data,
    )


#: seconds between a connection's last read and its loss within which the publishes that
#: read confirmed are sent again (see :class:`RespProtocol`)
RESEND_WINDOW = 1.0


class RespProtocol(asyncio.Protocol):
    """One Redis connection: writes are batched per loop iteration.

    Replies resolve the futures of the commands in order; a command sent
    with :meth:`post` has no future, and a failure of it is logged and
    counted in :attr:`failures` and passed to :attr:`on_refused` (a cluster
    transport learns of moved slots that way).  A posted command is kept
    until Redis confirms it: when the connection is lost first, the
    unconfirmed ones go to :attr:`on_unconfirmed` (to be sent again), or are
    counted in :attr:`failures` when nobody takes them.

    Redis answers a PUBLISH before it writes the subscribers' copies (in the
    same event-loop turn), so a Redis killed between the two has confirmed a
    publish nobody got.  When the connection is lost by Redis or the network
    (not by :meth:`close`), the posted commands confirmed in its last read
    (when that read was at most :data:`RESEND_WINDOW` seconds before the
    loss) go to :attr:`on_unconfirmed` too, ahead of the unconfirmed ones:
    those few are at-least-once (a subscriber may get one twice).  Once
    :meth:`enter_push_mode` is called (before SUBSCRIBE), every byte goes to
    the push parser instead.
    """

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._reader = hiredis.Reader()
        #: per command sent, in order: its future, or the command itself for a posted one
        self._waiters: collections.deque[asyncio.Future[Any] | bytes] = collections.deque()
        self._pending: list[bytes] = []
        self._push_parser: PushParser | None = None
        self._writable: asyncio.Future[None] | None = None
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.last_activity = 0.0
        #: posted commands that failed or whose fate is unknown (connection lost)
        self.failures = 0
        #: called with the error reply of each posted command Redis refused
        self.on_refused: Callable[[Exception], None] | None = None
        #: called with the posted commands a lost connection left unconfirmed, in order
        self.on_unconfirmed: Callable[[list[bytes]], None] | None = None
        #: True while :meth:`pause_reading` holds the socket unread
        self.reading_paused = False
        #: the posted commands the last read confirmed (it was at :attr:`last_activity`)
        self._last_confirmed: list[bytes] = []
        self._closing = False
        #: set once no reply is owed (see :meth:`close_when_answered`)
        self._answered: asyncio.Future[None] | None = None

    # asyncio.Protocol ---------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            if self._push_parser is not None:
                self._push_parser.feed(data)
            else:
                self._reader.feed(data)
                self._dispatch_replies()
        except (hiredis.ProtocolError, ValueError) as exc:
            logger.error("Redis protocol error: %r", exc)
            self._closing = True  # our doing: what Redis confirmed stands
            if self.transport is not None:
                self.transport.abort()
        self.last_activity = asyncio.get_running_loop().time()

    def _dispatch_replies(self) -> None:
        gets = self._reader.gets
        confirmed: list[bytes] = []
        self._last_confirmed = confirmed
        reply = gets()
        while reply is not False:
            if self._waiters:
                waiter = self._waiters.popleft()
                if waiter.__class__ is bytes:
                    if isinstance(reply, hiredis.ReplyError):
                        self.failures += 1
                        logger.error("Redis refused a PUBLISH: %s", reply)
                        if self.on_refused is not None:
                            self.on_refused(reply)
                    else:
                        confirmed.append(waiter)  # type: ignore[arg-type]
                elif waiter.done():  # type: ignore[union-attr]
                    pass
                elif isinstance(reply, hiredis.ReplyError):
                    waiter.set_exception(reply)  # type: ignore[union-attr]
                else:
                    waiter.set_result(reply)  # type: ignore[union-attr]
            reply = gets()
        answered = self._answered
        if answered is not None and not self._waiters and not answered.done():
            answered.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        error = ConnectionError(f"Redis connection lost: {exc!r}" if exc else "Redis closed")
        unconfirmed: list[bytes] = []
        if (self.on_unconfirmed is not None and not self._closing and self._last_confirmed
                and asyncio.get_running_loop().time() - self.last_activity <= RESEND_WINDOW):
            unconfirmed.extend(self._last_confirmed)  # Redis may have died before the copies
        self._last_confirmed = []
        while self._waiters:
            waiter = self._waiters.popleft()
            if isinstance(waiter, bytes):
                unconfirmed.append(waiter)
            elif not waiter.done():
                waiter.set_exception(error)
        self._pending = []
        if unconfirmed:
            if self.on_unconfirmed is not None:
                self.on_unconfirmed(unconfirmed)
            else:
                self.failures += len(unconfirmed)
                logger.warning(
                    "%d publishes may be lost: the Redis connection dropped before they were "
                    "confirmed", len(unconfirmed),
                )
        self.resume_writing()
        if not self.lost.done():
            self.lost.set_result(None)
        if self._answered is not None and not self._answered.done():
            self._answered.set_result(None)
        self.transport = None

    # commands --------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self.transport is not None and not self.transport.is_closing()

    def write(self, payload: bytes) -> None:
        """Queue raw bytes; everything queued in one loop iteration is sent at once."""
        if self.transport is None:
            raise ConnectionError("not connected to Redis")
        if not self._pending:
            asyncio.get_running_loop().call_soon(self._flush)
        self._pending.append(payload)

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        if self.transport is not None and pending:
            self.transport.write(b"".join(pending) if len(pending) > 1 else pending[0])

    def pause_writing(self) -> None:
        if self._writable is None:
            self._writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        writable, self._writable = self._writable, None
        if writable is not None and not writable.done():
            writable.set_result(None)

    async def drain(self) -> None:
        """Wait while the transport's write buffer is over its high-water mark."""
        if self._writable is not None:
            await self._writable

    def post(self, payload: bytes) -> bool:
        """Send a command whose reply is only checked for errors.

        Returns True while the write buffer is over its high-water mark: the
        caller should :meth:`drain` before sending more.
        """
        self.write(payload)
        self._waiters.append(payload)
        return self._writable is not None

    def request(self, payload: bytes) -> asyncio.Future[Any]:
        """Send a command and return the future of its reply."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.write(payload)
        self._waiters.append(future)
        return future

    def pause_reading(self) -> None:
        """Stop reading the socket (the reader is behind); idle checks must wait too."""
        self.reading_paused = True
        if self.transport is not None and not self.transport.is_closing():
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        """Read the socket again; the pause counts as activity."""
        self.reading_paused = False
        self.last_activity = asyncio.get_running_loop().time()
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    def enter_push_mode(self, parser: PushParser) -> None:
        """Hand every byte from now on to ``parser`` (a subscribed connection)."""
        self._push_parser = parser

    def close(self) -> None:
        """Send what is queued, then close (replies still on the way are not read)."""
        self._closing = True
        if self.transport is not None:
            self._flush()
            self.transport.close()

    async def close_when_answered(self, timeout: float) -> None:
        """Send what is queued, wait up to ``timeout`` seconds for the replies still owed
        (the posted publishes' confirmations), then close, and return once the
        connection is closed: what was still unconfirmed has been reported
        (:attr:`on_unconfirmed`, or counted and logged) before this returns."""
        if self.transport is None:
            return
        self._flush()
        if self._waiters:
            self._answered = asyncio.get_running_loop().create_future()
            try:
                await asyncio.wait_for(asyncio.shield(self._answered), timeout)
            except asyncio.TimeoutError:
                pass
        self.close()
        if not self.lost.done():
            try:
                await asyncio.wait_for(asyncio.shield(self.lost), 1.0)
            except asyncio.TimeoutError:
                pass


__all__ = [
    "RespProtocol", "decode_command", "encode_command", "encode_publish", "encode_spublish",
]
