"""Classic pub/sub for synchronous managers: blocking connections, a listener task.

:class:`BlockingPubSub` offers what the classic engine asks of a transport
(``publish`` and ``numsub`` as coroutines that block instead of suspending,
see :mod:`..completion`) and what a synchronous manager calls directly
(:meth:`BlockingPubSub.publish_now`, :meth:`BlockingPubSub.psubscribe`...).
Its listener runs as one background task of the server (a thread, a gevent
greenlet or an eventlet green thread, by the server's async mode): it reads
the subscriber connection and hands every message from the fast path's
``PushParser`` to ``on_message``, foreign rooms dropped by the channel filter
before they become objects, exactly as the asyncio transport does.  Measured
against the same manager on redis-py's blocking client
(``benchmarks/scenarios.py --only transport-sync``): 29.6 against 122.4 µs of
CPU per emit, 0.21 against 8.15 µs per message for a room with no local socket.  It
reconnects and subscribes again by itself, as every connection does (see
:mod:`.reconnect`: 50 ms doubling to 0.5 s between attempts, 5 s at most while
Redis refuses it; at once after Redis closed a connection that was up).

Every URL of the asyncio transports, in their ``redis`` or ``valkey``
spellings: one server (``redis://``, ``rediss://``, ``unix://``), a
Sentinel-watched master (``redis+sentinel://``) or a Redis Cluster
(``redis+cluster://``: publishes and subscribes on one primary, which Redis
copies to every node, and ``NUMSUB`` summed over every node), with the same
:class:`~.topology.Topology` and its discovery run in the calling thread
(:meth:`~.topology.Topology.refresh_blocking`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, cast

import hiredis

from ..fastpath import PushParser, RespError
from .base import ChannelFilter, MessageHandler, TransportAbilities
from .blocking_link import BlockingLink, blocking_discovery_command
from .errors import RedisRefusedError
from .limits import MessageSizeLimit
from .links import pubsub_count
from .resp_connection import encode_command, encode_publish
from .sent_commands import CONFIRMATIONS
from .subscription_book import SubscriptionBook
from .topology import Topology
from .urls import topology_from_url

logger = logging.getLogger("socketio_redis_adapter")


def _ignore_message(pattern: bytes | None, channel: bytes, data: bytes, route: Any) -> None:
    return None


class _Confirmation:
    """Waits for Redis to confirm one (P)SUBSCRIBE of one name (or refuse it)."""

    __slots__ = ("event", "error")

    def __init__(self, event: Any) -> None:
        self.event = event
        self.error: BaseException | None = None

    def settle(self, error: BaseException | None = None) -> None:
        if not self.event.is_set():
            self.error = error
            self.event.set()


class BlockingPubSub(SubscriptionBook, MessageSizeLimit, TransportAbilities):
    """Classic pub/sub on blocking connections (see the module doc).

    :param url: a ``redis://``, ``rediss://``, ``unix://``,
                ``redis+cluster://`` or ``redis+sentinel://`` URL, or its
                ``valkey`` spelling (see
                :mod:`~socketio_redis_adapter.transport.urls`; ``options`` are
                its connection options, with redis-py's names), or a ready
                :class:`~.topology.Topology`.
    :param service: the Sentinel service when the URL names none (the adapter's key).
    :param connect_timeout: seconds allowed to connect and authenticate (unless
                            the options give ``socket_connect_timeout``).
    :param confirm_timeout: seconds :meth:`subscribe` waits for Redis'
                            confirmation before raising ``TimeoutError`` (the
                            subscription is still made on reconnect).
    :param idle_ping_interval: seconds of silence after which the subscriber
                               sends ``PING``; no answer within the same time
                               means the connection is dead.

    :meth:`bind` it to the server before anything else: its events, sleeps
    and background tasks follow the server's async mode.
    """

    #: seconds the listener waits for data before it looks at its queue of writes (TLS)
    tls_poll_interval = 0.05

    def __init__(
        self,
        url: str | Topology,
        *,
        service: str = "socket.io",
        connect_timeout: float = 5.0,
        confirm_timeout: float = 5.0,
        idle_ping_interval: float = 15.0,
        **options: Any,
    ) -> None:
        options.setdefault("socket_connect_timeout", connect_timeout)
        topology = url if isinstance(url, Topology) else topology_from_url(
            url, service, **options
        )
        topology.command = blocking_discovery_command  # discovery blocks here too
        self.topology = topology
        self._open_books()
        self._lock = threading.Lock()
        self.confirm_timeout = confirm_timeout
        self.idle_ping_interval = idle_ping_interval
        self.on_message: MessageHandler = _ignore_message
        #: pattern messages whose channel it rejects are dropped unread
        self.channel_filter: ChannelFilter | None = None
        #: posted publishes a lost connection left unconfirmed, with no
        #: :attr:`on_lost_posts` to take them (they may be lost)
        self.publish_failures = 0
        #: takes the publishes a lost connection left unconfirmed, as ``(channel, data)``
        #: in order, to send them again (the manager's offline queue)
        self.on_lost_posts: Callable[[list[tuple[bytes, bytes]]], None] | None = None
        self._refused_posts = 0
        self._server: Any = None
        self._publisher: BlockingLink | None = None
        self._publisher_lock = threading.Lock()
        #: a cluster's nodes, for NUMSUB
        self._node_links: dict[Any, BlockingLink] = {}
        self._nodes_lock = threading.Lock()
        self._subscriber: BlockingLink | None = None
        self._confirmations: dict[tuple[bytes, bytes], list[_Confirmation]] = {}
        self._writes: deque[bytes] = deque()
        self._connected: Any = None
        self._stopped: Any = None
        self._listening = False
        #: a subscriber connection was up once (so a later one subscribes again)
        self._ever_up = False
        self._last_activity = 0.0
        self._ping_sent = False

    def bind(self, server: Any) -> None:
        """Use ``server``'s events, sleeps and background tasks."""
        self._server = server
        if self._connected is None:
            self._connected = server.eio.create_event()
            self._stopped = server.eio.create_event()

    @property
    def connected(self) -> bool:
        """True while the subscriber connection is up and Redis has confirmed every
        subscription it made again (a PUBLISH Redis runs from then on reaches it)."""
        return (self._connected is not None and self._connected.is_set()
                and not self._resubscription)

    @property
    def resubscribing(self) -> bool:
        """True while a subscriber connection that was up is being made again (until
        Redis has confirmed its subscriptions)."""
        return self._ever_up and not self.connected

    def _report_replaced_drop(self, suspect: bool) -> None:
        # no count from INFO stats here (the asyncio subscribers read one in the background)
        if suspect:
            self.drops.closed_by_redis += 1
            self.drops.report(None, "")

    def stats(self) -> dict[str, int]:
        """``reconnects``, ``resubscribed``, ``handler_errors``, ``publish_failures``
        (posted publishes refused, or left unconfirmed by a lost connection),
        ``closed_by_redis``, ``slow_consumer_disconnects``, ``refusals``."""
        publisher = self._publisher
        refused = publisher.refused if publisher is not None else 0
        return {
            "reconnects": self.reconnects,
            "resubscribed": self.resubscribed,
            "handler_errors": self.handler_errors,
            "publish_failures": self.publish_failures + self._refused_posts + refused,
            **self.drops.stats(),
            "refusals": self.refusals,
        }

    def table_sizes(self) -> dict[str, int]:
        """``channels`` and ``patterns`` held, ``subscribe_confirmations`` awaited."""
        with self._lock:
            waiting = sum(map(len, self._confirmations.values()))
        return {"channels": len(self.channels), "patterns": len(self.patterns),
                "subscribe_confirmations": waiting}

    # -- publishing ------------------------------------------------------------

    def _publisher_link(self) -> BlockingLink:
        """The publisher connection, to the primary (learned again when it fails)."""
        link = self._publisher
        if link is None or link.closed:
            if self._closed:
                raise ConnectionError("the connection is closed")
            if link is not None:
                self._refused_posts += link.refused
            link = self._open(self.topology)
            self._publisher = link
        return link

    @staticmethod
    def _open(topology: Topology) -> BlockingLink:
        """A connection to ``topology``'s primary; when that fails, the layout is learned
        again (a failover, a moved master) and the new primary tried once."""
        topology.ensure_blocking()
        address = topology.primary()
        try:
            return BlockingLink.open(address, topology.settings)
        except RedisRefusedError:
            raise  # a wrong password is no failover
        except OSError:
            topology.refresh_blocking()
            if topology.primary() == address:
                raise
            return BlockingLink.open(topology.primary(), topology.settings)

    def command_now(self, payload: bytes) -> Any:
        """Send one encoded command on the publisher connection; return its reply.

        A connection found broken is made again once; raises ``ConnectionError``
        (or ``OSError``, ``TimeoutError``) when Redis cannot be reached.
        """
        lost: list[tuple[bytes, bytes]] = []
        try:
            with self._publisher_lock:
                link = self._publisher_link()
                try:
                    return link.request(payload)
                except (OSError, ConnectionError):
                    lost = link.take_lost()
                    if self._closed:
                        raise
                return self._publisher_link().request(payload)  # once more, anew
        finally:
            self._hand_back(lost)

    def post_now(self, channel: bytes, data: bytes) -> None:
        """PUBLISH without waiting for Redis' reply (read later, checked for errors).

        Raises ``ConnectionError`` (or ``OSError``) when Redis cannot be
        reached: a connection Redis closed is noticed before the write.  A
        connection lost with publishes still unconfirmed hands them to
        :attr:`on_lost_posts` and raises (so this one goes behind them), or,
        with no handler, counts them in ``publish_failures`` (they may be lost)
        and tries once more on a new connection.  On TLS, :meth:`publish_now`.
        """
        payload = encode_publish(channel, data)
        item = (channel, data)
        lost: list[tuple[bytes, bytes]] = []
        try:
            with self._publisher_lock:
                link = self._publisher_link()
                if not link.can_post:
                    link.request(payload)
                    return
                try:
                    link.post(payload, item)
                    return
                except (OSError, ConnectionError):
                    lost = link.take_lost()
                    if (lost and self.on_lost_posts is not None) or self._closed:
                        raise
                self._publisher_link().post(payload, item)  # once more, on a new connection
        finally:
            self._hand_back(lost)  # outside the lock: the handler may publish

    def _hand_back(self, lost: list[tuple[bytes, bytes]]) -> None:
        """Give ``lost`` to :attr:`on_lost_posts` to send again, or count it as maybe lost."""
        if not lost:
            return
        handler = self.on_lost_posts
        if handler is not None and not self._closed:
            handler(lost)
            return
        self.publish_failures += len(lost)
        logger.warning("%d publishes may be lost: the Redis connection dropped before "
                       "they were confirmed", len(lost))

    def publish_now(self, channel: bytes, data: bytes) -> int:
        """PUBLISH and return the number of receivers (blocks for Redis' reply)."""
        return int(self.command_now(encode_publish(channel, data)))

    def numsub_now(self, channel: bytes) -> int:
        """``PUBSUB NUMSUB channel``: the number of subscribed servers (summed over every
        node of a cluster, where a subscriber is counted on the node it is connected to)."""
        command = encode_command("PUBSUB", "NUMSUB", channel)
        if not self.topology.cluster:
            return pubsub_count(self.command_now(command))
        self.topology.ensure_blocking()
        total = 0
        with self._nodes_lock:
            for address in self.topology.nodes():
                link = self._node_links.get(address)
                if link is None or link.closed:
                    link = self._node_links[address] = BlockingLink.open(
                        address, self.topology.settings
                    )
                total += pubsub_count(link.request(command))
        return total

    async def publish(self, channel: bytes, data: bytes) -> int:
        """:meth:`publish_now`, for the engine (a coroutine that never suspends)."""
        return self.publish_now(channel, data)

    async def numsub(self, channel: bytes) -> int:
        """:meth:`numsub_now`, for the engine (a coroutine that never suspends)."""
        return self.numsub_now(channel)

    # -- subscribing -----------------------------------------------------------

    def subscribe(self, *channels: bytes, wait: bool = True) -> None:
        """SUBSCRIBE (held across reconnects); with ``wait``, block until Redis confirms
        (``TimeoutError`` after ``confirm_timeout``, ``RedisRefusedError`` when refused)."""
        self._add(b"subscribe", self.channels, channels, wait)

    def psubscribe(self, *patterns: bytes, wait: bool = True) -> None:
        """PSUBSCRIBE, as :meth:`subscribe`."""
        self._add(b"psubscribe", self.patterns, patterns, wait)

    def _add(self, kind: bytes, held: set[bytes], names: tuple[bytes, ...], wait: bool
             ) -> None:
        if self._closed:
            raise ConnectionError("the connection is closed")
        waiting: list[_Confirmation] = []
        with self._lock:
            fresh = [name for name in dict.fromkeys(names) if name not in held]
            for name in dict.fromkeys(names):
                if not wait or (name in held and (kind, name) not in self._confirmations
                                and self._confirmed(kind, name)):
                    continue  # nobody waits, or held and confirmed
                confirmation = _Confirmation(self._server.eio.create_event())
                self._confirmations.setdefault((kind, name), []).append(confirmation)
                waiting.append(confirmation)
            held.update(fresh)
            if fresh and self._subscriber is not None:  # else the next connection sends it
                self._sent.add(kind, fresh)
                self._write(encode_command(kind.upper(), *fresh))
            refusal = self._refusal
        if refusal is not None:
            for confirmation in waiting:
                confirmation.settle(refusal)
        self.start()
        deadline = time.monotonic() + self.confirm_timeout
        for confirmation in waiting:
            if not confirmation.event.wait(timeout=max(deadline - time.monotonic(), 0.0)):
                raise TimeoutError(f"Redis did not confirm {kind.decode().upper()} within "
                                   f"{self.confirm_timeout:g} s (it is still being made)")
            if confirmation.error is not None:
                raise confirmation.error

    def _confirmed(self, kind: bytes, name: bytes) -> bool:
        """Whether Redis confirmed the held ``name`` on the live connection (under
        :attr:`_lock`): one subscribed without waiting may still be on its way."""
        return self._subscriber is not None and not self._sent.owes(kind, name)

    def _write(self, payload: bytes) -> None:
        """Write on the subscriber connection: at once, or through the listener (TLS:
        an SSL socket must not be written while another thread reads it)."""
        link = self._subscriber
        if link is None:
            return  # the next connection subscribes everything held
        if self.topology.settings.tls is not None:
            self._writes.append(payload)
        else:
            try:
                link.send(payload)
            except OSError as exc:
                logger.debug("subscriber write failed (the reconnect subscribes again): %r",
                             exc)

    def start(self) -> None:
        """Start the listener (once), as a background task of the server."""
        with self._lock:
            if self._listening or self._closed:
                return
            self._listening = True
        self._server.start_background_task(self._listen)

    # -- the listener -------------------------------------------------------------

    def _listen(self) -> None:
        try:
            self._listen_until_closed()
        finally:
            self._stopped.set()

    def _listen_until_closed(self) -> None:
        policy = self._reconnect_policy()
        while not self._closed:
            was_up = lost_by_peer = refused = False
            try:
                was_up, lost_by_peer = self._session()
            except RedisRefusedError as exc:
                refused = True
                with self._lock:
                    self._refusal = exc
                    waiting = [c for cs in self._confirmations.values() for c in cs]
                self._connection_refused(exc)
                for confirmation in waiting:
                    confirmation.settle(exc)
            except Exception as exc:
                self._connection_failed(exc)
            finally:
                self._connected.clear()
            if self._closed:
                break
            self._server.sleep(self._next_attempt_delay(
                policy, was_up=was_up, lost_by_peer=lost_by_peer, refused=refused,
                now=time.monotonic(),
            ))

    def _session(self) -> tuple[bool, bool]:
        """One subscriber connection, until it is lost: (was it up, did Redis close it)."""
        link = self._open(self.topology)
        parser = PushParser(self.on_message, self._on_reply, self._on_handler_error,
                            cast(Any, self.channel_filter), self.max_message_size,
                            self._on_oversized)
        tls = self.topology.settings.tls is not None
        try:
            with self._lock:
                self._sent.clear()
                self._writes.clear()
                if self._closed:
                    return False, False
                commands = []
                if self.patterns:
                    self._sent.add(b"psubscribe", list(self.patterns))
                    commands.append(encode_command(b"PSUBSCRIBE", *self.patterns))
                if self.channels:
                    self._sent.add(b"subscribe", list(self.channels))
                    commands.append(encode_command(b"SUBSCRIBE", *self.channels))
                if commands:  # under the lock: before any later (P)SUBSCRIBE
                    link.send(b"".join(commands))
                self._expect_resubscription()
                self._subscriber = link
            self._connection_accepted()
            self._ever_up = True
            self._connected.set()
            self._resubscription_sent()
            link.sock.settimeout(self.tls_poll_interval if tls else
                                 min(1.0, self.idle_ping_interval))
            self._last_activity = time.monotonic()
            self._ping_sent = False
            while not self._closed:
                while self._writes:
                    link.send(self._writes.popleft())
                try:
                    data = link.read()
                except TimeoutError:
                    if not self._idle(link):
                        return True, False
                    continue
                except OSError:
                    return True, not self._closed
                if not data:
                    return True, not self._closed
                self._last_activity = time.monotonic()
                self._ping_sent = False
                parser.feed(data)
                self._server.sleep(0)  # let other greenlets run between reads (gevent, eventlet)
            return True, False
        finally:
            with self._lock:
                self._subscriber = None
            link.close()

    def _idle(self, link: BlockingLink) -> bool:
        """No data for a while: ping; False when Redis stays silent (a dead connection)."""
        idle = time.monotonic() - self._last_activity
        if idle >= 2 * self.idle_ping_interval:
            logger.warning("Redis subscriber silent for %.0fs; reconnecting", idle)
            return False
        if idle >= self.idle_ping_interval and not self._ping_sent:
            self._ping_sent = True
            with self._lock:
                self._sent.add(b"ping", [])
            link.send(encode_command(b"PING"))
        return True

    def _on_reply(self, reply: Any) -> None:
        if isinstance(reply, (RespError, hiredis.ReplyError)):
            self._refused_reply(reply)
            return
        if not isinstance(reply, list) or not reply:
            if reply == b"PONG":
                self._answered(b"ping", None)
            return
        kind = reply[0]
        if kind in CONFIRMATIONS and len(reply) > 1:
            with self._lock:
                self._strike_answered(kind, reply[1])
                settled = self._confirmations.pop((kind, reply[1]), [])
            self._check_resubscribed()
            for confirmation in settled:
                confirmation.settle()
        elif kind == b"pong":
            self._answered(b"ping", None)

    def _drop_refused(self, kind: bytes, held: set[bytes], names: Iterable[bytes],
                      refusal: RedisRefusedError) -> None:
        with self._lock:
            settled = []
            for name in names:
                held.discard(name)
                settled.extend(self._confirmations.pop((kind, name), []))
        for confirmation in settled:
            confirmation.settle(refusal)

    def _on_handler_error(self, exc: BaseException) -> None:
        self.handler_errors += 1
        logger.error("error while handling a Redis message", exc_info=exc)

    # -- closing -------------------------------------------------------------------

    def close(self, timeout: float = 2.0) -> None:
        """Stop the listener (waiting up to ``timeout`` seconds for it to end) and close
        both connections, the publisher's once Redis confirmed what was posted on it
        (``timeout`` seconds at most): only the publishes still unconfirmed then are
        counted in ``publish_failures`` and logged, before this returns."""
        self._closed = True
        with self._lock:
            subscriber, self._subscriber = self._subscriber, None
            waiting = [c for cs in self._confirmations.values() for c in cs]
            self._confirmations.clear()
            self.channels.clear()
            self.patterns.clear()
        for confirmation in waiting:
            confirmation.settle(ConnectionError("the connection is closed"))
        if subscriber is not None:
            subscriber.close()
        if self._connected is not None:
            self._connected.clear()
        if self._listening and self._stopped is not None:
            self._stopped.wait(timeout=timeout)
        with self._publisher_lock:
            unconfirmed = 0
            if self._publisher is not None:
                unconfirmed = self._publisher.close_when_answered(timeout)
                self._publisher = None
        if unconfirmed:
            self.publish_failures += unconfirmed
            logger.warning("%d publishes may be lost: Redis had not confirmed them when the "
                           "connection was closed", unconfirmed)
        with self._nodes_lock:
            for node_link in self._node_links.values():
                node_link.close()
            self._node_links.clear()


__all__ = ["BlockingPubSub"]
