"""The sharded flavour's messages as bytes, for one server: :class:`ShardedCodec`, and readers.

Built on :mod:`.sharded` (the envelope, Node's encoding rule, the channels).
The codec knows the server's uid, so it also recognises the server's own
messages from their last bytes, without decoding them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..fastpath import FASTPATH, encode_event, json_value_text, parse_broadcast
from . import notepack
from .broadcast import Broadcast, parse_targets
from .errors import MalformedMessage
from .parsers import json_default, json_dumps, json_loads
from .requests import Selector
from .rooms import parse_rooms
from .sharded import (
    BINARY_TYPES,
    ClusterMessage,
    MessageType,
    ShardedChannels,
    broadcast_data,
    decode,
    envelope,
    has_binary,
    new_server_uid,
)


class _HasBinary(Exception):
    """Raised by :func:`_stop_at_binary` inside the JSON encoder."""


def _stop_at_binary(value: Any) -> Any:
    """``json_default``, except that binary data stops the encoding."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        raise _HasBinary
    return json_default(value)


# ``json_dumps``'s encoder (a ``JSONEncoder`` keeps no state between calls), made once
_encode_text = json.JSONEncoder(
    separators=(",", ":"), ensure_ascii=False, default=_stop_at_binary
).encode
_dumps = json.dumps


class _Binary:
    """The type of :data:`HAS_BINARY`."""


#: what :func:`json_or_binary` returns for data that certainly holds binary
HAS_BINARY = _Binary()


def json_or_binary(message: Any) -> bytes | _Binary | None:
    """``json_dumps(message)`` when ``message`` certainly holds no binary; else
    :data:`HAS_BINARY` when it certainly holds some, or None when unsure.

    The fast way to Node's encoding rule for the types that may carry binary:
    one JSON encoding instead of a binary scan and then the encoding.  With
    the compiled core, its JSON writer (``encode_event``, which writes json's
    ``ensure_ascii`` text and reports binary as attachments): when that text
    has no ``\\u`` escape it is the very text ``json_dumps`` writes.
    Otherwise json's encoder, with a hook that stops at the first binary
    value.  None when neither tells (data json cannot encode, too deep): the
    caller then applies the rule as before.
    """
    if FASTPATH:
        try:
            parts = encode_event("/", message, _dumps)
        except Exception:
            parts = None
        if parts is not None:
            if len(parts) > 1:
                return HAS_BINARY  # binary attachments
            text = parts[0]
            if isinstance(text, str) and "\\u" not in text:
                return text[1:].encode()  # after the packet type "2"
    try:
        return _encode_text(message).encode()
    except _HasBinary:
        return HAS_BINARY
    except Exception:  # what json_dumps would raise too
        return None


def json_unless_binary(message: Any) -> bytes | None:
    """``json_dumps(message)`` when ``message`` certainly holds no binary, else None."""
    text = json_or_binary(message)
    return text if isinstance(text, bytes) else None


#: how the JSON of a BROADCAST (3) without acks starts, up to the event's packet data
_BROADCAST_HEAD = b'{"type":3,"data":{"packet":{"type":2,"data":'
#: how many one-room broadcast endings a codec keeps (emptied when full)
_ONE_ROOM_CACHE = 4096


class ShardedCodec:
    """Encodes this server's sharded messages and picks their channels.

    :param prefix: Node's ``channelPrefix``.
    :param mode: the subscription mode (``static``, ``dynamic``, ``dynamic-private``).
    :param uid: the server's uid (16 hex characters; made when omitted).
    """

    __slots__ = ("uid", "channels", "_own", "_one_room")

    def __init__(self, prefix: str, mode: str, uid: str | None = None) -> None:
        self.uid = uid or new_server_uid()
        self.channels = ShardedChannels(prefix, mode)
        #: namespace -> the endings of this server's messages (JSON, MessagePack)
        self._own: dict[str, tuple[bytes, bytes]] = {}
        #: (namespace, room) -> the channel and JSON ending of a plain broadcast to that room
        self._one_room: dict[tuple[str, str], tuple[bytes, bytes]] = {}

    def encode(self, kind: MessageType, data: dict[str, Any] | None, nsp: str) -> bytes:
        """One message from this server, as Node encodes it (JSON, or MessagePack with binary).

        Raises ``TypeError`` when the data cannot be serialized.
        """
        message = envelope(kind, data, self.uid, nsp)
        if kind in BINARY_TYPES and data is not None:
            text = json_or_binary(message)
            if isinstance(text, bytes):
                return text
            if text is HAS_BINARY or has_binary(data):
                return notepack.packb(message)
        return json_dumps(message)

    def encode_broadcast(
        self, nsp: str, payload: list[Any], rooms: Sequence[Any], except_rooms: Sequence[Any],
        flags: dict[str, Any], request_id: str | None = None,
    ) -> tuple[bytes, bytes]:
        """The channel and bytes of a BROADCAST (3), on the channel Node's publisher picks."""
        if request_id is None and len(rooms) == 1 and not except_rooms and not flags:
            room = rooms[0]
            if type(room) is str:
                # the usual emit: the envelope's JSON is its fixed head, the event's
                # JSON and the room's ending (what json_dumps writes, piece by piece)
                ending = self._one_room.get((nsp, room))
                if ending is None:
                    ending = self._one_room_ending(nsp, room)
                body = json_or_binary(payload)
                if isinstance(body, bytes):
                    return ending[0], _BROADCAST_HEAD + body + ending[1]
                if body is HAS_BINARY:
                    message = envelope(MessageType.BROADCAST,
                                       broadcast_data(payload, rooms, [], {}), self.uid, nsp)
                    return ending[0], notepack.packb(message)
        data = broadcast_data(payload, rooms, except_rooms, flags, request_id)
        channel = self.channels.for_broadcast(nsp, rooms, request_id is not None)
        return channel, self.encode(MessageType.BROADCAST, data, nsp)

    def _one_room_ending(self, nsp: str, room: str) -> tuple[bytes, bytes]:
        """The channel of a plain broadcast to ``room`` and its JSON after the packet data."""
        if len(self._one_room) >= _ONE_ROOM_CACHE:
            self._one_room.clear()
        marker = [0]
        text = json_dumps(envelope(
            MessageType.BROADCAST, broadcast_data(marker, [room], [], {}), self.uid, nsp
        ))
        head, _, ending = text.partition(b"[0]")
        if head != _BROADCAST_HEAD:  # pragma: no cover - the envelope's key order is fixed
            raise AssertionError(f"unexpected broadcast head {head!r}")
        entry = (self.channels.for_broadcast(nsp, [room], False), ending)
        self._one_room[(nsp, room)] = entry
        return entry

    def table_sizes(self) -> dict[str, int]:
        """The caches: ``one_room_endings`` (at most 4096), ``own_endings`` (one
        per namespace) and ``plain_read_targets`` (at most 1024; shared by every
        sharded adapter of the process)."""
        return {
            "one_room_endings": len(self._one_room),
            "own_endings": len(self._own),
            "plain_read_targets": len(_targets),
        }

    def is_own(self, payload: bytes, nsp: str) -> bool:
        """True for a message this server sent in ``nsp`` (by its last bytes)."""
        endings = self._own.get(nsp)
        if endings is None:
            endings = self._own[nsp] = (
                json_dumps({"uid": self.uid, "nsp": nsp})[1:],
                notepack.packb({"uid": self.uid, "nsp": nsp})[1:],
            )
        return payload.endswith(endings)


# -- reading ----------------------------------------------------------------------


@dataclass(slots=True)
class ShardedBroadcast:
    """A BROADCAST (3): the event and its targets; ``request_id`` when acks are awaited."""

    message: Broadcast
    request_id: str | None


def read_broadcast(message: ClusterMessage, nsp: str) -> ShardedBroadcast:
    """Read a BROADCAST's data; raise ``MalformedMessage``."""
    data = message.data
    parsed = parse_broadcast([message.uid, data.get("packet"), data.get("opts")])
    parsed.nsp = nsp
    request_id = data.get("requestId")
    if request_id is not None and not isinstance(request_id, str):
        raise MalformedMessage("requestId is not a string")
    return ShardedBroadcast(parsed, request_id)


@dataclass(slots=True)
class PlainBroadcast:
    """A BROADCAST without acks, read without decoding its event.

    ``event_text`` is the JSON text of ``packet.data`` (``[event, ...args]``),
    as the sender wrote it: what a Socket.IO text packet carries after its
    header.  ``nsp`` is None when the sender wrote none (adapter 8.2).
    """

    event_text: str
    rooms: list[Any]
    except_rooms: list[Any]
    flags: dict[str, Any]
    uid: Any
    nsp: str | None


_OPTS_KEY = b'},"opts":'
#: how many broadcast endings (targets, uid, nsp) are kept decoded (emptied when full)
_TARGETS_CACHE = 1024
Targets = tuple[list[Any], list[Any], dict[str, Any], Any, "str | None"]
_targets: dict[bytes, Targets | None] = {}
_UNKNOWN: Any = object()


def read_plain_broadcast(payload: bytes) -> PlainBroadcast | None:
    """Read a BROADCAST without acks in the JSON layout Node and this package write.

    That layout is ``{"type":3,"data":{"packet":{"type":2,"data":[...]},
    "opts":{...}},"uid":...,"nsp":...}`` with no spaces.  The packet's data
    is checked (:func:`json_value_text`), not decoded.  What follows it (the
    targets, ``uid`` and ``nsp``) repeats from message to message of one
    sender and room, so it is decoded once and kept (read-only: the lists
    and flags of one ending are shared).  Returns None for anything else
    (MessagePack, acks, another key order or spacing, data that is not
    ``[event, ...]``), which :func:`~.sharded.decode` then reads as usual.
    Raises ``MalformedMessage`` when the layout is right but the rooms or
    flags are not.
    """
    if not payload.startswith(_BROADCAST_HEAD):
        return None
    found = json_value_text(payload, len(_BROADCAST_HEAD))
    if found is None:
        return None
    event_text, end = found
    if not event_text.startswith('["'):
        return None
    ending = payload[end:]
    targets = _targets.get(ending, _UNKNOWN)
    if targets is _UNKNOWN:
        targets = _read_ending(ending)
        if len(_targets) >= _TARGETS_CACHE:
            _targets.clear()
        _targets[ending] = targets
    if targets is None:
        return None
    return PlainBroadcast(event_text, *targets)


def _read_ending(ending: bytes) -> Targets | None:
    """``},"opts":{...}},"uid":...,"nsp":...}`` read (None: not in the layout)."""
    if not ending.startswith(_OPTS_KEY):
        return None
    opts_found = json_value_text(ending, len(_OPTS_KEY))
    if opts_found is None:
        return None
    opts_end = opts_found[1]
    if ending[opts_end:opts_end + 2] != b"},":
        return None
    # {"opts":{...},"uid":...,"nsp":...}: the envelope without its packet
    try:
        rest = json_loads(b"{" + ending[2:opts_end] + ending[opts_end + 1:])
    except ValueError:
        return None
    if not isinstance(rest, dict) or not rest.keys() <= {"opts", "uid", "nsp"}:
        return None
    nsp = rest.get("nsp")
    if nsp is not None and not isinstance(nsp, str):
        return None
    return (*parse_targets(rest["opts"]), rest.get("uid"), nsp)


def read_selector(data: dict[str, Any]) -> Selector:
    """The sockets a SOCKETS_JOIN/LEAVE, DISCONNECT_SOCKETS or FETCH_SOCKETS is for."""
    return Selector.read(data.get("opts"))


def read_rooms(data: dict[str, Any]) -> list[Any]:
    """The rooms of a SOCKETS_JOIN or SOCKETS_LEAVE."""
    return parse_rooms(data.get("rooms"), "rooms")


def read_request_id(data: dict[str, Any], required: bool = True) -> str | None:
    """The ``requestId``: a string; None when absent and not ``required``."""
    request_id = data.get("requestId")
    if isinstance(request_id, str):
        return request_id
    if request_id is None and not required:
        return None
    raise MalformedMessage("a message without a string requestId")


def read_server_side_event(data: dict[str, Any]) -> tuple[str, list[Any], str | None]:
    """A SERVER_SIDE_EMIT's ``(event, args, request_id)``."""
    packet = data.get("packet")
    if not isinstance(packet, list) or not packet or not isinstance(packet[0], str):
        raise MalformedMessage("a server-side event without [event, ...args]")
    return packet[0], packet[1:], read_request_id(data, required=False)


__all__ = [
    "ClusterMessage",
    "PlainBroadcast",
    "ShardedBroadcast",
    "ShardedCodec",
    "decode",
    "read_broadcast",
    "read_plain_broadcast",
    "read_request_id",
    "read_rooms",
    "read_selector",
    "read_server_side_event",
]
