"""The classic adapter's broadcast message, ``[uid, packet, opts]``, without I/O.

Built and read here in pure Python; the fast path (``pack_broadcast``,
``unpack_broadcast``, ``parse_broadcast``) does the same work faster for the
msgpack parser, with this module as its reference and its fallback.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .errors import MalformedMessage
from .parsers import Parser
from .rooms import parse_rooms

#: Socket.IO packet types a broadcast may carry: EVENT and BINARY_EVENT
EVENT_TYPES = (2, 5)


@dataclass(slots=True)
class Broadcast:
    """A decoded ``[uid, packet, opts]`` broadcast message."""

    uid: Any
    nsp: str
    data: list[Any]
    rooms: list[Any] = field(default_factory=list)
    except_rooms: list[Any] = field(default_factory=list)
    flags: dict[str, Any] = field(default_factory=dict)


def event_packet(nsp: str, data: list[Any]) -> dict[str, Any]:
    """The Socket.IO EVENT packet of a broadcast, in Node's key order."""
    return {"type": 2, "data": data, "nsp": nsp}


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
    packet = event_packet(nsp, data)
    rooms, except_rooms = list(rooms), list(dict.fromkeys(except_rooms))
    if emitter:
        return [uid, packet, {"rooms": rooms, "flags": flags, "except": except_rooms}]
    return [uid, packet, {"rooms": rooms, "except": except_rooms, "flags": flags}]


def event_args(data: Any) -> list[Any]:
    """python-socketio's rule: a tuple is several arguments, None is none."""
    if isinstance(data, tuple):
        return list(data)
    if data is None:
        return []
    return [data]



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
    if packet.get("type", 2) not in EVENT_TYPES:
        raise MalformedMessage(f"packet type {packet.get('type')!r} is not an event")
    data = packet.get("data")
    if not isinstance(data, list) or not data or not isinstance(data[0], str):
        raise MalformedMessage("packet.data is not [event, ...args]")
    nsp = packet.get("nsp", "/")
    if nsp is None:
        nsp = "/"
    if not isinstance(nsp, str):
        raise MalformedMessage("packet.nsp is not a string")
    rooms, except_rooms, flags = parse_targets(opts)
    return Broadcast(
        uid=uid, nsp=nsp, data=data, rooms=rooms, except_rooms=except_rooms, flags=flags
    )


def parse_targets(opts: Any) -> tuple[list[Any], list[Any], dict[str, Any]]:
    """A broadcast's ``opts`` read: its rooms, except-rooms and flags.

    ``None`` (or missing keys) means none of them.  Raises ``MalformedMessage``
    when ``opts`` is not a map of room lists and a flags map.
    """
    if opts is None:
        opts = {}
    if not isinstance(opts, dict):
        raise MalformedMessage("opts is not a map")
    flags = opts.get("flags")
    if flags is None:
        flags = {}
    if not isinstance(flags, dict):
        raise MalformedMessage("opts.flags is not a map")
    return (parse_rooms(opts.get("rooms"), "rooms"), parse_rooms(opts.get("except"), "except"),
            flags)


def decode_broadcast(parser: Parser, payload: bytes) -> Broadcast:
    """Decode and validate a broadcast payload; raise ``MalformedMessage``."""
    try:
        value = parser.decode(payload)
    except Exception as exc:
        raise MalformedMessage(f"undecodable broadcast: {exc}") from exc
    return parse_broadcast(value)


__all__ = [
    "EVENT_TYPES",
    "Broadcast",
    "broadcast_value",
    "decode_broadcast",
    "event_args",
    "event_packet",
    "parse_broadcast",
    "parse_targets",
]
