"""What every manager of this package shares, asyncio or synchronous.

:class:`ManagerBase` is python-socketio's ``BaseManager`` with this
package's local room state (:class:`~..core.local_rooms.LocalRooms`), its
counters and table sizes, the fan-out, the first half of every ``emit``, and
the :class:`~..engine.flavour.Flavour` it is given.
:class:`~.async_base.AsyncManagerBase` and
:class:`~.sync_base.SyncManagerBase` add python-socketio's asyncio and
synchronous API.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable
from typing import Any

from socketio.base_manager import BaseManager

from ..core.direct.reasons import Unsupported, warning_text
from ..core.fanout import Fanout
from ..core.local_rooms import LocalRooms
from ..core.stats import Counters
from ..engine.answers import ServerSideHandler
from ..engine.base import EngineBase
from ..engine.flavour import Codec, Flavour, Receiver
from ..fastpath import RoomIndex
from ..protocol.broadcast import event_args
from ..protocol.handshake import ISSUED_KEY, HandshakeCache
from ..protocol.rooms import room_list, sid_list

DIRECT_FRAMES_ENV = "SOCKETIO_REDIS_ADAPTER_DIRECT_FRAMES"
"""``0`` turns direct frames off for every adapter whose ``direct_frames`` was left out."""

#: where the package's own notices go (the server's logger is often silent)
package_logger = logging.getLogger("socketio_redis_adapter")

#: what replaces python-socketio's ``write_only=True`` for the classic flavour
EMITTERS_INSTEAD = (
    "use socketio_redis_adapter.Emitter (asyncio) or SyncEmitter to emit from a process "
    "that is not a Socket.IO server"
)


def refuse_arguments(cls_name: str, prefix_argument: str, arguments: dict[str, Any],
                     write_only_advice: str = EMITTERS_INSTEAD) -> None:
    """Raise ``TypeError`` for keyword arguments a manager does not take.

    python-socketio's ``channel`` and ``write_only`` get a message that says
    what to use instead: ``prefix_argument`` (``key`` or ``channel_prefix``) for
    the channel prefix, ``write_only_advice`` for a process that only emits.
    """
    if "channel" in arguments:
        raise TypeError(
            f"{cls_name}() takes no 'channel' argument: use {prefix_argument}=... (the "
            f"channel prefix; all servers of one app must use the same {prefix_argument})"
        )
    if "write_only" in arguments:
        raise TypeError(
            f"{cls_name}() takes no 'write_only' argument (every manager is a full member "
            f"of the cluster): {write_only_advice}"
        )
    for name in arguments:
        raise TypeError(f"{cls_name}() got an unexpected keyword argument {name!r}")


class ManagerBase(BaseManager):  # type: ignore[misc]
    """The half of a manager that does not depend on asyncio (see the module doc).

    A subclass makes its :class:`FlavourHost` parts, then calls :meth:`_adopt`
    with the flavour built on them.
    """

    name = "socketio-redis-adapter"

    rooms: dict[str, Any]
    callbacks: dict[str, Any]
    pending_connect: dict[str, list[str]]
    pending_disconnect: dict[str, list[str]]
    server: Any
    flavour: Flavour[Any, Any]
    #: the manager's background work (made by the subclass, which knows its kind)
    _tasks: Any

    def __init__(self, *, requests_timeout: float, logger: logging.Logger | None,
                 direct_frames: bool | None) -> None:
        super().__init__()
        if requests_timeout <= 0:
            raise ValueError("requests_timeout must be positive")
        self.logger = logger
        self.counters = Counters()
        self.local = LocalRooms(self.rooms, self._on_namespace)
        self.fanout = Fanout(self.counters)
        #: delivers a broadcast to this server's clients (a synchronous manager's takes
        #: its state lock)
        self._deliver: Callable[..., Any] = self.fanout.deliver
        #: each connection's handshake, for the requests that describe sockets
        self.handshakes = HandshakeCache()
        #: write broadcast frames straight to idle websocket clients when the server
        #: allows it (None: unless the environment says no); set before the server is made
        self.direct_frames: bool | None = direct_frames
        #: why direct frames are not used, once the server is known (None: they are)
        self.direct_frames_off: str | None = "no server yet"
        self._direct_frames_warned = False
        #: call :meth:`room_created` / :meth:`room_deleted` (off: no cost per join)
        self.watches_rooms = False

    def _adopt(self, flavour: Flavour[Any, Any]) -> None:
        """Take ``flavour`` as this manager's protocol."""
        self.flavour = flavour
        self.watches_rooms = flavour.watches_rooms
        self._encode_broadcast = flavour.codec.encode_broadcast  # emit's hot path

    # -- the flavour's parts, read-only ----------------------------------

    @property
    def uid(self) -> str:
        """This server's uid in the cluster (Node's ``uid``)."""
        return self.flavour.codec.uid

    @property
    def host_id(self) -> str:
        """This server's uid (read by python-socketio's Admin UI)."""
        return self.flavour.codec.uid

    @property
    def connection(self) -> Any:
        """The transport: this manager's Redis connections."""
        return self.flavour.transport

    @property
    def codec(self) -> Codec:
        return self.flavour.codec

    @property
    def engine(self) -> EngineBase:
        return self.flavour.engine

    @property
    def receiver(self) -> Receiver:
        return self.flavour.receiver

    @property
    def channels(self) -> Any:
        """The channel names of this manager's flavour."""
        return self.flavour.codec.channels

    def _on_namespace(self, nsp: str, index: RoomIndex) -> None:
        """A namespace got its first socket (or was declared): receive and subscribe it."""
        self.flavour.add_namespace(nsp, index)

    def _direct_frames_off_by_choice(self) -> str | None:
        """Why direct frames are off by the user's choice (the ``direct_frames``
        argument, or ``SOCKETIO_REDIS_ADAPTER_DIRECT_FRAMES=0`` in the environment
        when the argument was left out), or None."""
        choice = self.direct_frames
        if choice is None:
            if os.environ.get(DIRECT_FRAMES_ENV, "1") == "0":
                return f"turned off ({DIRECT_FRAMES_ENV}=0)"
            return None
        return None if choice else "turned off (direct_frames=False)"

    def _settle_direct_frames(self, check: Callable[[], Unsupported | None], known: str
                              ) -> bool:
        """Set :attr:`direct_frames_off` for the server just set and return whether
        direct frames serve it.

        ``check`` says why the server cannot have them (asked only when the
        user did not turn them off); ``known`` names the versions they know,
        for the warning logged (once per manager) when the reason is not the
        user's choice nor by design.
        """
        off = self._direct_frames_off_by_choice()
        if off is not None:
            self.direct_frames_off = off
            return False
        found = check()
        self.direct_frames_off = None if found is None else found.reason
        if found is not None:
            self._direct_frames_unavailable(found, known)
        return found is None

    def _direct_frames_unavailable(self, found: Unsupported, known: str) -> None:
        """Log why direct frames do not serve this server: a warning, once, when the
        reason is unexpected (see :mod:`.core.direct.reasons`); else at INFO."""
        if not found.unexpected:
            package_logger.info("direct websocket frames are off: %s", found.reason)
        elif not self._direct_frames_warned:
            self._direct_frames_warned = True
            package_logger.warning("%s", warning_text(found.reason, known))

    def _stat_sources(self) -> list[Any]:
        """The manager's parts whose ``stats()`` (and ``table_sizes()``) add to its own,
        after the transport's."""
        raise NotImplementedError

    @property
    def stats(self) -> dict[str, int]:
        """Every counter: ``received``, ``published``, ``malformed``, ``delivered``,
        ``dropped`` (broadcasts for rooms no local socket is in, left unread),
        the transport's ``reconnects``, ``resubscribed`` (subscriptions made
        again, and confirmed by Redis, after a lost connection, a failover or a
        moved slot), ``handler_errors`` and ``publish_failures``, and the
        offline queue's ``offline_queued``,
        ``offline_flushed``, ``offline_expired``, ``offline_rejected``,
        ``offline_dropped`` and ``resent`` (see :class:`OfflineQueue`), and the
        pacing's ``paced`` (messages that waited for a later loop turn because
        the fan-out before them was large), ``reading_pauses`` and
        ``pacing_handler_errors`` (see :class:`~.core.pacing.FanoutPacer`)."""
        flavour = self.flavour
        return self.counters.snapshot(
            flavour.counters(), flavour.transport.stats(),
            *(source.stats() for source in self._stat_sources())
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
        for part in (self.local, self.fanout, self.handshakes, self._tasks,
                     *self._stat_sources()):
            sizes.update(part.table_sizes())
        sizes.update(self.flavour.table_sizes())
        return sizes

    def socket_gone(self, eio_sid: str) -> None:
        """Called with the Engine.IO sid of every socket that leaves a namespace."""
        self.fanout.forget(eio_sid)
        self.handshakes.forget(eio_sid)

    def _broadcast_here(
        self, event: str, data: Any, namespace: str | None, room: Any, skip_sid: Any, to: Any,
        except_rooms: Any, volatile: bool, compress: bool | None, ignore_queue: bool,
        callback: Callable[..., Any] | None,
    ) -> Any:
        """The half of an ``emit`` that every manager shares, in one call (the asyncio
        ``emit`` is a hot path).

        The arguments become a broadcast; with a ``callback``, returns the
        engine's ``emit_with_callback(...)`` coroutine for the caller to run;
        else encodes the broadcast, delivers it to this server's clients and
        returns the ``(channel, data)`` to hand to the publisher's ``send``
        (None with ``ignore_queue``).
        """
        rooms = room_list(to or room)
        except_list = (
            room_list(except_rooms) + sid_list(skip_sid)
            if except_rooms is not None or skip_sid is not None else []
        )
        flags: dict[str, Any] = {}
        if volatile:
            flags["volatile"] = True
        if compress is not None:
            flags["compress"] = bool(compress)
        namespace = namespace or "/"
        payload = [event, *event_args(data)]
        if callback is not None:
            return self.flavour.engine.emit_with_callback(
                namespace, payload, rooms, except_list, callback
            )
        # encoded before delivering: data that cannot be serialized reaches no one
        message = None if ignore_queue else self._encode_broadcast(
            namespace, payload, rooms, except_list, flags
        )
        index = self.local.indexes.get(namespace)
        if index is not None and len(index):
            self._deliver(index, namespace, payload, rooms, except_list, volatile)
        return message

    def on_server_side_event(
        self, event: str, handler: ServerSideHandler | None = None, namespace: str = "/"
    ) -> Any:
        """Register a handler for events sent with ``server_side_emit``.

        The handler gets the event's arguments; its return value (awaited if
        a coroutine) is the acknowledgement sent to a ``server_side_call``.
        Use it directly or as a decorator::

            @mgr.on_server_side_event("ping")
            async def ping(n):
                return n + 1

        """
        def register(function: ServerSideHandler) -> ServerSideHandler:
            self.flavour.engine.handlers[(namespace, event)] = function
            return function

        return register(handler) if handler is not None else register

    # -- python-socketio's manager API for local state, over LocalRooms -------

    def room_created(self, namespace: str, room: Any, is_sid_room: bool) -> None:
        """Called when ``room`` gets its first local socket (with ``watches_rooms``):
        Node's ``create-room``; the flavour subscribes its channel, if it has one.

        ``is_sid_room`` is True for a socket's own room, made when it connects.
        """
        self.flavour.room_created(namespace, room, is_sid_room)

    def room_deleted(self, namespace: str, room: Any) -> None:
        """Called when ``room`` loses its last local socket (with ``watches_rooms``):
        Node's ``delete-room``."""
        self.flavour.room_deleted(namespace, room)

    def get_namespaces(self) -> list[str]:
        return list(self.local.indexes)

    def get_participants(self, namespace: str, room: Any) -> Iterable[tuple[str, str]]:
        index = self.local.get(namespace)
        if index is None:
            return
        rooms = room_list(room) if room is not None else None
        if rooms is not None and not rooms:
            return
        yield from index.select(rooms, None).items()

    def connect_pending(self, eio_sid: str, namespace: str) -> str | None:
        """Give a new client of ``namespace`` a sid, pending until ``connect``.

        The synchronous body of python-socketio's ``pre_connect``.
        """
        sid: str = self.server.eio.generate_id()
        environ = self.server.environ.get(eio_sid)
        if environ is not None and ISSUED_KEY not in environ:
            environ[ISSUED_KEY] = int(time.time() * 1000)  # the handshake's "issued"
        try:
            self.basic_enter_room(sid, namespace, None, eio_sid=eio_sid)
        except ValueError:
            return None  # already connected to this namespace
        self.pending_connect.setdefault(namespace, []).append(sid)
        return sid

    def is_pre_connected(self, sid: str, namespace: str) -> bool:
        return sid in self.pending_connect.get(namespace, ()) and self.local.has_sid(
            namespace, sid
        )

    def is_connected(self, sid: str, namespace: str) -> bool:
        if sid in self.pending_connect.get(namespace, ()) or sid in self.pending_disconnect.get(
            namespace, ()
        ):
            return False
        return self.local.has_sid(namespace, sid)

    def sid_from_eio_sid(self, eio_sid: str, namespace: str) -> str | None:
        index = self.local.get(namespace)
        return index.eio_to_sid.get(eio_sid) if index is not None else None

    def eio_sid_from_sid(self, sid: str, namespace: str) -> str | None:
        index = self.local.get(namespace)
        return index.rooms[None].get(sid) if index is not None else None

    def pre_disconnect(self, sid: str, namespace: str) -> str | None:
        self.pending_disconnect.setdefault(namespace, []).append(sid)
        return self.eio_sid_from_sid(sid, namespace)

    def basic_disconnect(self, sid: str, namespace: str, **kwargs: Any) -> None:
        index = self.local.get(namespace)
        if index is None:
            return
        if "basic_leave_room" in self.__dict__:
            # instrumented (Admin UI): report every room left
            for room in index.rooms_of(sid):
                self.basic_leave_room(sid, namespace, room)
        eio_sid = index.rooms[None].get(sid)
        left = index.disconnect(sid)
        if self.watches_rooms:
            for room in left:
                if room not in index.rooms:
                    self.room_deleted(namespace, room)
        if eio_sid is not None:
            self.socket_gone(eio_sid)
        self.callbacks.pop(sid, None)
        for pending in (self.pending_connect, self.pending_disconnect):
            sids = pending.get(namespace)
            if sids and sid in sids:
                sids.remove(sid)
                if not sids:
                    del pending[namespace]

    def is_sid_room(self, namespace: str, room: Any) -> bool:
        return self.local.has_sid(namespace, room) if isinstance(room, str) else False

    def basic_enter_room(
        self, sid: str, namespace: str, room: Any, eio_sid: str | None = None
    ) -> None:
        if room is None:
            if eio_sid is None:
                raise ValueError("eio_sid is required to connect a socket")
            connected = self.local.namespace(namespace)
            if not connected.connect(sid, eio_sid):
                raise ValueError("the client is already connected to this namespace")
            if self.watches_rooms and len(connected.rooms[sid]) == 1:
                self.room_created(namespace, sid, True)
            return
        index = self.local.get(namespace)
        if index is None or sid not in index.rooms[None]:
            raise ValueError("sid is not connected to requested namespace")
        if index.join(sid, room) and self.watches_rooms and len(index.rooms[room]) == 1:
            self.room_created(namespace, room, room == sid)

    def basic_leave_room(self, sid: str, namespace: str, room: Any) -> None:
        index = self.local.get(namespace)
        if index is not None and index.leave(sid, room) and self.watches_rooms:
            if room not in index.rooms:
                self.room_deleted(namespace, room)

    def basic_close_room(self, room: Any, namespace: str) -> None:
        index = self.local.get(namespace)
        if index is None or room not in index.rooms:
            return
        if "basic_leave_room" in self.__dict__:
            for sid in list(index.rooms[room]):
                self.basic_leave_room(sid, namespace, room)
        elif index.close_room(room) and self.watches_rooms:
            self.room_deleted(namespace, room)

    def get_rooms(self, sid: str, namespace: str) -> list[Any]:
        index = self.local.get(namespace)
        return index.rooms_of(sid) if index is not None else []


__all__ = ["DIRECT_FRAMES_ENV", "EMITTERS_INSTEAD", "ManagerBase", "refuse_arguments"]
