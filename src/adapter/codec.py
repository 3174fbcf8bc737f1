"""The wire protocol of ``@socket.io/redis-adapter`` 8.3: channels and messages.

Nothing here does I/O.  Channel names and message layouts follow the Node
adapter byte for byte (``../shared/reference/node-redis-adapter-protocol.md``
sections 1.1, 2.1-2.4 and 3).
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, Protocol

from . import msgpack_compat


class RequestType(IntEnum):
    """Request and response types of the Node adapter (``RequestType`` enum)."""

    SOCKETS = 0
    ALL_ROOMS = 1
    REMOTE_JOIN = 2
    REMOTE_LEAVE = 3
    REMOTE_DISCONNECT = 4
    REMOTE_FETCH = 5
    SERVER_SIDE_EMIT = 6
    BROADCAST = 7
    BROADCAST_CLIENT_COUNT = 8
    BROADCAST_ACK = 9


class MalformedMessage(ValueError):
    """A message on one of the adapter's channels that cannot be used."""


class Parser(Protocol):
    """Encodes and decodes broadcast messages, like the Node ``parser`` option."""

    name: str

    def encode(self, value: Any) -> bytes: ...

    def decode(self, data: bytes) -> Any: ...


class MsgpackParser:
    """The default parser: MessagePack as ``notepack.io`` 3 writes it."""

    name = "msgpack"

    def encode(self, value: Any) -> bytes:
        return msgpack_compat.packb(value)

    def decode(self, data: bytes) -> Any:
        return msgpack_compat.unpackb(data)


def json_default(value: Any) -> Any:
    """``default`` hook for ``json.dumps``: Buffers and Dates as Node writes them."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        # what JSON.stringify makes of a Node Buffer
        return {"type": "Buffer", "data": list(bytes(value))}
    if isinstance(value, datetime.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        return value.isoformat(timespec="milliseconds") + "Z"
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def json_dumps(value: Any) -> bytes:
    """Serialize like ``JSON.stringify``: compact, UTF-8, Buffers as objects."""
    return json.dumps(
        value, separators=(",", ":"), ensure_ascii=False, default=json_default
    ).encode()


class JsonParser:
    """A JSON parser, for clusters whose Node servers use ``parser: JSON``.

    Binary data does not survive JSON: ``bytes`` travel as Node's
    ``{"type": "Buffer", "data": [...]}`` object.
    """

    name = "json"

    def encode(self, value: Any) -> bytes:
        return json_dumps(value)

    def decode(self, data: bytes) -> Any:
        return json.loads(data)


def get_parser(parser: str | Parser) -> Parser:
    """Return the parser named ``"msgpack"`` or ``"json"``, or ``parser`` itself."""
    if parser == "msgpack":
        return MsgpackParser()
    if parser == "json":
        return JsonParser()
    if isinstance(parser, str):
        raise ValueError(f"unknown parser {parser!r}: use 'msgpack', 'json' or an object")
    if not callable(getattr(parser, "encode", None)) or not callable(
        getattr(parser, "decode", None)
    ):
        raise TypeError("a parser needs encode(value) -> bytes and decode(bytes) methods")
    return parser


def room_text(room: Any) -> str:
    """Return a room's name as it appears in a channel (JavaScript ``String()``)."""
    if isinstance(room, str):
        return room
    if isinstance(room, bool):
        return "true" if room else "false"
    if isinstance(room, float) and room.is_integer():
        return str(int(room))
    return str(room)


def _glob_escape(text: str) -> str:
    for char in "\\*?[]":
        text = text.replace(char, "\\" + char)
    return text


class Channels:
    """Channel names of one ``key`` (Node's ``key`` option)."""

    __slots__ = ("key",)

    def __init__(self, key: str) -> None:
        self.key = key

    def broadcast(self, nsp: str) -> bytes:
        """``key#nsp#``: broadcasts to no room or to several rooms."""
        return f"{self.key}#{nsp}#".encode()

    def room(self, nsp: str, room: Any) -> bytes:
        """``key#nsp#room#``: broadcasts to exactly one room."""
        return f"{self.key}#{nsp}#{room_text(room)}#".encode()

    def broadcast_pattern(self, nsp: str) -> bytes:
        """The PSUBSCRIBE pattern that matches every broadcast of ``nsp``."""
        return f"{_glob_escape(self.key)}#{_glob_escape(nsp)}#*".encode()

    def request(self, nsp: str) -> bytes:
        return f"{self.key}-request#{nsp}#".encode()

    def response(self, nsp: str) -> bytes:
        return f"{self.key}-response#{nsp}#".encode()

    def specific_response(self, nsp: str, uid: str) -> bytes:
        return f"{self.key}-response#{nsp}#{uid}#".encode()


@dataclass(slots=True)
class Broadcast:
    """A decoded ``[uid, packet, opts]`` broadcast message."""

    uid: Any
    nsp: str
    data: list[Any]
    rooms: list[Any] = field(default_factory=list)
    except_rooms: list[Any] = field(default_factory=list)
    flags: dict[str, Any] = field(default_factory=dict)


def broadcast_value(
    uid: str,
    nsp: str,
    data: list[Any],
    rooms: Iterable[Any],
    except_rooms: Iterable[Any],
    flags: dict[str, Any],
    *,
    emitter: bool = False,
) -> list[Any]:
    """Build ``[uid, packet, opts]`` in the Node adapter's key order.

    With ``emitter``, ``opts`` has the key order of Node's
    ``@socket.io/redis-emitter`` (``rooms, flags, except``).  ``except`` is
    de-duplicated, in order.
    """
    packet = {"type": 2, "data": data, "nsp": nsp}
    rooms, except_rooms = list(rooms), list(dict.fromkeys(except_rooms))
    if emitter:
        return [uid, packet, {"rooms": rooms, "flags": flags, "except": except_rooms}]
    return [uid, packet, {"rooms": rooms, "except": except_rooms, "flags": flags}]


def _is_room(value: Any) -> bool:
    return isinstance(value, (str, int, float)) and not isinstance(value, bool)


def parse_rooms(value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, (list, tuple)) or not all(_is_room(room) for room in value):
        raise MalformedMessage(f"opts.{what} is not a list of room names")
    return list(value)


def parse_broadcast(value: Any) -> Broadcast:
    """Validate a decoded ``[uid, packet, opts]`` broadcast message.

    Returns a :class:`Broadcast`: ``nsp`` defaults to ``"/"``, and missing
    ``rooms``, ``except`` and ``flags`` to empty ones.

    :param value: the message, as the parser decoded it.

    Raises ``MalformedMessage`` when it is not a broadcast of an event.
    """
    if not isinstance(value, (list, tuple)) or len(value) < 3:
        raise MalformedMessage("a broadcast is not a [uid, packet, opts] array")
    uid, packet, opts = value[0], value[1], value[2]
    if not isinstance(packet, dict):
        raise MalformedMessage("packet is not a map")
    if packet.get("type", 2) not in (2, 5):
        raise MalformedMessage(f"packet type {packet.get('type')!r} is not an event")
    data = packet.get("data")
    if not isinstance(data, list) or not data or not isinstance(data[0], str):
        raise MalformedMessage("packet.data is not [event, ...args]")
    nsp = packet.get("nsp", "/")
    if nsp is None:
        nsp = "/"
    if not isinstance(nsp, str):
        raise MalformedMessage("packet.nsp is not a string")
    if opts is None:
        opts = {}
    if not isinstance(opts, dict):
        raise MalformedMessage("opts is not a map")
    flags = opts.get("flags")
    if flags is None:
        flags = {}
    if not isinstance(flags, dict):
        raise MalformedMessage("opts.flags is not a map")
    return Broadcast(
        uid=uid,
        nsp=nsp,
        data=data,
        rooms=parse_rooms(opts.get("rooms"), "rooms"),
        except_rooms=parse_rooms(opts.get("except"), "except"),
        flags=flags,
    )


def decode_broadcast(parser: Parser, payload: bytes) -> Broadcast:
    """Decode and validate a broadcast payload; raise ``MalformedMessage``."""
    try:
        value = parser.decode(payload)
    except Exception as exc:
        raise MalformedMessage(f"undecodable broadcast: {exc}") from exc
    return parse_broadcast(value)


def decode_request(parser: Parser, payload: bytes) -> dict[str, Any]:
    """Decode a request or response: JSON when it starts with ``{``, else ``parser``."""
    try:
        if payload[:1] == b"{":
            value = json.loads(payload)
        else:
            value = parser.decode(payload)
    except Exception as exc:
        raise MalformedMessage(f"undecodable request: {exc}") from exc
    if not isinstance(value, dict):
        raise MalformedMessage("a request is not a map")
    return value


__all__ = [
    "Broadcast",
    "Channels",
    "JsonParser",
    "MalformedMessage",
    "MsgpackParser",
    "Parser",
    "RequestType",
    "broadcast_value",
    "decode_broadcast",
    "decode_request",
    "get_parser",
    "json_default",
    "json_dumps",
    "parse_broadcast",
    "parse_rooms",
    "room_text",
]
