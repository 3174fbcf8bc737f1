"""The lean default transport: classic pub/sub on two raw RESP2 connections.

The adapter's hot paths are a PUBLISH per emit and a message per broadcast
received.  redis-py's generic client costs several microseconds on each
(command objects, retries, response callbacks, message dicts).  Here a
publish is one preformatted byte string on a connection that batches writes
per event-loop iteration (:mod:`.resp_connection`), and the subscriber hands
every message straight from the fast path's ``PushParser`` to ``on_message``
in ``data_received``, with no task, future or dict per message; pattern
messages the channel filter rejects are dropped before they become objects.
Measured against the same adapter on redis-py (``RedisPubSub``,
``benchmarks/scenarios.py --only transport``): 4.7 against 134.6 µs of CPU
per emit, 0.26 against 5.48 µs per message for a room with no local socket.

:class:`RawPubSub` serves ``redis://``, ``valkey://`` and ``unix://`` URLs,
and Redis Cluster and Sentinel URLs (through a :class:`~.topology.Topology`), with the
reconnect policy of :class:`~.subscriber.SubscriberBase`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, cast

from ..fastpath import PushParser, RespError
from .endpoints import Address, open_link
from .errors import RedisRefusedError, info_field
from .limits import MessageSizeLimit
from .links import NodeLinks, pubsub_count
from .resp_connection import RespProtocol, encode_command, encode_publish
from .subscriber import SubscriberBase
from .subscription_book import logger
from .topology import Topology
from .urls import scheme_of, topology_from_url


class RawPubSub(SubscriberBase, MessageSizeLimit):
    """Classic pub/sub on raw connections: one subscriber, one publisher.

    :param url: a ``redis://``, ``rediss://``, ``unix://``,
                ``redis+cluster://`` or ``redis+sentinel://`` URL, or its
                ``valkey`` spelling (see
                :mod:`~socketio_redis_adapter.transport.urls`), or a ready
                :class:`~socketio_redis_adapter.transport.topology.Topology`.
    :param connect_timeout: seconds allowed to connect and authenticate
                            (for a URL).
    :param confirm_timeout: seconds to wait for Redis to confirm a
                            subscription before ``subscribe`` raises
                            ``TimeoutError`` (it is still made on reconnect);
                            a refusal raises
                            :class:`~.errors.RedisRefusedError` at once.
    :param idle_ping_interval: seconds of silence after which the subscriber
                               sends ``PING``; no answer within the same time
                               means the connection is dead.

    On a Redis Cluster it publishes and subscribes on one primary (Redis
    forwards PUBLISH to every node) and sums ``PUBSUB NUMSUB`` over every
    node, as Node's adapter does; under Sentinel it follows the master.
    After a failed connection it learns the topology again.
    """

    #: NUMSUB and PUBLISH in one write (see :meth:`count_and_publish`)
    counts_and_publishes = True
    #: seconds :meth:`close` waits at most for Redis to confirm the publishes posted
    close_timeout = 2.0

    def __init__(
        self,
        url: str | Topology,
        *,
        connect_timeout: float = 5.0,
        confirm_timeout: float = 5.0,
        idle_ping_interval: float = 15.0,
    ) -> None:
        topology = (
            url if isinstance(url, Topology)
            else topology_from_url(url, socket_connect_timeout=connect_timeout)
        )
        super().__init__(confirm_timeout, idle_ping_interval)
        self.topology = topology
        self._links = NodeLinks(topology.settings)
        self._publisher: RespProtocol | None = None
        self._subscriber: RespProtocol | None = None
        self._subscriber_address: Address | None = None

    @classmethod
    def supports(cls, url: str) -> bool:
        """True for the URLs this class handles without redis-py (plain TCP and Unix sockets)."""
        return scheme_of(url) in ("redis", "valkey", "unix")

    # publishing ----------------------------------------------------------

    async def _publisher_connection(self) -> RespProtocol:
        """The publisher connection (to the primary; learned again when it fails)."""
        if self._closed:
            raise ConnectionError("the connection is closed")
        await self.topology.ensure()
        try:
            publisher = await self._links.get(self.topology.primary())
        except (OSError, asyncio.TimeoutError):
            await self.topology.refresh()  # the primary may have moved (failover)
            publisher = await self._links.get(self.topology.primary())
        self._publisher = publisher
        return publisher

    async def _live_publisher(self) -> RespProtocol:
        """The publisher connection in use while it is connected, else a new one."""
        publisher = self._publisher
        if publisher is None or publisher.transport is None:
            publisher = await self._publisher_connection()
        return publisher

    async def publish(self, channel: bytes, data: bytes) -> int:
        """PUBLISH and return the number of receivers; raise on failure."""
        publisher = await self._live_publisher()
        return int(await publisher.request(encode_publish(channel, data)))

    async def post(self, channel: bytes, data: bytes) -> None:
        """PUBLISH without waiting for Redis' reply (publishes batch per loop
        iteration).  Raises when Redis cannot be reached; a PUBLISH that Redis
        refuses, or that a dropped connection leaves unconfirmed, is logged
        and counted in :attr:`publish_failures`.  Waits while the write
        buffer is full, so a slow Redis slows emitters down instead of
        growing memory.
        """
        publisher = await self._live_publisher()
        if publisher.post(encode_publish(channel, data)):
            await publisher.drain()

    @property
    def on_lost_posts(self) -> Callable[[list[tuple[bytes, bytes]]], None] | None:
        """Takes the publishes a lost connection left unconfirmed (see ``NodeLinks``)."""
        return self._links.on_lost_posts

    @on_lost_posts.setter
    def on_lost_posts(self, handler: Callable[[list[tuple[bytes, bytes]]], None] | None) -> None:
        self._links.on_lost_posts = handler

    @property
    def publish_failures(self) -> int:
        """Posted publishes that failed or may be lost, on every connection so far."""
        return self._links.failures

    async def command(self, *args: bytes | str | int) -> Any:
        """Run one command on the publisher connection and return its reply."""
        publisher = await self._publisher_connection()
        return await publisher.request(encode_command(*args))

    async def count_and_publish(self, channel: bytes, data: bytes) -> int:
        """``PUBSUB NUMSUB channel`` and ``PUBLISH channel data`` in one write; return
        the count (one round trip for a request to the other servers; a cluster
        counts on every node first, then publishes)."""
        if self.topology.cluster:
            count = await self.numsub(channel)
            await self.publish(channel, data)
            return count
        publisher = await self._live_publisher()
        counted = publisher.request(encode_command("PUBSUB", "NUMSUB", channel))
        published = publisher.request(encode_publish(channel, data))
        try:
            count = pubsub_count(await counted)
        finally:
            await published  # raises if the PUBLISH failed, as publish() does
        return count

    async def numsub(self, channel: bytes) -> int:
        """Return ``PUBSUB NUMSUB channel``: the number of subscribed servers.

        Summed over every node of a cluster (a subscriber is counted on the
        node it is connected to).
        """
        if not self.topology.cluster:
            return pubsub_count(await self.command("PUBSUB", "NUMSUB", channel))
        await self.topology.ensure()
        return await self._links.pubsub_sum(self.topology.nodes(), "NUMSUB", channel)

    # subscribing -----------------------------------------------------------

    async def _send(self, kind: bytes, names: list[bytes]) -> None:
        if self._subscriber is not None:
            self._subscriber.write(encode_command(kind.upper(), *names))
            self._sent_command(kind, names)

    async def _session(self) -> None:
        await self.topology.ensure()
        address = self.topology.primary()
        try:
            subscriber = await open_link(address, self.topology.settings)
        except RedisRefusedError:
            raise  # a wrong password is no failover
        except (OSError, asyncio.TimeoutError):
            await self.topology.refresh()  # the master may have moved (failover)
            if self.topology.primary() == address:
                raise
            # it moved: go there now rather than after the reconnect delay
            subscriber = await open_link(self.topology.primary(), self.topology.settings)
        try:
            subscriber.enter_push_mode(
                PushParser(self.on_message, self._on_reply, self._on_handler_error,
                           cast(Any, self.channel_filter),
                           self.max_message_size, self._on_oversized)
            )
            if self.patterns:
                patterns = list(self.patterns)
                subscriber.write(encode_command(b"PSUBSCRIBE", *patterns))
                self._sent_command(b"psubscribe", patterns)
            if self.channels:
                channels = list(self.channels)
                subscriber.write(encode_command(b"SUBSCRIBE", *channels))
                self._sent_command(b"subscribe", channels)
            self._subscriber = subscriber
            self._subscriber_address = self.topology.primary()
            if self.reading_paused:
                subscriber.pause_reading()
            self._session_up()
            await self._watch(subscriber)
            if subscriber.lost.done():
                self._lost_by_peer = True  # Redis (or the network) closed it, not our watchdog
        finally:
            self._subscriber = None
            subscriber.close()

    def _reading_switched(self) -> None:
        subscriber = self._subscriber
        if subscriber is not None:
            if self.reading_paused:
                subscriber.pause_reading()
            else:
                subscriber.resume_reading()

    def _on_reply(self, reply: Any) -> None:
        if isinstance(reply, RespError):
            self._refused_reply(reply)
        else:
            self._dispatch(reply)

    async def _buffer_limit_disconnections(self) -> int | None:
        """Redis' ``client_output_buffer_limit_disconnections`` on the subscriber's node.

        Asked only without an ACL username (an ACL user's rules need not allow
        ``INFO``, and a refusal would fill ``ACL LOG``); None otherwise, or
        when ``INFO`` lacks the field (Redis 7.0 has none).
        """
        address = self._subscriber_address
        if self.topology.settings.username or address is None:
            return None
        reply = await asyncio.wait_for(self._links.command(address, "INFO", "stats"),
                                       self.topology.settings.connect_timeout)
        return info_field(reply, b"client_output_buffer_limit_disconnections")

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
            if subscriber.reading_paused:
                continue  # unread on purpose: silence proves nothing
            idle = loop.time() - subscriber.last_activity
            if idle >= 2 * interval:
                logger.warning("Redis subscriber silent for %.0fs; reconnecting", idle)
                return
            if idle >= interval:
                subscriber.write(encode_command(b"PING"))
                self._sent_command(b"ping", [])

    # closing -----------------------------------------------------------------

    async def close(self) -> None:
        """Unsubscribe, stop the subscriber and close both connections, once Redis
        confirmed the publishes posted (:attr:`close_timeout` seconds at most): only
        those still unconfirmed then are counted in :attr:`publish_failures` and
        logged, before this returns."""
        subscriber = self._subscriber
        # the connection may be lost before the reader notices: nothing to unsubscribe then
        if subscriber is not None and self._connected.is_set() and subscriber.connected:
            if self.patterns:
                subscriber.write(encode_command(b"PUNSUBSCRIBE", *self.patterns))
            if self.channels:
                subscriber.write(encode_command(b"UNSUBSCRIBE", *self.channels))
            await asyncio.sleep(0)  # let the flush go out
        await self._stop()
        await self._links.close_when_answered(self.close_timeout)
        self._publisher = None


__all__ = ["RawPubSub"]
