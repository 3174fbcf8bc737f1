"""The msgpack broadcast codec, the twin of ``src/fastpath/broadcast_*.pxi``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..protocol import broadcast, notepack
from ..protocol.errors import MalformedMessage

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
