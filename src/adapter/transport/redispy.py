"""Classic pub/sub on redis-py clients: for ``rediss://`` (``valkeys://``) URLs,
``redis_options``, or a client.

Its subscriber is a single connection shared by every namespace, so
``PUBSUB NUMSUB`` counts one per server exactly as Node's adapter does.  When
the connection drops it reconnects by itself (see :class:`SubscriberBase`)
and subscribes again to everything.  An idle connection is checked with
``PING`` so a half-open socket is noticed.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.exceptions import AuthenticationError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .errors import RedisRefusedError, auth_refused, info_field, is_refusal
from .limits import MessageSizeLimit
from .subscriber import SubscriberBase
from .subscription_book import logger
from .urls import redis_py_url

_COMMAND_NAMED = re.compile(r"'([\w|-]+)' command")


def reply_text(exc: BaseException) -> str:
    """A redis-py error as Redis wrote it (redis-py strips the code: ``NOPERM ...``)."""
    code = getattr(exc, "status_code", None)
    return f"{code} {exc}" if code else str(exc)


def _setup_refusal(exc: ResponseError | AuthenticationError, username: str | None
                   ) -> RedisRefusedError | None:
    """The refusal a redis-py connect raised (AUTH, or SELECT... the ACL rules lack), if any."""
    text = reply_text(exc)
    if isinstance(exc, AuthenticationError) and "NOAUTH" not in text:
        return auth_refused(text, username)
    if is_refusal(text):
        named = _COMMAND_NAMED.search(text)
        return RedisRefusedError(named.group(1) if named else "the connection's setup", (), text)
    return None


def _numsub_count(reply: Any) -> int:
    """The count in redis-py's ``PUBSUB NUMSUB`` reply for one channel."""
    return int(reply[0][1]) if reply else 0


class RedisPubSub(SubscriberBase, MessageSizeLimit):
    """Classic Redis pub/sub (PUBLISH, SUBSCRIBE, PSUBSCRIBE) on redis-py clients.

    :param publisher: the ``redis.asyncio.Redis`` client used for PUBLISH and
                      PUBSUB NUMSUB.
    :param subscriber: the client whose pool gives the subscriber connection
                       (may be the same client as ``publisher``).
    :param owns_clients: close both clients in :meth:`close`.
    :param confirm_timeout: seconds to wait for Redis to confirm a
                            subscription before ``subscribe`` raises
                            ``TimeoutError`` (the subscription is still kept
                            and made on the next reconnect); a refusal raises
                            :class:`~.errors.RedisRefusedError` at once.
    :param idle_ping_interval: seconds of silence after which the subscriber
                               sends ``PING``; no answer within the same time
                               means the connection is dead.
    """

    #: redis-py reads a whole message before the adapter sees it: the size is checked after
    checks_after_reading = True
    #: NUMSUB and PUBLISH in one pipeline (see :meth:`count_and_publish`)
    counts_and_publishes = True

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
        self._silenced = False
        #: set while reading is not paused (see ``pause_reading``)
        self._readable = asyncio.Event()
        self._readable.set()

    @classmethod
    def from_url(cls, url: str, **redis_options: Any) -> RedisPubSub:
        """Create the two clients from a ``redis://``, ``rediss://``, ``unix://``,
        ``valkey://`` or ``valkeys://`` URL.

        ``redis_options`` go to ``redis.asyncio.Redis.from_url`` for both.
        Raises ``ValueError``, naming the accepted schemes, for another URL.
        """
        url = redis_py_url(url)
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
            # no retry at all, whatever redis_options say: the session loop reconnects
            # and subscribes again.  A retry that catches errors makes redis-py reconnect
            # inside the read that failed before it raises (newer redis-py, even with 0
            # retries): that connection subscribes nothing, and until its handshake is
            # answered (CLIENT SETINFO waits while Redis 7.2+ or Valkey is paused, a
            # connect to an unreachable host waits for its timeout) the lost connection
            # still counts as up
            "retry": Retry(NoBackoff(), 0, supported_errors=()),
            "retry_on_error": [],
            "retry_on_timeout": False,
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
        return _numsub_count(await self.publisher.pubsub_numsub(channel))

    async def count_and_publish(self, channel: bytes, data: bytes) -> int:
        """``PUBSUB NUMSUB channel`` and ``PUBLISH channel data`` in one pipeline (one
        round trip, not a transaction); return the count.  Raises when either fails."""
        pipeline = self.publisher.pipeline(transaction=False)
        pipeline.pubsub_numsub(channel)
        pipeline.publish(channel, data)
        counted, _published = await pipeline.execute()
        return _numsub_count(counted)

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
        self._sent_command(kind, names)
        await self._pubsub.execute_command(kind.decode().upper(), *names)

    def _username(self) -> str | None:
        pool = getattr(self.subscriber, "connection_pool", None)
        kwargs = getattr(pool, "connection_kwargs", None) or {}
        return kwargs.get("username") or None

    async def _buffer_limit_disconnections(self) -> int | None:
        """Redis' ``client_output_buffer_limit_disconnections`` (``INFO stats``).

        Asked only without an ACL username (see ``RawPubSub``); None otherwise.
        """
        if self._username() is not None:
            return None
        reply = await asyncio.wait_for(self.publisher.info("stats"), 5)
        if isinstance(reply, dict):
            value = reply.get("client_output_buffer_limit_disconnections")
            return None if value is None else int(value)
        return info_field(reply, b"client_output_buffer_limit_disconnections")

    async def _session(self) -> None:
        pubsub = self.subscriber.pubsub()
        watchdog: asyncio.Task[None] | None = None
        self._silenced = False
        try:
            try:
                await pubsub.connect()
            except (ResponseError, AuthenticationError) as exc:
                refusal = _setup_refusal(exc, self._username())
                if refusal is None:
                    raise
                raise refusal from None
            if self.patterns:
                patterns = list(self.patterns)
                self._sent_command(b"psubscribe", patterns)
                await pubsub.execute_command("PSUBSCRIBE", *patterns)
            if self.channels:
                channels = list(self.channels)
                self._sent_command(b"subscribe", channels)
                await pubsub.execute_command("SUBSCRIBE", *channels)
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

    def _reading_switched(self) -> None:
        if self.reading_paused:
            self._readable.clear()
        else:
            self._last_activity = asyncio.get_running_loop().time()
            self._readable.set()

    async def _read(self, pubsub: Any) -> None:
        loop = asyncio.get_running_loop()
        readable = self._readable
        while True:
            if not readable.is_set():
                await readable.wait()
            try:
                response = await pubsub.parse_response(block=True)
            except (ResponseError, AuthenticationError) as exc:  # read whole: it goes on
                self._last_activity = loop.time()
                self._refused_reply(reply_text(exc))
                continue
            except (RedisConnectionError, OSError):
                if not self._silenced:
                    self._lost_by_peer = True  # Redis (or the network) closed it
                raise
            self._last_activity = loop.time()
            if isinstance(response, list) and response:
                self._dispatch(response)
            elif isinstance(response, Exception):  # NOAUTH comes back, not raised
                self._refused_reply(reply_text(response))
            elif response in (b"PONG", "PONG"):  # a PING while nothing is subscribed
                self._answered(b"ping", None)

    async def _watch(self, pubsub: Any) -> None:
        """Ping an idle subscriber; drop the connection if Redis stays silent."""
        loop = asyncio.get_running_loop()
        interval = self.idle_ping_interval
        while True:
            await asyncio.sleep(interval)
            idle = loop.time() - self._last_activity
            if idle < interval or self.reading_paused:
                continue
            if idle >= 2 * interval:
                logger.warning("Redis subscriber silent for %.0fs; reconnecting", idle)
                self._silenced = True
                connection = pubsub.connection
                if connection is not None:
                    await connection.disconnect()
                return
            try:
                self._sent_command(b"ping", [])
                await pubsub.execute_command("PING")
            except Exception as exc:
                logger.debug("PING failed: %r", exc)


__all__ = ["RedisPubSub"]
