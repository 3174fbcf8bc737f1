"""What every asyncio flavour's manager shares: life cycle, ``emit``, python-socketio's API.

A flavour (:mod:`.adapter`, :mod:`.sharded_adapter`) assembles its codec,
engine, receiver, subscriptions and transport in ``__init__`` and says how a
namespace is received (:meth:`AsyncManagerBase._on_namespace`) and how a
broadcast is sent (``_post``); everything else is here, once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import socketio

from .core.fanout import Fanout
from .core.local_rooms import LocalRooms
from .core.manager_api import LocalStateAPI
from .core.offline_queue import UNREACHABLE, BroadcastPublisher, OfflineQueue
from .core.pacing import FanoutPacer
from .core.stats import Counters
from .core.tasks import BackgroundTasks
from .engine.api import AsyncClusterAPI
from .fastpath import RoomIndex
from .protocol.broadcast import event_args
from .protocol.rooms import room_list, sid_list
from .transport.base import MessageHandler
from .transport.limits import apply_limit, check_limit


class AsyncManagerBase(LocalStateAPI, AsyncClusterAPI, socketio.AsyncManager):  # type: ignore[misc]
    """The flavour-independent half of an asyncio client manager (see the module doc).

    A flavour sets, in its ``__init__`` after calling this one: ``codec``
    (with ``encode_broadcast(nsp, payload, rooms, except_rooms, flags)``
    returning ``(channel, bytes)``), ``engine``, ``connection`` (the
    transport), ``_post`` (publishes a broadcast) and ``_subscriptions``
    (``start``, ``wait``, ``close``, ``closed``).
    """

    name = "socketio-redis-adapter"

    codec: Any
    connection: Any
    _subscriptions: Any
    _post: Callable[[bytes, bytes], Any]

    def __init__(self, *, requests_timeout: float, logger: logging.Logger | None) -> None:
        super().__init__()
        if requests_timeout <= 0:
            raise ValueError("requests_timeout must be positive")
        self.logger = logger
        self.counters = Counters()
        self.local = LocalRooms(self.rooms, self._on_namespace)
        self.fanout = Fanout(self.counters)
        self._tasks = BackgroundTasks(self._get_logger)

    def _on_namespace(self, nsp: str, index: RoomIndex) -> None:
        """A namespace got its first socket (or was declared): receive and subscribe it."""
        raise NotImplementedError

    def _receive_with(self, handler: MessageHandler, max_message_size: int | None) -> None:
        """Hand the transport's messages to ``handler`` through the size limit and a
        :class:`FanoutPacer` (called by a flavour once ``connection`` is set)."""
        self.pacer = FanoutPacer(handler, self.counters, self.connection, self._get_logger)
        apply_limit(self.connection, check_limit(max_message_size), self.pacer.on_message)

    def _hold_broadcasts_in_outages(self, offline_queue: OfflineQueue | None) -> None:
        """Make the :class:`BroadcastPublisher` that ``emit`` hands broadcasts to
        when Redis is unreachable (called by a flavour once ``connection``,
        ``engine`` and ``_post`` are set)."""
        transport = self.connection
        self.publisher = BroadcastPublisher(
            self._post,
            transport if hasattr(transport, "resubscribing") else _NeverResubscribing(),
            lambda: self.engine.server_count("/"),
            offline_queue,
            self._get_logger,
        )
        if hasattr(transport, "on_lost_posts"):
            transport.on_lost_posts = self.publisher.requeue

    def _counters(self) -> dict[str, int]:
        """The flavour's own counters, besides ``Counters`` and the transport's."""
        return {}

    @property
    def stats(self) -> dict[str, int]:
        """Every counter: ``received``, ``published``, ``malformed``, ``delivered``,
        ``dropped`` (broadcasts for rooms no local socket is in, left unread),
        the transport's ``reconnects``, ``handler_errors`` and
        ``publish_failures``, and the offline queue's ``offline_queued``,
        ``offline_flushed``, ``offline_expired``, ``offline_rejected``,
        ``offline_dropped`` and ``resent`` (see :class:`OfflineQueue`), and the
        pacing's ``paced`` (messages that waited for a later loop turn because
        the fan-out before them was large), ``reading_pauses`` and
        ``pacing_handler_errors`` (see :class:`~.core.pacing.FanoutPacer`)."""
        return self.counters.snapshot(
            self._counters(), self.connection.stats(), self.publisher.stats(),
            self.pacer.stats(),
        )

    def table_sizes(self) -> dict[str, int]:
        """Return the number of entries in each of the adapter's internal tables.

        Read-only and cheap (no I/O; one pass over the namespaces and over
        the sids with callbacks), to watch that memory stays bounded: once
        traffic stops and clients leave, every table returns to its size
        before the traffic, and the caches stay within their limits.  Keys:

        - ``callbacks``: acknowledgement callbacks waiting for a client
          (python-socketio's ``callbacks``), ``callback_sids``: the sids
          that have an entry there, ``pending_connect`` and
          ``pending_disconnect``: sockets between two states.
        - ``namespaces``, ``sockets``, ``eio_sids``, ``rooms``,
          ``sockets_in_rooms``: the local room state.
        - ``delivery_records``: the fan-out's per-socket records.
        - ``background_tasks``: replies, handlers and (un)subscriptions
          still running.
        - ``pending_requests`` (``fetch_sockets``, ``server_side_call``...)
          and ``pending_acks`` (``emit_with_ack``, callbacks of emits to
          sockets on other servers): the requests still waiting for other
          servers; ``server_side_handlers``.
        - ``channel_routes`` (and ``router_namespaces`` in the classic
          flavour): what incoming channels are read as.
        - ``subscribed_namespaces`` (and ``room_channels`` in the sharded
          flavour), and the transport's ``channels``, ``patterns`` (classic),
          ``subscribe_confirmations`` and, sharded, ``placed_channels``,
          ``node_subscribers``, ``expected_replies``, ``publish_routes`` and
          ``slot_cache``.
        - The sharded codec's caches: ``one_room_endings``, ``own_endings``
          and ``plain_read_targets``.

        A transport given as ``connection`` adds its own sizes when it has a
        ``table_sizes()`` method.  Example::

            print(mgr.table_sizes()["pending_requests"])
        """
        callbacks = list(self.callbacks.values())
        sizes = {
            # each sid's entry holds its ack-id counter (key 0) and its callbacks
            "callbacks": sum(len(entries) - 1 for entries in callbacks),
            "callback_sids": len(callbacks),
            "pending_connect": sum(map(len, self.pending_connect.values())),
            "pending_disconnect": sum(map(len, self.pending_disconnect.values())),
        }
        parts = (self.local, self.fanout, self._tasks, self.engine, self.publisher, self.pacer,
                 getattr(self, "receiver", None), self._subscriptions, self.codec,
                 self.connection)
        for part in parts:
            report = getattr(part, "table_sizes", None)
            if report is not None:
                sizes.update(report())
        return sizes

    # -- life cycle ----------------------------------------------------

    def set_server(self, server: Any) -> None:
        super().set_server(server)
        self.fanout.bind(server)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop yet: initialize() starts us with the first client
        # later: the server sets its namespaces after calling set_server
        loop.call_soon(self._start)

    def initialize(self) -> None:
        """Called by the server with its first client (python-socketio API)."""
        super().initialize()
        self._start()

    async def start(self) -> None:
        """Subscribe now for every known namespace; wait until Redis confirms.

        Servers start the adapter by themselves with their first client; call
        this to join the cluster before that (for example at application
        start-up) or to wait until this server receives broadcasts.  Raises
        ``TimeoutError`` or a Redis error if the subscriptions could not be
        confirmed; the adapter keeps retrying in the background either way.

        Note: this method is a coroutine.
        """
        self._start()
        await self._subscriptions.wait()

    def _start(self) -> None:
        """Subscribe every namespace the server declares (again: new ones too)."""
        if not self._subscriptions.closed:
            self.local.declare(self.server)
            self._subscriptions.start(self.local.indexes)
            self.publisher.start()

    async def close(self) -> None:
        """Unsubscribe from every channel, stop background work, close the Redis connections.

        Note: this method is a coroutine.
        """
        if self._subscriptions.closed:
            return
        await self.publisher.close()  # held broadcasts: published if Redis answers soon
        self.pacer.close()
        self._subscriptions.close()
        self.engine.close()
        await self._tasks.close()
        await self.connection.close()
        self.fanout.close()

    # -- python-socketio's manager API (asyncio) ------------------------

    async def pre_connect(self, eio_sid: str, namespace: str) -> str | None:
        """Register a client in a namespace (pending until ``connect``).

        Note: this method is a coroutine.
        """
        return self.connect_pending(eio_sid, namespace)

    def socket_gone(self, eio_sid: str) -> None:
        self.fanout.forget(eio_sid)

    async def emit(
        self,
        event: str,
        data: Any,
        namespace: str | None = None,
        room: Any = None,
        skip_sid: Any = None,
        callback: Callable[..., Any] | None = None,
        to: Any = None,
        ignore_queue: bool = False,
        *,
        except_rooms: Any = None,
        volatile: bool = False,
        compress: bool | None = None,
        **kwargs: Any,
    ) -> None:
        """Emit an event to clients on every server of the cluster.

        :param to: a room (a sid is a room) or a list of rooms; all the
                   clients of the namespace when omitted (``room`` is an
                   alias).
        :param skip_sid: a sid or list of sids that must not receive it.
        :param except_rooms: a room or list of rooms whose clients must not
                             receive it (Node's ``except``).
        :param callback: with a single-sid ``to``, called with the client's
                         acknowledgement, on whichever server it is.
        :param ignore_queue: emit to this server's clients only (Node's
                             ``local``).
        :param volatile: drop the event for clients that are not ready to
                         receive it.
        :param compress: carried in the message flags, as Node does.

        Raises ``TypeError`` when the data cannot be serialized or a room is
        not a string or a number.

        Note: this method is a coroutine.
        """
        namespace = namespace or "/"
        rooms = room_list(to or room)
        except_list = (
            room_list(except_rooms) + sid_list(skip_sid)
            if except_rooms is not None or skip_sid is not None else []
        )
        payload = [event, *event_args(data)]
        if callback is not None:
            await self.engine.emit_with_callback(namespace, payload, rooms, except_list, callback)
            return
        flags: dict[str, Any] = {}
        if volatile:
            flags["volatile"] = True
        if compress is not None:
            flags["compress"] = bool(compress)
        # encoded before delivering: data that cannot be serialized reaches no one
        message = None if ignore_queue else self.codec.encode_broadcast(
            namespace, payload, rooms, except_list, flags
        )
        index = self.local.indexes.get(namespace)
        if index is not None and len(index):
            self.fanout.deliver(index, namespace, payload, rooms, except_list, volatile)
        if message is not None:
            # held while the cluster is not back (see BroadcastPublisher)
            channel, data = message
            publisher = self.publisher
            if publisher.holding or publisher.subscriber.resubscribing:
                publisher.hold(channel, data)
            else:
                try:
                    await self._post(channel, data)
                except UNREACHABLE as exc:
                    publisher.unreachable(channel, data, exc)
            self.counters.published += 1

    async def _disconnect_local(self, nsp: str, sid: str, close: bool) -> None:
        eio_sid = self.eio_sid_from_sid(sid, nsp)
        await self.server.disconnect(sid, namespace=nsp, ignore_queue=True)
        if close and eio_sid is not None:
            await self.server.eio.disconnect(eio_sid)

    def _later(self, delay: float, function: Callable[..., None], *args: Any) -> None:
        asyncio.get_running_loop().call_later(delay, function, *args)


class _NeverResubscribing:
    """Stands for a transport given as ``connection`` that has no ``resubscribing``."""

    resubscribing = False


__all__ = ["AsyncManagerBase"]
