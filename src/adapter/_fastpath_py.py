"""Pure-Python twin of the compiled core ``src/_fastpath.pyx``.

Both modules expose the same names, signatures and behaviour; the test suite
runs every test against both.  Nothing here does I/O: these are the
per-message and per-recipient hot paths of the adapter.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import Any

from .protocol import broadcast, notepack
from .protocol.errors import MalformedMessage

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


class ChannelRouter:
    """Map a broadcast channel name to the namespace that should decode it.

    Channels are ``<key>#<nsp>#`` and ``<key>#<nsp>#<room>#``.  ``route``
    returns ``(nsp, index)`` when a message must be decoded and ``None`` when
    it can be dropped unread: another key, an unknown namespace, a malformed
    name, or a room no local socket is in.  ``dropped`` counts the drops.
    """

    __slots__ = ("prefix", "namespaces", "dropped")

    def __init__(self, key: str) -> None:
        self.prefix: bytes = (key + "#").encode()
        self.namespaces: dict[bytes, tuple[str, RoomIndex]] = {}
        self.dropped: int = 0

    def add(self, nsp: str, index: RoomIndex) -> None:
        """Route the namespace ``nsp`` to ``index``."""
        self.namespaces[nsp.encode()] = (nsp, index)

    def remove(self, nsp: str) -> None:
        """Stop routing the namespace ``nsp``."""
        self.namespaces.pop(nsp.encode(), None)

    def route(self, channel: bytes) -> tuple[str, RoomIndex] | None:
        """Return ``(nsp, index)`` if the message on ``channel`` is for us."""
        prefix = self.prefix
        start = len(prefix)
        if not channel.startswith(prefix):
            self.dropped += 1
            return None
        end = channel.find(b"#", start)
        entry = self.namespaces.get(channel[start:end]) if end > 0 else None
        if entry is None:
            self.dropped += 1
            return None
        size = len(channel)
        if end + 2 >= size:
            # "<key>#<nsp>#" (or an empty room, which Node treats the same)
            if end + 1 == size or channel[end + 1] == 0x23:
                return entry
            self.dropped += 1
            return None
        if channel[size - 1] != 0x23:
            self.dropped += 1
            return None
        try:
            room = channel[end + 1 : size - 1].decode()
        except UnicodeDecodeError:
            self.dropped += 1
            return None
        if entry[1].has_channel_room(room):
            return entry
        self.dropped += 1
        return None


def _deconstruct(data: Any, attachments: list[bytes]) -> Any:
    if isinstance(data, (bytes, bytearray, memoryview)):
        attachments.append(bytes(data))
        return {"_placeholder": True, "num": len(attachments) - 1}
    if isinstance(data, list | tuple):
        return [_deconstruct(item, attachments) for item in data]
    if isinstance(data, dict):
        return {key: _deconstruct(value, attachments) for key, value in data.items()}
    return data


def _has_binary(data: Any) -> bool:
    if isinstance(data, (bytes, bytearray, memoryview)):
        return True
    if isinstance(data, list | tuple):
        return any(_has_binary(item) for item in data)
    if isinstance(data, dict):
        return any(_has_binary(value) for value in data.values())
    return False


def encode_event(
    namespace: str, data: list[Any], dumps: Callable[..., str], ack_id: int | None = None
) -> list[str | bytes]:
    """Encode a Socket.IO EVENT packet in the default (text) format.

    Returns the text part followed by one ``bytes`` part per binary
    attachment, e.g. ``['2/chat,["news",1]']`` or
    ``['51-["bin",{"_placeholder":true,"num":0}]', b"..."]``.
    ``dumps`` is the JSON module's ``dumps``.
    """
    header = "2"
    attachments: list[bytes] = []
    if _has_binary(data):
        data = _deconstruct(data, attachments)
        header = f"5{len(attachments)}-"
    if namespace and namespace != "/":
        header += namespace + ","
    if ack_id is not None:
        header += str(ack_id)
    parts: list[str | bytes] = [header + dumps(data, separators=(",", ":"))]
    parts.extend(attachments)
    return parts


class DeliveryCache:
    """Per-socket records that let the compiled ``deliver`` skip reads that never change.

    Pass the same cache to every ``deliver`` call on one Engine.IO server's
    ``sockets``; ``forget(eio_sid)`` drops a socket's record (the adapter
    calls it when a socket disconnects) and ``clear()`` drops them all.  The
    compiled twin keeps a record for each socket with an exact ``str``
    ``eio_sid`` whose queue is an exact, unbounded ``asyncio.Queue``, used
    only while ``sockets[eio_sid]`` is the very socket object it was made
    for, so a new or replaced socket never gets a stale record; a socket's
    queue is taken to be the one it had when its record was made
    (python-engineio never replaces it; ``forget`` the socket if you do).
    Records that ``forget`` misses are pruned: when the cache holds 1024
    records or more, those whose socket is gone, replaced or closed are
    dropped before a new one is added, and then not again before the cache
    has doubled.  The pure-Python twin keeps no records.  A cache never
    changes what ``deliver`` does, only how fast.
    """

    __slots__ = ()

    def forget(self, eio_sid: str) -> None:
        """Drop the record of ``eio_sid``, if there is one."""

    def clear(self) -> None:
        """Drop every record."""

    def __len__(self) -> int:
        return 0

    def __contains__(self, eio_sid: object) -> bool:
        return False


def deliver(
    sockets: dict[str, Any],
    eio_sids: Iterable[str],
    packets: Iterable[Any],
    polling_packets: Callable[[], list[Any]] | None,
    volatile: bool,
    cache: DeliveryCache | None = None,
) -> int:
    """Queue ``packets`` on each recipient's Engine.IO socket, without tasks.

    ``sockets`` is the Engine.IO server's ``sockets`` dict.  Sockets that are
    unknown or closed are skipped.  Websocket sockets share ``packets``; when
    ``polling_packets`` is given (binary messages), sockets still on
    long-polling get fresh packets from it, because Engine.IO caches a
    packet's first encoding and polling needs base64.  With ``volatile``,
    sockets that still have packets waiting are skipped.  ``cache`` (a
    ``DeliveryCache``, the same one for every call on ``sockets``) only makes
    it faster.  Returns the number of sockets the packets were queued on.
    """
    delivered = 0
    if not isinstance(packets, (list, tuple)):
        packets = list(packets)  # read once, for every socket
    for eio_sid in eio_sids:
        socket = sockets.get(eio_sid)
        if socket is None or socket.closed:
            continue
        queue = socket.queue
        if volatile and queue.qsize():
            continue
        if polling_packets is not None and not socket.upgraded:
            for pkt in polling_packets():
                queue.put_nowait(pkt)
        else:
            for pkt in packets:
                queue.put_nowait(pkt)
        delivered += 1
    return delivered


class RespError(Exception):
    """An error reply (``-ERR ...``) read from a Redis connection."""


_PMESSAGE_HEAD = b"*4\r\n$8\r\npmessage\r\n"


class PushParser:
    """Split a subscriber connection's bytes into RESP2 replies, dropping early.

    ``feed(data)`` parses every complete reply.  A ``pmessage`` whose channel
    ``channel_filter.route(channel)`` rejects is dropped before its payload
    becomes an object; other ``pmessage`` and ``message`` pushes go to
    ``on_message(pattern, channel, data)`` (``pattern`` is None for
    ``message``); every other reply (subscription confirmations, ``pong``,
    errors as :class:`RespError`) goes to ``on_reply(value)``.  An exception
    raised by a callback is counted in ``handler_errors`` and passed to
    ``on_error``; it never loses the rest of the stream.  Raises
    ``ValueError`` when the stream is not RESP2.
    """

    __slots__ = ("on_message", "on_reply", "on_error", "channel_filter", "handler_errors",
                 "_buffer")

    def __init__(
        self,
        on_message: Callable[[bytes | None, bytes, bytes], Any],
        on_reply: Callable[[Any], Any],
        on_error: Callable[[BaseException], Any] | None = None,
        channel_filter: ChannelRouter | None = None,
    ) -> None:
        self.on_message = on_message
        self.on_reply = on_reply
        self.on_error = on_error
        self.channel_filter = channel_filter
        self.handler_errors = 0
        self._buffer = b""

    def feed(self, data: bytes) -> None:
        """Parse ``data`` (plus what was left incomplete before)."""
        buffer = self._buffer + data if self._buffer else bytes(data)
        position = 0
        size = len(buffer)
        while position < size:
            if buffer.startswith(_PMESSAGE_HEAD, position):
                end = self._pmessage(buffer, position + len(_PMESSAGE_HEAD))
            else:
                end = self._reply(buffer, position)
            if end < 0:
                break
            position = end
        self._buffer = buffer[position:]

    def _pmessage(self, buffer: bytes, position: int) -> int:
        pattern, position = _bulk(buffer, position)
        if position < 0:
            return -1
        channel, position = _bulk(buffer, position)
        if position < 0:
            return -1
        data, position = _bulk(buffer, position)
        if position < 0:
            return -1
        channel_filter = self.channel_filter
        if channel_filter is None or channel_filter.route(channel) is not None:
            self._call(self.on_message, pattern, channel, data)
        return position

    def _reply(self, buffer: bytes, position: int) -> int:
        value, position = _value(buffer, position)
        if position < 0:
            return -1
        if (
            isinstance(value, list)
            and len(value) == 3
            and value[0] == b"message"
            and isinstance(value[1], bytes)
            and isinstance(value[2], bytes)
        ):
            self._call(self.on_message, None, value[1], value[2])
        else:
            self._call(self.on_reply, value)
        return position

    def _call(self, function: Callable[..., Any], *args: Any) -> None:
        try:
            function(*args)
        except Exception as exc:
            self.handler_errors += 1
            if self.on_error is not None:
                try:
                    self.on_error(exc)
                except Exception:  # noqa: S110 - a failing error hook must not stop parsing
                    pass


def _line(buffer: bytes, position: int) -> tuple[bytes, int]:
    end = buffer.find(b"\r\n", position)
    if end < 0:
        return b"", -1
    return buffer[position:end], end + 2


def _integer(text: bytes) -> int:
    if not text or not text.lstrip(b"-").isdigit():
        raise ValueError(f"RESP protocol error: bad length {text[:20]!r}")
    return int(text)


def _bulk(buffer: bytes, position: int) -> tuple[bytes, int]:
    if position >= len(buffer):
        return b"", -1
    if buffer[position] != 0x24:  # "$"
        raise ValueError("RESP protocol error: a bulk string was expected")
    text, position = _line(buffer, position + 1)
    if position < 0:
        return b"", -1
    size = _integer(text)
    end = position + size
    if size < 0:
        raise ValueError("RESP protocol error: a null bulk string in a push message")
    if end + 2 > len(buffer):
        return b"", -1
    return buffer[position:end], end + 2


def _value(buffer: bytes, position: int) -> tuple[Any, int]:
    if position >= len(buffer):
        return None, -1
    kind = buffer[position]
    text, after = _line(buffer, position + 1)
    if after < 0:
        return None, -1
    if kind == 0x2B:  # "+"
        return text, after
    if kind == 0x2D:  # "-"
        return RespError(text.decode(errors="replace")), after
    if kind == 0x3A:  # ":"
        return _integer(text), after
    if kind == 0x24:  # "$"
        size = _integer(text)
        if size < 0:
            return None, after
        end = after + size
        if end + 2 > len(buffer):
            return None, -1
        return buffer[after:end], end + 2
    if kind == 0x2A:  # "*"
        count = _integer(text)
        if count < 0:
            return None, after
        items = []
        for _ in range(count):
            item, after = _value(buffer, after)
            if after < 0:
                return None, -1
            items.append(item)
        return items, after
    raise ValueError(f"RESP protocol error: unexpected byte {kind:#x}")


# ------------------------------------------------------- broadcast messages


def pack_broadcast(
    uid: Any,
    nsp: Any,
    data: Any,
    rooms: Iterable[Any],
    except_rooms: Iterable[Any],
    flags: Any,
    *,
    emitter: bool = False,
) -> bytes:
    """Encode a ``[uid, packet, opts]`` broadcast message with the msgpack parser.

    The bytes are ``notepack.packb(broadcast.broadcast_value(uid, nsp,
    data, rooms, except_rooms, flags))``: what Node's adapter writes with
    notepack.io 3, ``except`` de-duplicated in order.

    :param uid: the sending server's uid.
    :param nsp: the namespace.
    :param data: the event name followed by its arguments.
    :param rooms: the rooms to broadcast to (none for everyone).
    :param except_rooms: the rooms whose clients must not get the event.
    :param flags: Socket.IO's broadcast flags (``volatile``, ``compress``...).
    :param emitter: write the ``opts`` keys in the order of Node's
                    ``@socket.io/redis-emitter`` (``rooms, flags, except``)
                    instead of the adapter's (``rooms, except, flags``).

    Raises ``TypeError`` when the data cannot be serialized.
    """
    value = broadcast.broadcast_value(uid, nsp, data, rooms, except_rooms, flags, emitter=emitter)
    return notepack.packb(value)


def parse_broadcast(value: Any) -> broadcast.Broadcast:
    """Validate a decoded ``[uid, packet, opts]`` broadcast message.

    Returns a :class:`Broadcast`: ``nsp`` defaults to ``"/"``, and missing
    ``rooms``, ``except`` and ``flags`` to empty ones.

    :param value: the message, as the parser decoded it.

    Raises ``MalformedMessage`` when it is not a broadcast of an event.
    """
    # the validation is the protocol layer's; the compiled core has it in C
    return broadcast.parse_broadcast(value)


def unpack_broadcast(data: bytes) -> broadcast.Broadcast:
    """Decode and validate a broadcast message written with the msgpack parser.

    The same as ``protocol.broadcast.decode_broadcast(MsgpackParser(), data)``.

    :param data: the message, as published on a broadcast channel.

    Raises ``MalformedMessage`` when the message cannot be decoded or is not
    a ``[uid, packet, opts]`` broadcast.
    """
    try:
        value = notepack.unpackb(data)
    except Exception as exc:
        raise MalformedMessage(f"undecodable broadcast: {exc}") from exc
    return broadcast.parse_broadcast(value)
