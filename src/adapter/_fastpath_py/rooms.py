"""The room index (``RoomIndex``), the twin of ``src/fastpath/rooms.pxi``."""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Any

Room = Hashable

_NUMERIC_CHARS = frozenset("0123456789.-+eE")


class RoomIndex:
    """The rooms of one namespace, with the reverse indexes the adapter needs.

    ``rooms`` keeps python-socketio's layout, ``rooms[room] = {sid: eio_sid}``,
    where room ``None`` holds every socket of the namespace and each socket has
    a room named after its sid.  ``sid_rooms`` maps a sid to the *other* rooms
    it is in, so a disconnect never scans every room.
    """

    __slots__ = ("rooms", "sid_rooms", "eio_to_sid")

    def __init__(self) -> None:
        self.rooms: dict[Any, dict[str, str]] = {None: {}}
        self.sid_rooms: dict[str, set[Any]] = {}
        self.eio_to_sid: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self.rooms[None])

    def connect(self, sid: str, eio_sid: str) -> bool:
        """Add a socket; return False if ``eio_sid`` is already in the namespace."""
        if eio_sid in self.eio_to_sid or sid in self.rooms[None]:
            return False
        self.rooms[None][sid] = eio_sid
        self.eio_to_sid[eio_sid] = sid
        members = self.rooms.get(sid)
        if members is None:
            self.rooms[sid] = {sid: eio_sid}
        else:
            # a room already named like the new sid: share it, as
            # python-socketio's enter_room does
            members[sid] = eio_sid
        return True

    def join(self, sid: str, room: Any) -> bool:
        """Put a connected socket in a room; return True if it was not in it.

        Raises ``KeyError`` for an unknown sid and ``ValueError`` when the room
        is another socket's own room.
        """
        eio_sid = self.rooms[None][sid]
        if room is None:
            return False
        members = self.rooms.get(room)
        if room != sid and room in self.rooms[None]:
            raise ValueError("cannot enter a sid room")
        if members is None:
            self.rooms[room] = {sid: eio_sid}
        elif sid in members:
            return False
        else:
            members[sid] = eio_sid
        if room != sid:
            joined = self.sid_rooms.get(sid)
            if joined is None:
                self.sid_rooms[sid] = {room}
            else:
                joined.add(room)
        return True

    def leave(self, sid: str, room: Any) -> bool:
        """Take a socket out of a room; return True if it was in it."""
        if room is None:
            return False
        members = self.rooms.get(room)
        if members is None or sid not in members:
            return False
        del members[sid]
        if not members:
            del self.rooms[room]
        if room != sid:
            joined = self.sid_rooms[sid]
            joined.discard(room)
            if not joined:
                del self.sid_rooms[sid]
        return True

    def disconnect(self, sid: str) -> list[Any]:
        """Remove a socket from the namespace; return the rooms it left."""
        eio_sid = self.rooms[None].pop(sid, None)
        if eio_sid is None:
            return []
        self.eio_to_sid.pop(eio_sid, None)
        left: list[Any] = []
        own = self.rooms.get(sid)
        if own is not None and sid in own:
            del own[sid]
            if not own:
                del self.rooms[sid]
            left.append(sid)
        for room in self.sid_rooms.pop(sid, ()):
            members = self.rooms[room]
            del members[sid]
            if not members:
                del self.rooms[room]
            left.append(room)
        return left

    def close_room(self, room: Any) -> list[str]:
        """Empty a room; return the sids that were in it."""
        if room is None:
            raise ValueError("cannot close the namespace room")
        if room in self.rooms[None]:
            raise ValueError("cannot close a sid room")
        members = self.rooms.pop(room, None)
        if members is None:
            return []
        for sid in members:
            joined = self.sid_rooms[sid]
            joined.discard(room)
            if not joined:
                del self.sid_rooms[sid]
        return list(members)

    def has_room(self, room: Any) -> bool:
        """Return True if a socket of this namespace is in ``room``."""
        return room is not None and room in self.rooms

    def has_channel_room(self, name: str) -> bool:
        """Room check for a name read from a channel, numeric form included.

        ``socket.io#/#123#`` names the room ``"123"`` or the number ``123``.
        """
        if name in self.rooms:
            return True
        if not name or not _NUMERIC_CHARS.issuperset(name):
            return False
        try:
            number = float(name)
        except ValueError:
            return False
        return number in self.rooms

    def rooms_of(self, sid: str) -> list[Any]:
        """Return the rooms a socket is in, its own room first."""
        rooms: list[Any] = []
        own = self.rooms.get(sid)
        if own is not None and sid in own:
            rooms.append(sid)
        joined = self.sid_rooms.get(sid)
        if joined:
            rooms.extend(joined)
        return rooms

    def select(
        self, rooms: Iterable[Any] | None, except_rooms: Iterable[Any] | None
    ) -> dict[str, str]:
        """Return ``{sid: eio_sid}`` of the recipients of a broadcast.

        The union of ``rooms`` (every socket when empty or None), minus every
        socket in any of ``except_rooms``; each socket appears once.
        """
        all_rooms = self.rooms
        selected: dict[str, str]
        if rooms:
            selected = {}
            for room in rooms:
                members = all_rooms.get(room)
                if members:
                    selected.update(members)
        else:
            selected = all_rooms[None].copy()
        if except_rooms and selected:
            for room in except_rooms:
                members = all_rooms.get(room)
                if members:
                    for sid in members:
                        selected.pop(sid, None)
        return selected

    def select_eio(
        self, rooms: Iterable[Any] | None, except_rooms: Iterable[Any] | None
    ) -> list[str]:
        """Return the ``eio_sid`` of each recipient of a broadcast, as a list.

        The recipients of ``select(rooms, except_rooms)``, in the same order,
        without their sids: what a fan-out needs.
        """
        all_rooms = self.rooms
        excluded = []
        if except_rooms:
            for room in except_rooms:
                members = all_rooms.get(room)
                if members:
                    excluded.append(members)
        source: dict[str, str] | None
        if rooms:
            source = None
            union = False
            for room in rooms:
                members = all_rooms.get(room)
                if not members or members is source:
                    continue
                if source is None:
                    source = members
                elif not union:
                    source = source.copy()
                    union = True
                    source.update(members)
                else:
                    source.update(members)
            if source is None:
                return []
        else:
            source = all_rooms[None]
        if not excluded:
            return list(source.values())
        if sum(map(len, excluded)) * 4 < len(source):
            # few to leave out: copy (a block copy for a dict without holes)
            # and delete
            selected = source.copy()
            for members in excluded:
                for sid in members:
                    selected.pop(sid, None)
            return list(selected.values())
        if len(excluded) == 1:
            found = excluded[0]
            return [eio for sid, eio in source.items() if sid not in found]
        skip = set().union(*excluded)
        return [eio for sid, eio in source.items() if sid not in skip]
