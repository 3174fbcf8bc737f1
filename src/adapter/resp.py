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
from collections.abc import Callable, Iterable
from typing import Any

import hiredis
from redis.connection import parse_url as _parse_url

from .connection import MessageHandler

logger = logging.getLogger("socketio_redis_adapter")
parse_url: Callable[[str], dict[str, Any]] = _parse_url

_PMESSAGE = b"pmessage"
_MESSAGE = b"message"
_CONFIRMATIONS = frozenset((b"subscribe", b"psubscribe", b"unsubscribe", b"punsubscribe"))


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

    Replies resolve the futures of the commands in order.  Once
    :meth:`enter_push_mode` is called (after SUBSCRIBE), every reply goes to
    the push handler instead.
    """

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._reader = hiredis.Reader()
        self._waiters: collections.deque[asyncio.Future[Any]] = collections.deque()
        self._pending: list[bytes] = []
        self._push: Callable[[Any], None] | None = None
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.last_activity = 0.0

    # asyncio.Protocol ---------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        reader = self._reader
        reader.feed(data)
        try:
            reply = reader.gets()
        except hiredis.ProtocolError as exc:
            self._protocol_error(exc)
            return
        push = self._push
        while reply is not False:
            if push is not None:
                push(reply)
            elif self._waiters:
                waiter = self._waiters.popleft()
                if not waiter.done():
                    if isinstance(reply, hiredis.ReplyError):
                        waiter.set_exception(reply)
                    else:
                        waiter.set_result(reply)
            try:
                reply = reader.gets()
            except hiredis.ProtocolError as exc:
                self._protocol_error(exc)
                return
            push = self._push
        self.last_activity = asyncio.get_running_loop().time()

    def connection_lost(self, exc: Exception | None) -> None:
        error = ConnectionError(f"Redis connection lost: {exc!r}" if exc else "Redis closed")
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(error)
        if not self.lost.done():
            self.lost.set_result(None)
        self.transport = None

    def _protocol_error(self, exc: Exception) -> None:
        logger.error("Redis protocol error: %r", exc)
        if self.transport is not None:
            self.transport.abort()

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

    def request(self, payload: bytes) -> asyncio.Future[Any]:
        """Send a command and return the future of its reply."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.write(payload)
        self._waiters.append(future)
        return future

    def enter_push_mode(self, handler: Callable[[Any], None]) -> None:
        self._push = handler

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
    _, protocol = await asyncio.wait_for(connect, timeout)
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


class RawPubSub:
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

    min_reconnect_delay = 0.05
    max_reconnect_delay = 1.0

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
        self.options = options
        self.connect_timeout = connect_timeout
        self.confirm_timeout = confirm_timeout
        self.idle_ping_interval = idle_ping_interval
        self.on_message: MessageHandler = lambda pattern, channel, data: None
        self.channels: set[bytes] = set()
        self.patterns: set[bytes] = set()
        #: how many times the subscriber connection was lost
        self.reconnects = 0
        #: exceptions raised by ``on_message`` (logged, never fatal)
        self.handler_errors = 0
        self._publisher: RespProtocol | None = None
        self._publisher_lock: asyncio.Lock | None = None
        self._subscriber: RespProtocol | None = None
        self._connected = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None
        self._confirmations: dict[tuple[bytes, bytes], list[asyncio.Future[None]]] = {}
        self._closed = False

    @classmethod
    def supports(cls, url: str) -> bool:
        """True for the URLs this class handles (plain TCP and Unix sockets)."""
        return url.startswith(("redis://", "unix://"))

    @property
    def connected(self) -> bool:
        """True while the subscriber connection is up and subscribed."""
        return self._connected.is_set()

    async def wait_connected(self, timeout: float) -> None:
        await asyncio.wait_for(self._connected.wait(), timeout)

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
                publisher = await open_connection(self.options, self.connect_timeout)
                self._publisher = publisher
        return publisher

    async def publish(self, channel: bytes, data: bytes) -> int:
        """PUBLISH and return the number of receivers; raise on failure."""
        publisher = self._publisher
        if publisher is None or publisher.transport is None:
            publisher = await self._publisher_connection()
        return int(await publisher.request(encode_publish(channel, data)))

    async def command(self, *args: bytes | str | int) -> Any:
        """Run one command on the publisher connection and return its reply."""
        publisher = await self._publisher_connection()
        return await publisher.request(encode_command(*args))

    async def numsub(self, channel: bytes) -> int:
        reply = await self.command("PUBSUB", "NUMSUB", channel)
        return int(reply[1]) if reply and len(reply) > 1 else 0

    # subscribing -----------------------------------------------------------

    async def subscribe(self, *channels: bytes) -> None:
        await self._add(b"subscribe", self.channels, channels)

    async def psubscribe(self, *patterns: bytes) -> None:
        await self._add(b"psubscribe", self.patterns, patterns)

    async def unsubscribe(self, *channels: bytes) -> None:
        self._remove(b"UNSUBSCRIBE", self.channels, channels)

    async def punsubscribe(self, *patterns: bytes) -> None:
        self._remove(b"PUNSUBSCRIBE", self.patterns, patterns)

    async def _add(self, kind: bytes, names: set[bytes], new: Iterable[bytes]) -> None:
        if self._closed:
            raise ConnectionError("the connection is closed")
        fresh = [name for name in new if name not in names]
        if not fresh:
            return
        names.update(fresh)
        loop = asyncio.get_running_loop()
        waiters = []
        for name in fresh:
            future: asyncio.Future[None] = loop.create_future()
            self._confirmations.setdefault((kind, name), []).append(future)
            waiters.append(future)
        if self._reader is None or self._reader.done():
            self._reader = asyncio.ensure_future(self._run())
        elif self._connected.is_set() and self._subscriber is not None:
            self._subscriber.write(encode_command(kind.upper(), *fresh))
        await asyncio.wait_for(asyncio.gather(*waiters), self.confirm_timeout)

    def _remove(self, command: bytes, names: set[bytes], old: Iterable[bytes]) -> None:
        gone = [name for name in old if name in names]
        if not gone:
            return
        names.difference_update(gone)
        subscriber = self._subscriber
        if subscriber is not None and self._connected.is_set():
            subscriber.write(encode_command(command, *gone))

    def _on_push(self, reply: Any) -> None:
        try:
            kind = reply[0]
            if kind == _PMESSAGE:
                self.on_message(reply[1], reply[2], reply[3])
            elif kind == _MESSAGE:
                self.on_message(None, reply[1], reply[2])
            elif kind in _CONFIRMATIONS:
                for future in self._confirmations.pop((kind, reply[1]), ()):
                    if not future.done():
                        future.set_result(None)
        except Exception:
            self.handler_errors += 1
            logger.exception("error while handling a Redis message")

    async def _run(self) -> None:
        delay = self.min_reconnect_delay
        while not self._closed:
            subscriber: RespProtocol | None = None
            try:
                subscriber = await open_connection(self.options, self.connect_timeout)
                subscriber.enter_push_mode(self._on_push)
                if self.patterns:
                    subscriber.write(encode_command(b"PSUBSCRIBE", *self.patterns))
                if self.channels:
                    subscriber.write(encode_command(b"SUBSCRIBE", *self.channels))
                self._subscriber = subscriber
                self._connected.set()
                delay = self.min_reconnect_delay
                await self._watch(subscriber)
            except asyncio.CancelledError:
                if subscriber is not None:
                    subscriber.close()
                raise
            except Exception as exc:
                if not self._closed:
                    logger.warning("cannot connect the Redis subscriber: %r", exc)
            finally:
                self._connected.clear()
                self._subscriber = None
            if self._closed:
                break
            self.reconnects += 1
            logger.warning("Redis subscriber disconnected; reconnecting in %.2fs", delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.max_reconnect_delay)

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
                subscriber.close()
                return
            if idle >= interval:
                subscriber.write(encode_command(b"PING"))

    # closing -----------------------------------------------------------------

    async def close(self) -> None:
        """Unsubscribe, stop the subscriber and close both connections."""
        self._closed = True
        subscriber = self._subscriber
        if subscriber is not None and self._connected.is_set():
            if self.patterns:
                subscriber.write(encode_command(b"PUNSUBSCRIBE", *self.patterns))
            if self.channels:
                subscriber.write(encode_command(b"UNSUBSCRIBE", *self.channels))
            await asyncio.sleep(0)  # let the flush go out
        self.channels.clear()
        self.patterns.clear()
        if self._reader is not None:
            self._reader.cancel()
            try:
                await self._reader
            except (asyncio.CancelledError, Exception):
                pass
            self._reader = None
        if subscriber is not None:
            subscriber.close()
        for futures in self._confirmations.values():
            for future in futures:
                if not future.done():
                    future.cancel()
        self._confirmations.clear()
        if self._publisher is not None:
            self._publisher.close()
            self._publisher = None
