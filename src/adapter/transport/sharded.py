"""Sharded pub/sub (SPUBLISH, SSUBSCRIBE) on raw connections, on any topology.

A sharded channel lives on the primary that serves its hash slot.  This
transport keeps one subscriber connection per node it subscribes on, each
read by its own protocol callback (the fast path's ``PushParser``), which
hands every message to ``on_message`` as it is read: no polling, no
round-robin over nodes.  Each channel is subscribed with its own SSUBSCRIBE
(channels of different slots cannot share one).

Subscriptions follow the cluster by themselves: when a node's connection is
lost, when Redis reports that a channel's slot moved (an unsolicited
``sunsubscribe`` or a ``MOVED`` reply), the topology is learned again and
the channels are subscribed where they live now, at once, then retrying
with the :class:`~.reconnect.ReconnectPolicy` every connection uses: 50 ms
doubling to 0.5 s while Redis cannot be reached, to 5 s while it refuses the
connection (AUTH, ACL).  Publishing goes to the slot's primary; a ``MOVED``
reply or a failed connection makes it learn the topology again.  On a
standalone Redis 7 or a Sentinel-watched master every channel lives on the
one primary.

A server without sharded pub/sub (Redis before 7.0) answers ``SSUBSCRIBE``,
``SPUBLISH`` and ``PUBSUB SHARDNUMSUB`` with "unknown command": the transport
then asks its version once (``HELLO``), logs one error and raises
:class:`~.errors.UnsupportedServerError` from every call, without sending
anything again; nothing is retried.  Until Redis has confirmed one sharded
command, ``spost`` waits for the reply of its ``SPUBLISH`` (as ``spublish``
does), so that the first broadcast to such a server raises too.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Callable
from typing import Any, NoReturn

import hiredis

from ..fastpath import PushParser, RespError
from .base import MessageHandler, TransportAbilities
from .drops import DropReport
from .endpoints import Address, open_link
from .errors import (
    RedisRefusedError,
    RefusalLog,
    UnsupportedServerError,
    info_field,
    is_unknown_command,
    server_label,
)
from .limits import MessageSizeLimit
from .links import NodeLinks, pubsub_count
from .reconnect import MAX_DELAY, MAX_REFUSED_DELAY, MIN_DELAY, ReconnectPolicy
from .resp_connection import RespProtocol, encode_command, encode_spublish
from .topology import Topology

logger = logging.getLogger("socketio_redis_adapter")

_REDIRECTS = ("MOVED", "ASK", "CLUSTERDOWN", "TRYAGAIN")


def _is_redirect(error: object) -> bool:
    return str(error).startswith(_REDIRECTS)


def _ignore_message(pattern: bytes | None, channel: bytes, data: bytes, route: Any) -> None:
    return None


class _NodeSubscriber:
    """One subscriber connection to one node and the channels subscribed on it."""

    __slots__ = ("address", "link", "channels", "expected", "watcher", "dropped")

    def __init__(self, address: Address, link: RespProtocol) -> None:
        self.address = address
        self.link = link
        self.channels: set[bytes] = set()
        #: the replies owed, in order: (command, channel)
        self.expected: collections.deque[tuple[bytes, bytes]] = collections.deque()
        self.watcher: asyncio.Task[None] | None = None
        #: the connection ended because Redis (or the network) closed it
        self.dropped = False

    def send(self, command: bytes, channel: bytes) -> None:
        self.link.write(encode_command(command.upper(), channel))
        self.expected.append((command, channel))


class ShardedPubSub(MessageSizeLimit, TransportAbilities):
    """Sharded pub/sub over a :class:`~.topology.Topology` (see the module doc).

    :param topology: where channels live (one server, Sentinel, or Cluster).
    :param confirm_timeout: seconds :meth:`ssubscribe` waits for Redis'
                            confirmation before raising ``TimeoutError`` (the
                            subscription is still kept and retried); a refusal
                            raises :class:`~.errors.RedisRefusedError` at once
                            (a refused SSUBSCRIBE is not kept; a refused AUTH
                            is retried, every 5 s at most).
    :param idle_ping_interval: seconds of silence after which a subscriber
                               connection sends ``PING``; no answer within the
                               same time means the connection is dead.
    """

    #: the :class:`~.reconnect.ReconnectPolicy` delays, as the classic subscribers'
    #: (subscriptions resume within ~0.5 s of Redis being back)
    min_reconnect_delay = MIN_DELAY
    max_reconnect_delay = MAX_DELAY
    max_refused_delay = MAX_REFUSED_DELAY
    #: seconds :meth:`close` waits at most for Redis to confirm the SPUBLISHes posted
    close_timeout = 2.0

    def __init__(
        self, topology: Topology, *, confirm_timeout: float = 5.0,
        idle_ping_interval: float = 15.0,
    ) -> None:
        self.topology = topology
        self.confirm_timeout = confirm_timeout
        self.idle_ping_interval = idle_ping_interval
        self.on_message: MessageHandler = _ignore_message
        #: the channels to hold
        self.channels: set[bytes] = set()
        #: subscriber connections lost so far
        self.reconnects = 0
        #: channels subscribed again, and confirmed by Redis, after Redis or a lost
        #: connection dropped their subscription (a slot moved, a failover)
        self.resubscribed = 0
        #: channels held whose confirmed subscription was dropped, not confirmed again yet
        self._dropped_channels: set[bytes] = set()
        #: exceptions raised by ``on_message`` (logged, never fatal)
        self.handler_errors = 0
        self._links = NodeLinks(topology.settings, self._refused)
        self._subscribers: dict[Address, _NodeSubscriber] = {}
        self._placed: dict[bytes, _NodeSubscriber] = {}
        self._confirmations: dict[bytes, list[asyncio.Future[None]]] = {}
        self._routes: dict[bytes, RespProtocol] = {}
        self._route_generation = -1
        self._stale = False
        self._wake: asyncio.Event | None = None
        self._placer: asyncio.Task[None] | None = None
        #: the placer's delays between attempts (made again when it starts)
        self._policy = self._reconnect_policy()
        self._relearning: asyncio.Task[None] | None = None
        self._closed = False
        self._outage = False
        #: subscriber connections Redis closed, and why
        self.drops = DropReport()
        #: commands Redis refused (AUTH, SSUBSCRIBE...)
        self.refusals = 0
        self._dropped_nodes: set[Address] = set()
        self._refusal: RedisRefusedError | None = None
        self._refusal_log = RefusalLog()
        #: set once the server turned out to have no sharded pub/sub (Redis < 7.0)
        self.unsupported: UnsupportedServerError | None = None
        self._diagnosis: asyncio.Future[UnsupportedServerError] | None = None
        #: Redis confirmed a sharded command (SSUBSCRIBE or SPUBLISH) once: ``spost``
        #: no longer waits for replies
        self._sharded_confirmed = False
        #: SPUBLISHes ``spost`` waited for and Redis refused (NOPERM...)
        self._refused_posts = 0
        #: set by :meth:`pause_reading`: every subscriber connection is left unread
        self.reading_paused = False

    def pause_reading(self) -> None:
        """Stop reading messages on every node (the receiver is behind) until
        :meth:`resume_reading`; new connections start paused meanwhile."""
        self.reading_paused = True
        for subscriber in self._subscribers.values():
            subscriber.link.pause_reading()

    def resume_reading(self) -> None:
        """Read messages again after :meth:`pause_reading`."""
        self.reading_paused = False
        for subscriber in self._subscribers.values():
            subscriber.link.resume_reading()

    # -- subscribing ---------------------------------------------------------

    async def ssubscribe(self, *channels: bytes) -> None:
        """Subscribe to sharded channels; wait until Redis confirms each one."""
        if self._closed:
            raise ConnectionError("the connection is closed")
        if self.unsupported is not None:
            raise self.unsupported
        loop = asyncio.get_running_loop()
        waiters = []
        for channel in channels:
            if channel in self.channels and channel not in self._confirmations:
                continue
            self.channels.add(channel)
            future: asyncio.Future[None] = loop.create_future()
            self._confirmations.setdefault(channel, []).append(future)
            waiters.append(future)
        if not waiters:
            return
        self._kick()
        if self._refusal is not None:  # Redis refuses the connection: say so now
            for future in waiters:
                future.set_exception(self._refusal)
        await asyncio.wait_for(asyncio.gather(*waiters), self.confirm_timeout)
        self._sharded_confirmed = True

    async def sunsubscribe(self, *channels: bytes) -> None:
        """Stop holding sharded channels (SUNSUBSCRIBE where they are subscribed)."""
        for channel in channels:
            if channel not in self.channels:
                continue
            self.channels.discard(channel)
            self._dropped_channels.discard(channel)
            for future in self._confirmations.pop(channel, ()):
                if not future.done():
                    future.cancel()
            subscriber = self._placed.pop(channel, None)
            if subscriber is not None:
                subscriber.channels.discard(channel)
                if subscriber.link.connected:
                    subscriber.send(b"sunsubscribe", channel)

    def _kick(self) -> None:
        """Have the placer subscribe every channel that is not placed yet."""
        if self._wake is None:
            self._wake = asyncio.Event()
        self._wake.set()
        if self._placer is None or self._placer.done():
            self._placer = asyncio.ensure_future(self._place_forever())

    def _reconnect_policy(self) -> ReconnectPolicy:
        return ReconnectPolicy(self.min_reconnect_delay, self.max_reconnect_delay,
                               self.max_refused_delay)

    async def _place_forever(self) -> None:
        assert self._wake is not None
        policy = self._policy = self._reconnect_policy()
        while not self._closed:
            await self._wake.wait()
            self._wake.clear()
            policy.succeeded()  # a new need to place: the first failure waits the least
            while not self._closed:
                waiting = [channel for channel in self.channels if channel not in self._placed]
                if not waiting:
                    break
                try:
                    await self._place(waiting)
                    policy.succeeded()
                    await asyncio.sleep(0)
                except asyncio.CancelledError:
                    raise
                except RedisRefusedError as exc:
                    self._connection_refused(exc, waiting)
                    await asyncio.sleep(policy.failed(refused=True))
                except Exception as exc:
                    self._stale = True
                    self._dropped_nodes.clear()  # not reachable: an outage, not a drop
                    delay = policy.failed(refused=False)
                    logger.warning(
                        "cannot subscribe %d sharded channels yet (%r); retrying in %.2fs",
                        len(waiting), exc, delay,
                    )
                    await asyncio.sleep(delay)

    def _connection_refused(self, refusal: RedisRefusedError, waiting: list[bytes]) -> None:
        """Redis refused a subscriber connection (AUTH...): fail the waiters, keep trying."""
        self._refusal = refusal
        self.refusals += 1
        self._dropped_nodes.clear()
        for channel in waiting:
            for future in self._confirmations.get(channel, ()):
                if not future.done():
                    future.set_exception(refusal)
            if channel in self._confirmations:
                self._confirmations[channel] = []  # still unconfirmed: a new wait waits
        if self._refusal_log.should_log(str(refusal)):
            logger.error("%s (the sharded subscriber keeps trying, every %.0f s at most)",
                         refusal, self.max_refused_delay)

    async def _place(self, channels: list[bytes]) -> None:
        topology = self.topology
        if not topology.known:
            await topology.ensure()
        elif self._stale:
            await topology.refresh()
        self._stale = False
        by_node: dict[Address, list[bytes]] = {}
        for channel in channels:
            by_node.setdefault(topology.node_for(channel), []).append(channel)
        for address, names in by_node.items():
            subscriber = await self._subscriber(address)
            for channel in names:
                if channel in self.channels and channel not in self._placed:
                    subscriber.send(b"ssubscribe", channel)
                    subscriber.channels.add(channel)
                    self._placed[channel] = subscriber

    async def _subscriber(self, address: Address) -> _NodeSubscriber:
        subscriber = self._subscribers.get(address)
        if subscriber is not None and subscriber.link.connected:
            return subscriber
        link = await open_link(address, self.topology.settings)
        if self._closed:
            link.close()
            raise ConnectionError("the connection is closed")
        subscriber = _NodeSubscriber(address, link)
        link.enter_push_mode(PushParser(
            self.on_message, lambda reply: self._on_reply(subscriber, reply), self._handler_failed,
            None, self.max_message_size, self._on_oversized,
        ))
        self._subscribers[address] = subscriber
        if self.reading_paused:
            link.pause_reading()
        subscriber.watcher = asyncio.ensure_future(self._watch(subscriber))
        if self._refusal is not None:
            logger.warning("Redis accepts the sharded subscriber connections again")
            self._refusal = None
            self._refusal_log.reset()
        suspect = address in self._dropped_nodes
        self._dropped_nodes.discard(address)
        self.drops.sample(address, lambda: self._buffer_limit_disconnections(address), suspect,
                          f" to {address}")
        return subscriber

    async def _buffer_limit_disconnections(self, address: Address) -> int | None:
        """Redis' ``client_output_buffer_limit_disconnections`` on ``address``.

        Asked only without an ACL username (an ACL user's rules need not allow
        ``INFO``, and a refusal would fill ``ACL LOG``); None otherwise.
        """
        settings = self.topology.settings
        if settings.username:
            return None
        reply = await asyncio.wait_for(self._links.command(address, "INFO", "stats"),
                                       settings.connect_timeout)
        return info_field(reply, b"client_output_buffer_limit_disconnections")

    def _on_reply(self, subscriber: _NodeSubscriber, reply: Any) -> None:
        expected = subscriber.expected
        if isinstance(reply, RespError):
            command, channel = expected.popleft() if expected else (b"", b"")
            self._refused_subscription(subscriber, command, channel, reply)
            return
        if isinstance(reply, list) and len(reply) >= 2:
            kind, channel = reply[0], reply[1]
            if kind == b"ssubscribe":
                if expected and expected[0] == (kind, channel):
                    expected.popleft()
                if channel in self._dropped_channels:
                    self._dropped_channels.discard(channel)
                    self.resubscribed += 1
                for future in self._confirmations.pop(channel, ()):
                    if not future.done():
                        future.set_result(None)
            elif kind == b"sunsubscribe":
                if expected and expected[0] == (kind, channel):
                    expected.popleft()  # the reply to our own SUNSUBSCRIBE
                elif self._placed.get(channel) is subscriber:
                    # Redis dropped it: the slot moved or the node was demoted
                    logger.info("sharded channel %r moved; subscribing it again", channel)
                    self._unplace(subscriber, channel)
                    self._stale = True
                    self._kick()
            elif kind == b"pong" and expected and expected[0][0] == b"ping":
                expected.popleft()
        elif reply == b"PONG" and expected and expected[0][0] == b"ping":
            expected.popleft()

    def _refused_subscription(self, subscriber: _NodeSubscriber, command: bytes,
                              channel: bytes, error: RespError) -> None:
        if command != b"ssubscribe":
            logger.error("Redis error on a sharded subscriber connection: %s", error)
            return
        self._unplace(subscriber, channel)
        if _is_redirect(error):
            self._stale = True
            self._kick()
            return
        if is_unknown_command(error):
            self._unsupported_subscription(subscriber.address, command, channel, error)
            return
        # not a matter of topology (NOPERM...): give up on this channel, say why
        self.refusals += 1
        refusal = RedisRefusedError(command, [channel], error, subscriber.address)
        logger.error("%s; not subscribed (subscribing again sends it again)", refusal)
        self.channels.discard(channel)
        self._dropped_channels.discard(channel)
        for future in self._confirmations.pop(channel, ()):
            if not future.done():
                future.set_exception(refusal)

    def _unsupported_subscription(self, address: Address, command: bytes, channel: bytes,
                                  error: RespError) -> None:
        """The server does not know SSUBSCRIBE: drop the channel for good and fail its
        waiters with the :class:`UnsupportedServerError` (logged once)."""
        self.refusals += 1
        self.channels.discard(channel)
        waiters = self._confirmations.pop(channel, [])

        def fail(diagnosis: asyncio.Future[UnsupportedServerError]) -> None:
            for future in waiters:
                if future.done():
                    continue
                if diagnosis.cancelled():
                    future.cancel()
                else:
                    future.set_exception(diagnosis.result())

        self._diagnose(address, command, error).add_done_callback(fail)

    def _diagnose(self, address: Address | None, command: bytes, reply: object
                  ) -> asyncio.Future[UnsupportedServerError]:
        """The error for a server without sharded pub/sub: made once (its version
        asked with ``HELLO``), kept in :attr:`unsupported` and logged once."""
        if self._diagnosis is None:
            self._diagnosis = asyncio.ensure_future(
                self._unsupported_error(address, command, reply))
        return self._diagnosis

    async def _unsupported_error(self, address: Address | None, command: bytes,
                                 reply: object) -> UnsupportedServerError:
        server = None
        if address is not None:
            try:
                hello = await asyncio.wait_for(self._links.command(address, "HELLO", "2"),
                                               self.topology.settings.connect_timeout)
                server = server_label(hello)
            except Exception as exc:  # refused (ACL...) or gone: the message says less
                logger.debug("cannot ask %s for its version: %r", address, exc)
        error = UnsupportedServerError(command, reply, address, server)
        self.unsupported = error
        logger.error("%s", error)
        return error

    async def _raise_unsupported(self, address: Address | None, command: bytes,
                                 reply: object) -> NoReturn:
        raise await asyncio.shield(self._diagnose(address, command, reply)) from None

    def _unplace(self, subscriber: _NodeSubscriber, channel: bytes) -> None:
        subscriber.channels.discard(channel)
        if self._placed.get(channel) is subscriber:
            del self._placed[channel]
            if channel in self.channels and channel not in self._confirmations:
                self._dropped_channels.add(channel)  # Redis had confirmed it

    def _handler_failed(self, exc: BaseException) -> None:
        self.handler_errors += 1
        logger.error("error while handling a Redis message", exc_info=exc)

    async def _watch(self, subscriber: _NodeSubscriber) -> None:
        """Wait for the connection's end (pinging it when idle), then place its channels again."""
        link = subscriber.link
        loop = asyncio.get_running_loop()
        link.last_activity = loop.time()
        interval = self.idle_ping_interval
        try:
            while True:
                done, _ = await asyncio.wait({link.lost}, timeout=interval)
                if done:
                    subscriber.dropped = True  # Redis (or the network) closed it
                    break
                if link.reading_paused:
                    continue  # unread on purpose: silence proves nothing
                idle = loop.time() - link.last_activity
                if idle >= 2 * interval:
                    logger.warning("sharded subscriber to %s silent for %.0fs; reconnecting",
                                   subscriber.address, idle)
                    link.close()
                    break
                if idle >= interval:
                    subscriber.send(b"ping", b"")
        finally:
            self._lost(subscriber)

    def _lost(self, subscriber: _NodeSubscriber) -> None:
        subscriber.link.close()
        if self._subscribers.get(subscriber.address) is subscriber:
            del self._subscribers[subscriber.address]
        for channel in list(subscriber.channels):
            self._unplace(subscriber, channel)
        if self._closed:
            return
        self.reconnects += 1
        self._outage = True
        if subscriber.dropped:  # placed again at once; a slow consumer if that succeeds
            self._dropped_nodes.add(subscriber.address)
        logger.warning("sharded subscriber connection to %s lost; subscribing again",
                       subscriber.address)
        self._stale = True
        if self.channels:
            self._kick()

    # -- publishing ------------------------------------------------------------

    async def spublish(self, channel: bytes, data: bytes) -> int:
        """SPUBLISH and return the number of receivers; raise on failure.

        Follows ``MOVED`` replies (a few times) by learning the topology again.
        Raises :class:`UnsupportedServerError` on a server without sharded pub/sub.
        """
        if self.unsupported is not None:
            raise self.unsupported
        for attempt in range(3):
            link = await self._route(channel)
            try:
                receivers = int(await link.request(encode_spublish(channel, data)))
                self._sharded_confirmed = True
                return receivers
            except Exception as exc:
                if is_unknown_command(exc):
                    await self._raise_unsupported(self._node_of(channel), b"spublish", exc)
                if not _is_redirect(exc) or attempt == 2:
                    raise
                self._routes.clear()
                await self.topology.refresh()
        raise AssertionError("unreachable")

    async def spost(self, channel: bytes, data: bytes) -> None:
        """SPUBLISH without waiting for the reply (broadcasts).

        Raises when the channel's node cannot be reached; a publish Redis
        refuses, or that a lost connection leaves unconfirmed, is logged and
        counted in ``publish_failures`` (a ``MOVED`` reply also makes the
        topology be learned again for the next ones).  Waits while the write
        buffer is full.  Until Redis has confirmed one sharded command, waits
        for the reply instead (see the module doc): raises
        :class:`UnsupportedServerError` on a server without sharded pub/sub.
        """
        if not self._sharded_confirmed:
            await self._checked_spost(channel, data)
            return
        link = self._routes.get(channel)
        if (link is None or link.transport is None
                or self._route_generation != self.topology.generation):
            link = await self._route(channel)
        if link.post(encode_spublish(channel, data)):
            await link.drain()

    async def _checked_spost(self, channel: bytes, data: bytes) -> None:
        """``spost`` before any sharded command was confirmed: an SPUBLISH whose reply
        is awaited; a refusal other than "unknown command" is logged and counted, as
        a posted one's is."""
        try:
            await self.spublish(channel, data)
        except hiredis.ReplyError as exc:
            self._refused_posts += 1
            logger.error("Redis refused a PUBLISH: %s", exc)

    def _node_of(self, channel: bytes) -> Address | None:
        """The node serving ``channel`` as last learned (None when not known)."""
        try:
            return self.topology.node_for(channel)
        except Exception:
            return None

    async def _route(self, channel: bytes) -> RespProtocol:
        """The command connection to the primary of ``channel``'s slot."""
        if self._closed:
            raise ConnectionError("the connection is closed")
        topology = self.topology
        await topology.ensure()
        try:
            link = await self._links.get(topology.node_for(channel))
        except (OSError, asyncio.TimeoutError):
            await topology.refresh()  # the node may be gone: ask where the slot is now
            link = await self._links.get(topology.node_for(channel))
        if self._route_generation != topology.generation or len(self._routes) >= 65536:
            self._routes.clear()
            self._route_generation = topology.generation
        self._routes[channel] = link
        return link

    def _refused(self, error: Exception) -> None:
        """A posted SPUBLISH came back with an error: learn the topology if it moved."""
        if is_unknown_command(error) and not self._closed:
            self._diagnose(self._node_of(b""), b"spublish", error)  # logged there, once
            return
        if not _is_redirect(error) or self._closed:
            return
        self._routes.clear()
        if self._relearning is None or self._relearning.done():
            self._relearning = asyncio.ensure_future(self._relearn())

    async def _relearn(self) -> None:
        try:
            await self.topology.refresh()
        except Exception as exc:
            logger.warning("cannot learn the Redis topology yet: %r", exc)
        self._stale = False

    async def shardnumsub(self, channel: bytes) -> int:
        """``PUBSUB SHARDNUMSUB channel``, summed over every node of a cluster.

        Raises :class:`UnsupportedServerError` on a server without sharded pub/sub.
        """
        if self.unsupported is not None:
            raise self.unsupported
        await self.topology.ensure()
        try:
            if self.topology.cluster:
                return await self._links.pubsub_sum(self.topology.nodes(), "SHARDNUMSUB",
                                                    channel)
            reply = await self._links.command(self.topology.node_for(channel),
                                              "PUBSUB", "SHARDNUMSUB", channel)
        except hiredis.ReplyError as exc:
            if is_unknown_command(exc):
                await self._raise_unsupported(self._node_of(channel), b"PUBSUB SHARDNUMSUB",
                                              exc)
            raise
        return pubsub_count(reply)

    # -- state -----------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """True when every channel held is subscribed on a live connection and Redis
        has confirmed it (a SPUBLISH Redis runs from then on reaches it)."""
        return (all(channel in self._placed for channel in self.channels)
                and not self._confirmations_owed())

    def _confirmations_owed(self) -> bool:
        """Whether an SSUBSCRIBE sent is not confirmed yet."""
        return any(kind == b"ssubscribe" for subscriber in self._subscribers.values()
                   for kind, _ in subscriber.expected)

    @property
    def resubscribing(self) -> bool:
        """True from a lost subscriber connection until every channel is subscribed again."""
        if (self._outage and len(self._placed) >= len(self.channels)
                and not self._confirmations_owed()):
            self._outage = False
        return self._outage

    @property
    def on_lost_posts(self) -> Callable[[list[tuple[bytes, bytes]]], None] | None:
        """Takes the publishes a lost connection left unconfirmed (see ``NodeLinks``)."""
        return self._links.on_lost_posts

    @on_lost_posts.setter
    def on_lost_posts(self, handler: Callable[[list[tuple[bytes, bytes]]], None] | None) -> None:
        self._links.on_lost_posts = handler

    @property
    def publish_failures(self) -> int:
        return self._links.failures + self._refused_posts

    def stats(self) -> dict[str, int]:
        """``reconnects``, ``resubscribed``, ``handler_errors``, ``publish_failures``,
        ``closed_by_redis``, ``slow_consumer_disconnects`` and ``refusals`` so far."""
        return {
            "reconnects": self.reconnects,
            "resubscribed": self.resubscribed,
            "handler_errors": self.handler_errors,
            "publish_failures": self.publish_failures,
            **self.drops.stats(),
            "refusals": self.refusals,
        }

    def table_sizes(self) -> dict[str, int]:
        """``channels`` held, ``placed_channels`` (subscribed on a live connection),
        ``node_subscribers``, ``subscribe_confirmations`` awaited, ``expected_replies``
        (owed on the subscriber connections), ``publish_routes`` (at most 65536) and
        the topology's ``slot_cache``."""
        return {
            "channels": len(self.channels),
            "placed_channels": len(self._placed),
            "node_subscribers": len(self._subscribers),
            "subscribe_confirmations": sum(map(len, self._confirmations.values())),
            "expected_replies": sum(len(s.expected) for s in self._subscribers.values()),
            "publish_routes": len(self._routes),
            **self.topology.table_sizes(),
        }

    async def close(self) -> None:
        """Unsubscribe, stop the readers and close every connection, once Redis confirmed
        the SPUBLISHes posted (:attr:`close_timeout` seconds at most): only those still
        unconfirmed then are counted and logged, before this returns."""
        if self._closed:
            return
        self._closed = True
        self.drops.close()
        for subscriber in list(self._subscribers.values()):
            if subscriber.link.connected:
                for channel in subscriber.channels:
                    subscriber.send(b"sunsubscribe", channel)
        await asyncio.sleep(0)  # let the SUNSUBSCRIBEs go out
        tasks = [task for task in (self._placer, self._relearning, self._diagnosis)
                 if task is not None]
        for subscriber in list(self._subscribers.values()):
            if subscriber.watcher is not None:
                tasks.append(subscriber.watcher)
            subscriber.link.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._subscribers.clear()
        self._placed.clear()
        self.channels.clear()
        self._dropped_channels.clear()
        for futures in self._confirmations.values():
            for future in futures:
                if not future.done():
                    future.cancel()
        self._confirmations.clear()
        await self._links.close_when_answered(self.close_timeout)
        self._routes.clear()


__all__ = ["ShardedPubSub"]
