"""A lean Redis pub/sub connection layer: RESP2 over asyncio with hiredis.

The adapter's hot paths are a PUBLISH per emit and a message per broadcast
received.  redis-py's generic client costs several microseconds on each
(command objects, retries, response callbacks, message dicts).  Here a
publish is one preformatted byte string appended to a buffer that is flushed
once per event-loop iteration, so publishes issued in the same iteration go
out in one write; and the subscriber hands every message straight from the
hiredis reader to ``on_message`` in ``data_received``, with no task, future
or dict per message.

:class:`RawPubSub` implements the same interface as
:class:`~socketio_redis_adapter.connection.RedisPubSub` (see
:class:`~socketio_redis_adapter.connection.PubSubConnection`) for
``redis://`` and ``unix://`` URLs, with the same reconnect policy.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import socket
from collections.abc import Callable
from typing import Any

import hiredis
from redis.connection import parse_url as _parse_url

from .connection import SubscriberBase
from .fastpath import PushParser, RespError

logger = logging.getLogger("socketio_redis_adapter")
parse_url: Callable[[str], dict[str, Any]] = _parse_url



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


class RespProtocol(asyncio.Protocol):
    """One Redis connection: writes are batched per loop iteration.

    Replies resolve the futures of the commands in order; a command sent
    with :meth:`post` has no future, and a failure of it is logged and
    counted in :attr:`failures`.  Once :meth:`enter_push_mode` is called
    (before SUBSCRIBE), every byte goes to the push parser instead.
    """

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._reader = hiredis.Reader()
        self._waiters: collections.deque[asyncio.Future[Any] | None] = collections.deque()
        self._pending: list[bytes] = []
        self._push_parser: PushParser | None = None
        self._writable: asyncio.Future[None] | None = None
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.last_activity = 0.0
        #: posted commands that failed or whose fate is unknown (connection lost)
        self.failures = 0

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
            if self.transport is not None:
                self.transport.abort()
        self.last_activity = asyncio.get_running_loop().time()

    def _dispatch_replies(self) -> None:
        gets = self._reader.gets
        reply = gets()
        while reply is not False:
            if self._waiters:
                waiter = self._waiters.popleft()
                if waiter is None:
                    if isinstance(reply, hiredis.ReplyError):
                        self.failures += 1
                        logger.error("Redis refused a PUBLISH: %s", reply)
                elif waiter.done():
                    pass
                elif isinstance(reply, hiredis.ReplyError):
                    waiter.set_exception(reply)
                else:
                    waiter.set_result(reply)
            reply = gets()

    def connection_lost(self, exc: Exception | None) -> None:
        error = ConnectionError(f"Redis connection lost: {exc!r}" if exc else "Redis closed")
        unconfirmed = 0
        while self._waiters:
            waiter = self._waiters.popleft()
            if waiter is None:
                unconfirmed += 1
            elif not waiter.done():
                waiter.set_exception(error)
        if unconfirmed:
            self.failures += unconfirmed
            logger.warning(
                "%d publishes may be lost: the Redis connection dropped before they were "
                "confirmed", unconfirmed,
            )
        self.resume_writing()
        if not self.lost.done():
            self.lost.set_result(None)
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

    def post(self, payload: bytes) -> None:
        """Send a command whose reply is only checked for errors."""
        self.write(payload)
        self._waiters.append(None)

    def request(self, payload: bytes) -> asyncio.Future[Any]:
        """Send a command and return the future of its reply."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.write(payload)
        self._waiters.append(future)
        return future

    def enter_push_mode(self, parser: PushParser) -> None:
        """Hand every byte from now on to ``parser`` (a subscribed connection)."""
        self._push_parser = parser

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def open_connection(
    options: dict[str, Any], timeout: float
) -> RespProtocol:
    """Connect and authenticate; ``options`` come from redis-py's ``parse_url``."""
    loop = asyncio.get_running_loop()
    if options.get("path"):
        connect = loop.create_unix_connection(RespProtocol, options["path"])
    else:
        connect = loop.create_connection(
            RespProtocol, options.get("host") or "localhost", int(options.get("port") or 6379)
        )
    transport, protocol = await asyncio.wait_for(connect, timeout)
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        # notice a peer that vanished without closing (the publisher has no pings)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    try:
        password = options.get("password")
        if password:
            username = options.get("username")
            args = ("AUTH", username, password) if username else ("AUTH", password)
            await asyncio.wait_for(protocol.request(encode_command(*args)), timeout)
    except BaseException:
        protocol.close()
        raise
    return protocol


class RawPubSub(SubscriberBase):
    """Classic pub/sub on two raw connections (publisher and subscriber).

    :param url: a ``redis://`` or ``unix://`` URL (TLS and Sentinel go through
                :class:`~socketio_redis_adapter.connection.RedisPubSub`).
    :param connect_timeout: seconds allowed to connect and authenticate.
    :param confirm_timeout: seconds to wait for Redis to confirm a
                            subscription before ``subscribe`` raises
                            ``TimeoutError`` (it is still made on reconnect).
    :param idle_ping_interval: seconds of silence after which the subscriber
                               sends ``PING``; no answer within the same time
                               means the connection is dead.
    """

    def __init__(
        self,
        url: str,
        *,
        connect_timeout: float = 5.0,
        confirm_timeout: float = 5.0,
        idle_ping_interval: float = 15.0,
    ) -> None:
        options = parse_url(url)
        if "connection_class" in options and not options.get("path"):
            raise ValueError(f"RawPubSub does not support {url.split(':', 1)[0]}:// URLs")
        super().__init__(confirm_timeout, idle_ping_interval)
        self.options = options
        self.connect_timeout = connect_timeout
        self._publisher: RespProtocol | None = None
        self._publisher_lock: asyncio.Lock | None = None
        self._subscriber: RespProtocol | None = None
        self._lost_failures = 0
        #: an object with ``route(channel)`` (the adapter's ChannelRouter):
        #: pattern messages it rejects are dropped by the parser, unread
        self.channel_filter: Any = None

    @classmethod
    def supports(cls, url: str) -> bool:
        """True for the URLs this class handles (plain TCP and Unix sockets)."""
        return url.startswith(("redis://", "unix://"))

    # publishing ----------------------------------------------------------

    async def _publisher_connection(self) -> RespProtocol:
        publisher = self._publisher
        if publisher is not None and publisher.connected:
            return publisher
        if self._closed:
            raise ConnectionError("the connection is closed")
        if self._publisher_lock is None:
            self._publisher_lock = asyncio.Lock()
        async with self._publisher_lock:
            publisher = self._publisher
            if publisher is None or not publisher.connected:
                if publisher is not None:
                    self._lost_failures += publisher.failures
                publisher = await open_connection(self.options, self.connect_timeout)
                self._publisher = publisher
        return publisher

    async def publish(self, channel: bytes, data: bytes) -> int:
        """PUBLISH and return the number of receivers; raise on failure."""
        publisher = self._publisher
        if publisher is None or publisher.transport is None:
            publisher = await self._publisher_connection()
        return int(await publisher.request(encode_publish(channel, data)))

    async def post(self, channel: bytes, data: bytes) -> None:
        """PUBLISH without waiting for Redis' reply (publishes batch per loop
        iteration).  Raises when Redis cannot be reached; a PUBLISH that Redis
        refuses, or that a dropped connection leaves unconfirmed, is logged
        and counted in :attr:`publish_failures`.  Waits while the write
        buffer is full, so a slow Redis slows emitters down instead of
        growing memory.
        """
        publisher = self._publisher
        if publisher is None or publisher.transport is None:
            publisher = await self._publisher_connection()
        publisher.post(encode_publish(channel, data))
        if publisher._writable is not None:
            await publisher.drain()

    @property
    def publish_failures(self) -> int:
        """Posted publishes that failed or may be lost, on the current connection."""
        return self._lost_failures + (self._publisher.failures if self._publisher else 0)

    async def command(self, *args: bytes | str | int) -> Any:
        """Run one command on the publisher connection and return its reply."""
        publisher = await self._publisher_connection()
        return await publisher.request(encode_command(*args))

    async def numsub(self, channel: bytes) -> int:
        """Return ``PUBSUB NUMSUB channel``: the number of subscribed servers."""
        reply = await self.command("PUBSUB", "NUMSUB", channel)
        return int(reply[1]) if reply and len(reply) > 1 else 0

    # subscribing -----------------------------------------------------------

    async def _send(self, kind: bytes, names: list[bytes]) -> None:
        if self._subscriber is not None:
            self._subscriber.write(encode_command(kind.upper(), *names))

    async def _session(self) -> None:
        subscriber = await open_connection(self.options, self.connect_timeout)
        try:
            subscriber.enter_push_mode(
                PushParser(self.on_message, self._on_reply, self._on_handler_error,
                           self.channel_filter)
            )
            if self.patterns:
                subscriber.write(encode_command(b"PSUBSCRIBE", *self.patterns))
            if self.channels:
                subscriber.write(encode_command(b"SUBSCRIBE", *self.channels))
            self._subscriber = subscriber
            self._session_up()
            await self._watch(subscriber)
        finally:
            self._subscriber = None
            subscriber.close()

    def _on_reply(self, reply: Any) -> None:
        if isinstance(reply, RespError):
            logger.error("Redis error on the subscriber connection: %s", reply)
        else:
            self._dispatch(reply)

    def _on_handler_error(self, exc: BaseException) -> None:
        self.handler_errors += 1
        logger.error("error while handling a Redis message", exc_info=exc)

    async def _watch(self, subscriber: RespProtocol) -> None:
        """Return when the connection is lost; ping it when idle, drop it when silent."""
        loop = asyncio.get_running_loop()
        subscriber.last_activity = loop.time()
        interval = self.idle_ping_interval
        while True:
            done, _ = await asyncio.wait({subscriber.lost}, timeout=interval)
            if done:
                return
            idle = loop.time() - subscriber.last_activity
            if idle >= 2 * interval:
                logger.warning("Redis subscriber silent for %.0fs; reconnecting", idle)
                return
            if idle >= interval:
                subscriber.write(encode_command(b"PING"))

    # closing -----------------------------------------------------------------

    async def close(self) -> None:
        """Unsubscribe, stop the subscriber and close both connections."""
        subscriber = self._subscriber
        if subscriber is not None and self._connected.is_set():
            if self.patterns:
                subscriber.write(encode_command(b"PUNSUBSCRIBE", *self.patterns))
            if self.channels:
                subscriber.write(encode_command(b"UNSUBSCRIBE", *self.channels))
            await asyncio.sleep(0)  # let the flush go out
        await self._stop()
        if self._publisher is not None:
            self._publisher.close()
            self._publisher = None
