"""What every manager of this package shares, asyncio or synchronous.

The counters and table sizes, the room state and fan-out, and how an
``emit``'s arguments become a broadcast: :class:`ManagerCommon`, a mixin of
:class:`~.async_manager.AsyncManagerBase` and
:class:`~.sync_manager.SyncManagerBase`.  Its host sets ``codec``,
``connection``, ``engine`` and ``_tasks``, and says in
:meth:`ManagerCommon._stat_sources` which parts report ``stats()`` and
``table_sizes()``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

from .core.direct.reasons import Unsupported, warning_text
from .core.fanout import Fanout
from .core.local_rooms import LocalRooms
from .core.stats import Counters
from .fastpath import RoomIndex
from .protocol.broadcast import event_args
from .protocol.handshake import HandshakeCache
from .protocol.rooms import room_list, sid_list
from .transport.base import abilities

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


class ManagerCommon:
    """The half of a manager that does not depend on asyncio (see the module doc)."""

    name = "socketio-redis-adapter"

    codec: Any
    connection: Any
    engine: Any
    _tasks: Any
    rooms: dict[str, Any]
    callbacks: dict[str, Any]
    pending_connect: dict[str, Any]
    pending_disconnect: dict[str, Any]

    def _init_common(self, requests_timeout: float, logger: logging.Logger | None) -> None:
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
        self.direct_frames: bool | None = None
        #: why direct frames are not used, once the server is known (None: they are)
        self.direct_frames_off: str | None = "no server yet"
        self._direct_frames_warned = False

    def _on_namespace(self, nsp: str, index: RoomIndex) -> None:
        """A namespace got its first socket (or was declared): receive and subscribe it."""
        raise NotImplementedError

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
        """The parts whose ``stats()`` (and ``table_sizes()``) add to the manager's: the
        transport first."""
        return [self.connection]

    def _counters(self) -> dict[str, int]:
        """The flavour's own counters, besides ``Counters`` and the transport's."""
        return {}

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
        return self.counters.snapshot(
            self._counters(), *(source.stats() for source in self._stat_sources())
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
        parts = (self.local, self.fanout, self.handshakes, self._tasks, self.engine,
                 abilities(self.connection), *self._stat_sources()[1:],
                 getattr(self, "receiver", None), getattr(self, "_subscriptions", None),
                 self.codec)
        for part in parts:
            report = getattr(part, "table_sizes", None)
            if report is not None:
                sizes.update(report())
        return sizes

    def socket_gone(self, eio_sid: str) -> None:
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
            return self.engine.emit_with_callback(namespace, payload, rooms, except_list, callback)
        # encoded before delivering: data that cannot be serialized reaches no one
        message = None if ignore_queue else self.codec.encode_broadcast(
            namespace, payload, rooms, except_list, flags
        )
        index = self.local.indexes.get(namespace)
        if index is not None and len(index):
            self._deliver(index, namespace, payload, rooms, except_list, volatile)
        return message

__all__ = ["DIRECT_FRAMES_ENV", "EMITTERS_INSTEAD", "ManagerCommon", "refuse_arguments"]
