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
from typing import Any

from .core.fanout import Fanout
from .core.local_rooms import LocalRooms
from .core.stats import Counters
from .fastpath import RoomIndex
from .protocol.broadcast import event_args
from .protocol.handshake import HandshakeCache
from .protocol.rooms import room_list, sid_list

DIRECT_FRAMES_ENV = "SOCKETIO_REDIS_ADAPTER_DIRECT_FRAMES"
"""``0`` turns direct frames off for every adapter whose ``direct_frames`` was left out."""


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
        #: each connection's handshake, for the requests that describe sockets
        self.handshakes = HandshakeCache()
        #: write broadcast frames straight to idle websocket clients when the server
        #: allows it (None: unless the environment says no); set before the server is made
        self.direct_frames: bool | None = None
        #: why direct frames are not used, once the server is known (None: they are)
        self.direct_frames_off: str | None = "no server yet"

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

    def _stat_sources(self) -> list[Any]:
        """The parts whose ``stats()`` (and ``table_sizes()``) add to the manager's."""
        return [self.connection]

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
                 *self._stat_sources(), getattr(self, "receiver", None),
                 getattr(self, "_subscriptions", None), self.codec)
        for part in parts:
            report = getattr(part, "table_sizes", None)
            if report is not None:
                sizes.update(report())
        return sizes

    def socket_gone(self, eio_sid: str) -> None:
        self.fanout.forget(eio_sid)
        self.handshakes.forget(eio_sid)

    @staticmethod
    def _broadcast_args(
        event: str, data: Any, namespace: str | None, room: Any, skip_sid: Any, to: Any,
        except_rooms: Any, volatile: bool, compress: bool | None,
    ) -> tuple[str, list[Any], list[Any], list[Any], dict[str, Any]]:
        """An ``emit``'s arguments as ``(namespace, payload, rooms, except_rooms, flags)``."""
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
        return namespace or "/", [event, *event_args(data)], rooms, except_list, flags


__all__ = ["ManagerCommon"]
