"""python-socketio's manager API for local state, over :class:`LocalRooms`.

The methods python-socketio's ``BaseManager`` defines for this server's own
sockets and rooms, and which are the same in an asyncio and a synchronous
manager.  The mixin asks of its host only what ``BaseManager`` itself has
(``pending_connect``, ``pending_disconnect``, ``callbacks``, ``server``) and
one attribute of its own, ``local``; the host may override
:meth:`LocalStateAPI.socket_gone` to hear about each socket that leaves, and,
with ``watches_rooms`` set, :meth:`LocalStateAPI.room_created` and
:meth:`LocalStateAPI.room_deleted` to hear about each room that gets its
first local socket or loses its last (Node's ``create-room`` and
``delete-room`` events; the sharded flavour subscribes room channels so).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from ..protocol.handshake import ISSUED_KEY
from ..protocol.rooms import room_list
from .local_rooms import LocalRooms


class LocalStateAPI:
    """python-socketio's local-state manager methods (see the module doc)."""

    local: LocalRooms
    pending_connect: dict[str, list[str]]
    pending_disconnect: dict[str, list[str]]
    callbacks: dict[str, Any]
    server: Any

    #: call :meth:`room_created` / :meth:`room_deleted` (off: no cost per join)
    watches_rooms = False

    def socket_gone(self, eio_sid: str) -> None:
        """Called with the Engine.IO sid of every socket that leaves a namespace."""

    def room_created(self, namespace: str, room: Any, is_sid_room: bool) -> None:
        """Called when ``room`` gets its first local socket (with ``watches_rooms``).

        ``is_sid_room`` is True for a socket's own room, made when it connects.
        """

    def room_deleted(self, namespace: str, room: Any) -> None:
        """Called when ``room`` loses its last local socket (with ``watches_rooms``)."""

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


__all__ = ["LocalStateAPI"]
