"""The sharded adapter's messages (Node's ``createShardedAdapter``), without I/O.

Node's sharded adapter (``@socket.io/redis-adapter`` 8.3 on socket.io-adapter
2.5's ``ClusterAdapter``) sends every message as one envelope,
``{"type": T, "data": {...}, "uid": UID, "nsp": NSP}`` (that key order), on
sharded channels (SPUBLISH/SSUBSCRIBE):

* ``P#NSP#``: every message that is not a response;
* ``P#NSP#ROOM#``: a broadcast to exactly one room, in the ``dynamic`` modes;
* ``P#NSP#UID#``: responses to the server ``UID``.

A message is MessagePack (as ``notepack.io`` writes it) only when its type
may carry binary data (3, 8, 9, 10, 12) and its ``data`` holds some;
otherwise it is JSON.  A receiver reads JSON when the first byte is ``{``
and MessagePack otherwise.  Server uids and request ids are 16 lowercase hex
characters.  This is the protocol layer of the sharded flavour, beside
:mod:`.classic`; the streams flavour uses the same envelope.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from . import notepack
from .errors import MalformedMessage
from .parsers import decode_map, json_dumps
from .rooms import room_text


class MessageType(IntEnum):
    """socket.io-adapter's ``MessageType`` (2.5.3 and later)."""

    INITIAL_HEARTBEAT = 1
    HEARTBEAT = 2
    BROADCAST = 3
    SOCKETS_JOIN = 4
    SOCKETS_LEAVE = 5
    DISCONNECT_SOCKETS = 6
    FETCH_SOCKETS = 7
    FETCH_SOCKETS_RESPONSE = 8
    SERVER_SIDE_EMIT = 9
    SERVER_SIDE_EMIT_RESPONSE = 10
    BROADCAST_CLIENT_COUNT = 11
    BROADCAST_ACK = 12
    ADAPTER_CLOSE = 13


#: the types whose ``data`` may hold binary, so that may travel as MessagePack
BINARY_TYPES = frozenset({
    MessageType.BROADCAST,
    MessageType.FETCH_SOCKETS_RESPONSE,
    MessageType.SERVER_SIDE_EMIT,
    MessageType.SERVER_SIDE_EMIT_RESPONSE,
    MessageType.BROADCAST_ACK,
})

#: the types that answer a request; they go to the requester's own channel
RESPONSE_TYPES = frozenset({
    MessageType.FETCH_SOCKETS_RESPONSE,
    MessageType.SERVER_SIDE_EMIT_RESPONSE,
    MessageType.BROADCAST_CLIENT_COUNT,
    MessageType.BROADCAST_ACK,
})

#: Node's ``subscriptionMode`` values
SUBSCRIPTION_MODES = ("static", "dynamic", "dynamic-private")


def new_server_uid() -> str:
    """A server uid or request id as socket.io-adapter makes them: 16 hex characters."""
    return os.urandom(8).hex()


def looks_like_socket_id(room: Any) -> bool:
    """Node's ``looksLikeASocketId``: a string of 20 characters (Python sids are too)."""
    return isinstance(room, str) and len(room) == 20


def check_mode(mode: str) -> str:
    """Return ``mode`` if it is one of :data:`SUBSCRIPTION_MODES`; raise ``ValueError``."""
    if mode not in SUBSCRIPTION_MODES:
        raise ValueError(f"subscription_mode must be one of {', '.join(SUBSCRIPTION_MODES)}")
    return mode


class ShardedChannels:
    """The sharded channel names of one ``channel_prefix``, and which one a message takes.

    :param prefix: Node's ``channelPrefix`` (``"socket.io"`` by default).
    :param mode: the subscription mode (see :data:`SUBSCRIPTION_MODES`).
    """

    __slots__ = ("prefix", "mode")

    def __init__(self, prefix: str, mode: str = "dynamic") -> None:
        if not isinstance(prefix, str) or not prefix:
            raise ValueError("channel_prefix must be a non-empty string")
        self.prefix = prefix
        self.mode = check_mode(mode)

    def main(self, nsp: str) -> bytes:
        """``P#NSP#``: every message that is not a response or a one-room broadcast."""
        return f"{self.prefix}#{nsp}#".encode()

    def response(self, nsp: str, uid: str) -> bytes:
        """``P#NSP#UID#``: responses to the server ``uid``."""
        return f"{self.prefix}#{nsp}#{uid}#".encode()

    def room(self, nsp: str, room: Any) -> bytes:
        """``P#NSP#ROOM#``: broadcasts to exactly this room (dynamic modes)."""
        return f"{self.prefix}#{nsp}#{room_text(room)}#".encode()

    def room_has_channel(self, room: Any, is_socket_room: bool) -> bool:
        """Whether a server subscribes to the channel of a room it has locally.

        ``static``: none; ``dynamic``: every room but the sockets' own rooms;
        ``dynamic-private``: every room.
        """
        if self.mode == "static":
            return False
        return self.mode == "dynamic-private" or not is_socket_room

    def for_broadcast(self, nsp: str, rooms: Sequence[Any], with_ack: bool) -> bytes:
        """The channel of a BROADCAST, as Node's publisher chooses it.

        A room's own channel only for a broadcast to exactly one room without
        acks, in ``dynamic`` mode when the room does not look like a socket
        id, and always in ``dynamic-private`` mode; the main channel otherwise.
        """
        if len(rooms) == 1 and not with_ack and self.mode != "static":
            room = rooms[0]
            if self.mode == "dynamic-private" or not looks_like_socket_id(room):
                return self.room(nsp, room)
        return self.main(nsp)


# -- the envelope ------------------------------------------------------------


def has_binary(value: Any, _depth: int = 0) -> bool:
    """Node's ``hasBinary``: bytes anywhere in lists, tuples and dict values."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return True
    if _depth > 512:
        return False
    if isinstance(value, (list, tuple)):
        return any(has_binary(item, _depth + 1) for item in value)
    if isinstance(value, dict):
        return any(has_binary(item, _depth + 1) for item in value.values())
    return False


def envelope(kind: MessageType, data: dict[str, Any] | None, uid: str, nsp: str
             ) -> dict[str, Any]:
    """``{type, data, uid, nsp}`` in Node's key order (no ``data`` when None)."""
    if data is None:
        return {"type": int(kind), "uid": uid, "nsp": nsp}
    return {"type": int(kind), "data": data, "uid": uid, "nsp": nsp}


def encode(message: dict[str, Any]) -> bytes:
    """The bytes Node's sharded adapter publishes for ``message``.

    MessagePack when the type may carry binary and ``data`` has some, JSON
    otherwise.  Raises ``TypeError`` when the data cannot be serialized.
    """
    if message.get("type") in BINARY_TYPES and has_binary(message.get("data")):
        return notepack.packb(message)
    return json_dumps(message)


@dataclass(slots=True)
class ClusterMessage:
    """A decoded envelope.  ``nsp`` is None when the sender wrote none (adapter 8.2)."""

    type: int
    data: dict[str, Any]
    uid: Any
    nsp: str | None


def decode(payload: bytes) -> ClusterMessage:
    """Read an envelope: JSON when it starts with ``{``, MessagePack otherwise.

    Raises ``MalformedMessage`` when it cannot be decoded or is not an
    envelope (a map with an integer ``type``; ``data``, when present, a map).
    """
    value = decode_map(notepack.unpackb, payload, "message")
    kind = value.get("type")
    if not isinstance(kind, int) or isinstance(kind, bool):
        raise MalformedMessage("a message without an integer type")
    data = value.get("data")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise MalformedMessage("message data is not a map")
    nsp = value.get("nsp")
    if nsp is not None and not isinstance(nsp, str):
        raise MalformedMessage("message nsp is not a string")
    return ClusterMessage(kind, data, value.get("uid"), nsp)


# -- the data of each type (key order as on the wire) ---------------------------


def opts(rooms: Sequence[Any], except_rooms: Sequence[Any], flags: dict[str, Any] | None = None
         ) -> dict[str, Any]:
    """``opts`` as ``ClusterAdapter`` encodes it: ``rooms``, ``except``, ``flags``."""
    return {"rooms": list(rooms), "except": list(except_rooms), "flags": flags or {}}


def broadcast_data(
    data: list[Any], rooms: Sequence[Any], except_rooms: Sequence[Any],
    flags: dict[str, Any] | None = None, request_id: str | None = None,
) -> dict[str, Any]:
    """BROADCAST (3): the packet has no ``nsp`` and no ``id``; with acks, a ``requestId``."""
    packet = {"type": 2, "data": data}
    if request_id is None:
        return {"packet": packet, "opts": opts(rooms, except_rooms, flags)}
    return {"packet": packet, "requestId": request_id, "opts": opts(rooms, except_rooms, flags)}


def sockets_join_data(selector_opts: dict[str, Any], rooms: list[Any]) -> dict[str, Any]:
    return {"opts": selector_opts, "rooms": rooms}


def sockets_leave_data(selector_opts: dict[str, Any], rooms: list[Any]) -> dict[str, Any]:
    return {"opts": selector_opts, "rooms": rooms}


def disconnect_sockets_data(selector_opts: dict[str, Any], close: bool) -> dict[str, Any]:
    return {"opts": selector_opts, "close": bool(close)}


def fetch_sockets_data(selector_opts: dict[str, Any], request_id: str) -> dict[str, Any]:
    return {"opts": selector_opts, "requestId": request_id}


def fetch_sockets_response_data(request_id: str, sockets: list[Any]) -> dict[str, Any]:
    return {"requestId": request_id, "sockets": sockets}


def server_side_emit_data(args: list[Any], request_id: str | None = None) -> dict[str, Any]:
    """SERVER_SIDE_EMIT (9): ``packet`` is ``[event, ...args]``; with a reply, a ``requestId``."""
    if request_id is None:
        return {"packet": args}
    return {"requestId": request_id, "packet": args}


def server_side_emit_response_data(request_id: str, packet: Any) -> dict[str, Any]:
    return {"requestId": request_id, "packet": packet}


def client_count_data(request_id: str, count: int) -> dict[str, Any]:
    return {"requestId": request_id, "clientCount": count}


def broadcast_ack_data(request_id: str, packet: Any) -> dict[str, Any]:
    return {"requestId": request_id, "packet": packet}


__all__ = [
    "BINARY_TYPES",
    "RESPONSE_TYPES",
    "SUBSCRIPTION_MODES",
    "ClusterMessage",
    "MessageType",
    "ShardedChannels",
    "broadcast_ack_data",
    "broadcast_data",
    "check_mode",
    "client_count_data",
    "decode",
    "disconnect_sockets_data",
    "encode",
    "envelope",
    "fetch_sockets_data",
    "fetch_sockets_response_data",
    "has_binary",
    "looks_like_socket_id",
    "new_server_uid",
    "opts",
    "server_side_emit_data",
    "server_side_emit_response_data",
    "sockets_join_data",
    "sockets_leave_data",
]
