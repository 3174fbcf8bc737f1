"""The Redis connection layer: one publisher and one subscriber per server.

The adapter talks to Redis only through :class:`PubSubConnection`'s small
interface (``subscribe``/``psubscribe``/``publish``/``numsub``/``close`` and
an ``on_message(pattern, channel, data)`` callback), so Redis Cluster,
sharded pub/sub or Sentinel can be plugged in by another implementation of
the same interface.

:class:`RedisPubSub` is the classic implementation.  Its subscriber is a
single connection shared by every namespace, so ``PUBSUB NUMSUB`` counts one
per server exactly as Node's adapter does.  When the connection drops it
reconnects by itself (50 ms, doubling to at most 1 s between attempts, so the
deaf window never grows past a second of Redis being back) and subscribes
again to everything.  An idle connection is checked with ``PING`` so a
half-open socket is noticed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

MessageHandler = Callable[[bytes | None, bytes, bytes], None]
"""``on_message(pattern, channel, data)``; ``pattern`` is None for SUBSCRIBE."""

logger = logging.getLogger("socketio_redis_adapter")


class PubSubConnection(Protocol):
    """What the adapter needs from Redis.

    ``publish`` waits for Redis' reply and returns the number of receivers;
    ``post`` (used for broadcasts) may return as soon as the PUBLISH is
    queued, reporting a later failure by logging and counting it.  Both
    raise when Redis cannot be reached.
    """

    on_message: MessageHandler

    async def subscribe(self, *channels: bytes) -> None: ...

    async def unsubscribe(self, *channels: bytes) -> None: ...

    async def psubscribe(self, *patterns: bytes) -> None: ...

    async def punsubscribe(self, *patterns: bytes) -> None: ...

    async def publish(self, channel: bytes, data: bytes) -> int: ...

    async def post(self, channel: bytes, data: bytes) -> None: ...

    async def numsub(self, channel: bytes) -> int: ...

    async def close(self) -> None: ...


def _ignore_message(pattern: bytes | None, channel: bytes, data: bytes) -> None:
    return None


_CONFIRMATIONS = frozenset((b"subscribe", b"psubscribe", b"unsubscribe", b"punsubscribe"))


class SubscriberBase:
    """What every subscriber shares: the subscriptions it must hold, the
    waiters for Redis' confirmations, dispatching, and the reconnect loop.

    Subclasses implement :meth:`_session` (connect, subscribe to everything,
    call :meth:`_session_up`, serve until the connection is lost) and
    :meth:`_send` (send a (P)(UN)SUBSCRIBE on the live connection).
    """

    min_reconnect_delay = 0.05
    max_reconnect_delay = 1.0

    def __init__(self, confirm_timeout: float, idle_ping_interval: float) -> None:
        self.confirm_timeout = confirm_timeout
        self.idle_ping_interval = idle_ping_interval
        self.on_message: MessageHandler = _ignore_message
        self.channels: set[bytes] = set()
        self.patterns: set[bytes] = set()
        #: how many times the subscriber connection was lost
        self.reconnects = 0
        #: exceptions raised by ``on_message`` (logged, never fatal)
        self.handler_errors = 0
        self._connected = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None
        self._confirmations: dict[tuple[bytes, bytes], list[asyncio.Future[None]]] = {}
        self._closed = False
        self._was_up = False

    @property
    def connected(self) -> bool:
        """True while the subscriber connection is up and subscribed."""
        return self._connected.is_set()

    async def wait_connected(self, timeout: float) -> None:
        """Wait until the subscriber is connected; raise ``TimeoutError``."""
        await asyncio.wait_for(self._connected.wait(), timeout)

    async def subscribe(self, *channels: bytes) -> None:
        await self._add(b"subscribe", self.channels, channels)

    async def psubscribe(self, *patterns: bytes) -> None:
        await self._add(b"psubscribe", self.patterns, patterns)

    async def unsubscribe(self, *channels: bytes) -> None:
        await self._remove(b"unsubscribe", self.channels, channels)

    async def punsubscribe(self, *patterns: bytes) -> None:
        await self._remove(b"punsubscribe", self.patterns, patterns)

    async def _send(self, kind: bytes, names: list[bytes]) -> None:
        raise NotImplementedError

    async def _session(self) -> None:
        raise NotImplementedError

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
        elif self._connected.is_set():
            try:
                await self._send(kind, fresh)
            except Exception as exc:  # the reconnect subscribes again
                logger.debug("%s failed, will retry on reconnect: %r", kind, exc)
        await asyncio.wait_for(asyncio.gather(*waiters), self.confirm_timeout)

    async def _remove(self, kind: bytes, names: set[bytes], old: Iterable[bytes]) -> None:
        gone = [name for name in old if name in names]
        if not gone:
            return
        names.difference_update(gone)
        if self._connected.is_set():
            try:
                await self._send(kind, gone)
            except Exception as exc:
                logger.debug("%s failed: %r", kind, exc)

    def _dispatch(self, reply: Any) -> None:
        """Handle one reply of the subscriber connection."""
        try:
            kind = reply[0]
            if kind == b"pmessage":
                self.on_message(reply[1], reply[2], reply[3])
            elif kind == b"message":
                self.on_message(None, reply[1], reply[2])
            elif kind in _CONFIRMATIONS:
                for future in self._confirmations.pop((kind, reply[1]), ()):
                    if not future.done():
                        future.set_result(None)
        except Exception:
            self.handler_errors += 1
            logger.exception("error while handling a Redis message")

    def _session_up(self) -> None:
        self._was_up = True
        self._connected.set()

    async def _run(self) -> None:
        delay = self.min_reconnect_delay
        while not self._closed:
            self._was_up = False
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not self._closed:
                    logger.warning("Redis subscriber connection failed: %r", exc)
            finally:
                self._connected.clear()
            if self._closed:
                break
            if self._was_up:
                delay = self.min_reconnect_delay
            self.reconnects += 1
            logger.warning("Redis subscriber disconnected; reconnecting in %.2fs", delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.max_reconnect_delay)

    async def _stop(self) -> None:
        """Stop the reconnect loop and drop every pending confirmation."""
        self._closed = True
        self.channels.clear()
        self.patterns.clear()
        if self._reader is not None:
            self._reader.cancel()
            try:
                await self._reader
            except (asyncio.CancelledError, Exception):
                pass
            self._reader = None
        for futures in self._confirmations.values():
            for future in futures:
                if not future.done():
                    future.cancel()
        self._confirmations.clear()


class RedisPubSub(SubscriberBase):
    """Classic Redis pub/sub (PUBLISH, SUBSCRIBE, PSUBSCRIBE) on redis-py clients.

    :param publisher: the ``redis.asyncio.Redis`` client used for PUBLISH and
                      PUBSUB NUMSUB.
    :param subscriber: the client whose pool gives the subscriber connection
                       (may be the same client as ``publisher``).
    :param owns_clients: close both clients in :meth:`close`.
    :param confirm_timeout: seconds to wait for Redis to confirm a
                            subscription before ``subscribe`` raises
                            ``TimeoutError`` (the subscription is still kept
                            and made on the next reconnect).
    :param idle_ping_interval: seconds of silence after which the subscriber
                               sends ``PING``; no answer within the same time
                               means the connection is dead.
    """

    def __init__(
        self,
        publisher: Any,
        subscriber: Any = None,
        *,
        owns_clients: bool = False,
        confirm_timeout: float = 5.0,
        idle_ping_interval: float = 15.0,
    ) -> None:
        super().__init__(confirm_timeout, idle_ping_interval)
        self.publisher = publisher
        self.subscriber = subscriber if subscriber is not None else publisher
        self.owns_clients = owns_clients
        self._pubsub: Any = None
        self._last_activity = 0.0

    @classmethod
    def from_url(cls, url: str, **redis_options: Any) -> RedisPubSub:
        """Create the two clients from a ``redis://``, ``rediss://`` or ``unix://`` URL.

        ``redis_options`` go to ``redis.asyncio.Redis.from_url`` for both.
        """
        common: dict[str, Any] = {
            "protocol": 2,
            "socket_connect_timeout": 5,
            "health_check_interval": 0,
        }
        if not url.startswith("unix:"):  # Unix sockets take no keepalive option
            common["socket_keepalive"] = True
        publisher_options = {
            **common,
            "socket_timeout": 5,
            "retry": Retry(ExponentialBackoff(cap=0.5, base=0.02), 3),
            "retry_on_error": [RedisConnectionError, RedisTimeoutError, OSError],
            **redis_options,
            "decode_responses": False,
        }
        subscriber_options = {
            **common,
            "socket_timeout": None,
            **redis_options,
            "retry": Retry(NoBackoff(), 0),
            "decode_responses": False,
        }
        publisher = aioredis.Redis.from_url(url, **publisher_options)
        subscriber = aioredis.Redis.from_url(url, **subscriber_options)
        return cls(publisher, subscriber, owns_clients=True)

    async def publish(self, channel: bytes, data: bytes) -> int:
        """PUBLISH and return the number of receivers; raise on failure."""
        return int(await self.publisher.publish(channel, data))

    async def post(self, channel: bytes, data: bytes) -> None:
        """PUBLISH a broadcast (here the same as :meth:`publish`)."""
        await self.publish(channel, data)

    async def numsub(self, channel: bytes) -> int:
        """Return ``PUBSUB NUMSUB channel``: the number of subscribed servers."""
        reply = await self.publisher.pubsub_numsub(channel)
        return int(reply[0][1]) if reply else 0

    async def close(self) -> None:
        """Unsubscribe, stop the reader and close the clients we created."""
        pubsub = self._pubsub
        if pubsub is not None and self._connected.is_set():
            try:
                if self.patterns:
                    await asyncio.wait_for(pubsub.punsubscribe(*self.patterns), 2)
                if self.channels:
                    await asyncio.wait_for(pubsub.unsubscribe(*self.channels), 2)
            except Exception as exc:  # the connection may already be gone
                logger.debug("unsubscribe on close failed: %r", exc)
        await self._stop()
        if self.owns_clients:
            await self.publisher.aclose()
            if self.subscriber is not self.publisher:
                await self.subscriber.aclose()

    async def _send(self, kind: bytes, names: list[bytes]) -> None:
        await self._pubsub.execute_command(kind.decode().upper(), *names)

    async def _session(self) -> None:
        pubsub = self.subscriber.pubsub()
        watchdog: asyncio.Task[None] | None = None
        try:
            await pubsub.connect()
            if self.patterns:
                await pubsub.execute_command("PSUBSCRIBE", *self.patterns)
            if self.channels:
                await pubsub.execute_command("SUBSCRIBE", *self.channels)
            self._pubsub = pubsub
            self._last_activity = asyncio.get_running_loop().time()
            self._session_up()
            watchdog = asyncio.ensure_future(self._watch(pubsub))
            await self._read(pubsub)
        finally:
            self._pubsub = None
            if watchdog is not None:
                watchdog.cancel()
            try:
                await asyncio.shield(pubsub.aclose())
            except BaseException:  # noqa: S110 - best effort on a dead connection
                pass

    async def _read(self, pubsub: Any) -> None:
        loop = asyncio.get_running_loop()
        while True:
            response = await pubsub.parse_response(block=True)
            self._last_activity = loop.time()
            if isinstance(response, list) and response:
                self._dispatch(response)

    async def _watch(self, pubsub: Any) -> None:
        """Ping an idle subscriber; drop the connection if Redis stays silent."""
        loop = asyncio.get_running_loop()
        interval = self.idle_ping_interval
        while True:
            await asyncio.sleep(interval)
            idle = loop.time() - self._last_activity
            if idle < interval:
                continue
            if idle >= 2 * interval:
                logger.warning("Redis subscriber silent for %.0fs; reconnecting", idle)
                connection = pubsub.connection
                if connection is not None:
                    await connection.disconnect()
                return
            try:
                await pubsub.execute_command("PING")
            except Exception as exc:
                logger.debug("PING failed: %r", exc)
