"""The sharded flavour's messages as bytes, for one server: :class:`ShardedCodec`, and readers.

Built on :mod:`.sharded` (the envelope, Node's encoding rule, the channels).
The codec knows the server's uid, so it also recognises the server's own
messages from their last bytes, without decoding them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from . import notepack
from .broadcast import Broadcast, parse_broadcast
from .errors import MalformedMessage
from .parsers import json_dumps
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


class ShardedCodec:
    """Encodes this server's sharded messages and picks their channels.

    :param prefix: Node's ``channelPrefix``.
    :param mode: the subscription mode (``static``, ``dynamic``, ``dynamic-private``).
    :param uid: the server's uid (16 hex characters; made when omitted).
    """

    __slots__ = ("uid", "channels", "_own")

    def __init__(self, prefix: str, mode: str, uid: str | None = None) -> None:
        self.uid = uid or new_server_uid()
        self.channels = ShardedChannels(prefix, mode)
        #: namespace -> the endings of this server's messages (JSON, MessagePack)
        self._own: dict[str, tuple[bytes, bytes]] = {}

    def encode(self, kind: MessageType, data: dict[str, Any] | None, nsp: str) -> bytes:
        """One message from this server, as Node encodes it (JSON, or MessagePack with binary).

        Raises ``TypeError`` when the data cannot be serialized.
        """
        message = envelope(kind, data, self.uid, nsp)
        if kind in BINARY_TYPES and data is not None and has_binary(data):
            return notepack.packb(message)
        return json_dumps(message)

    def encode_broadcast(
        self, nsp: str, payload: list[Any], rooms: Sequence[Any], except_rooms: Sequence[Any],
        flags: dict[str, Any], request_id: str | None = None,
    ) -> tuple[bytes, bytes]:
        """The channel and bytes of a BROADCAST (3), on the channel Node's publisher picks."""
        data = broadcast_data(payload, rooms, except_rooms, flags, request_id)
        channel = self.channels.for_broadcast(nsp, rooms, request_id is not None)
        return channel, self.encode(MessageType.BROADCAST, data, nsp)

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
    "ShardedBroadcast",
    "ShardedCodec",
    "decode",
    "read_broadcast",
    "read_request_id",
    "read_rooms",
    "read_selector",
    "read_server_side_event",
]
