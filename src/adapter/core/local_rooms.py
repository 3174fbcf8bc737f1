"""This server's sockets and rooms: one ``RoomIndex`` per namespace."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..fastpath import RoomIndex
from ..protocol.requests import Selector


class LocalRooms:
    """The local room state every flavour shares.

    Each namespace's ``RoomIndex.rooms`` is also put in ``rooms_view`` (the
    manager's ``rooms``, python-socketio's layout ``rooms[nsp][room] =
    {sid: eio_sid}``), so code that reads the manager's rooms (the Admin UI)
    sees the real state.

    :param rooms_view: the manager's ``rooms`` dict.
    :param on_namespace: called with ``(nsp, index)`` when a namespace is
                         first seen (the manager subscribes and routes it).
    """

    __slots__ = ("indexes", "_rooms_view", "_on_namespace")

    def __init__(
        self,
        rooms_view: dict[str, Any],
        on_namespace: Callable[[str, RoomIndex], None],
    ) -> None:
        self.indexes: dict[str, RoomIndex] = {}
        self._rooms_view = rooms_view
        self._on_namespace = on_namespace

    def get(self, nsp: str) -> RoomIndex | None:
        """The namespace's index, or None when no socket ever connected to it."""
        return self.indexes.get(nsp)

    def namespace(self, nsp: str) -> RoomIndex:
        """The namespace's index, made (and announced) on first use."""
        index = self.indexes.get(nsp)
        if index is None:
            index = RoomIndex()
            self.indexes[nsp] = index
            self._rooms_view[nsp] = index.rooms
            self._on_namespace(nsp, index)
        return index

    def declare(self, server: Any) -> None:
        """Make the index of ``/`` and of every namespace ``server`` declares.

        Those are the namespaces with handlers (function or class based) and
        the ones in the server's ``namespaces`` list; the wildcard ``*`` is
        not a namespace.
        """
        namespaces = ["/"]
        if server is not None:
            namespaces += list(getattr(server, "handlers", {}))
            namespaces += list(getattr(server, "namespace_handlers", {}))
            if isinstance(getattr(server, "namespaces", None), list):
                namespaces += server.namespaces
        for nsp in dict.fromkeys(namespaces):
            if nsp != "*":
                self.namespace(nsp)

    def has_sid(self, nsp: str, sid: Any) -> bool:
        """True when the socket ``sid`` is connected to ``nsp`` here."""
        index = self.indexes.get(nsp)
        return index is not None and sid in index.rooms[None]

    def rooms(self, nsp: str) -> set[Any]:
        """Every room of ``nsp`` that a local socket is in (sid rooms included)."""
        index = self.indexes.get(nsp)
        return {room for room in index.rooms if room is not None} if index else set()

    def table_sizes(self) -> dict[str, int]:
        """The room state, summed over namespaces.

        ``namespaces``; ``sockets`` (connected sockets); ``eio_sids`` (the
        reverse map, one per socket); ``rooms`` (rooms with a local socket,
        sockets' own rooms included); ``sockets_in_rooms`` (sockets in a room
        besides their own).
        """
        indexes = list(self.indexes.values())
        return {
            "namespaces": len(indexes),
            "sockets": sum(len(index) for index in indexes),
            "eio_sids": sum(len(index.eio_to_sid) for index in indexes),
            "rooms": sum(len(index.rooms) - 1 for index in indexes),
            "sockets_in_rooms": sum(len(index.sid_rooms) for index in indexes),
        }

    def select(self, nsp: str, selector: Selector) -> dict[str, str]:
        """``{sid: eio_sid}`` of the local sockets the selector picks."""
        index = self.indexes.get(nsp)
        if index is None:
            return {}
        return index.select(selector.rooms, selector.except_rooms)


__all__ = ["LocalRooms"]
