"""The two flavours' own work per message, side by side, with the default (compiled) core.

What differs between ``AsyncRedisAdapter`` and ``AsyncShardedRedisAdapter`` on the hot
paths is the protocol: the publisher encodes an emit (classic: msgpack ``[uid, packet,
opts]``; sharded: the ``{type, data, uid, nsp}`` envelope, JSON unless it holds binary), and
the receiver turns another server's broadcast into its targets and the clients' packet
text (classic: decode, then encode the event as JSON; sharded: the event's JSON text is
kept from the wire, ``read_plain_broadcast``, and only the targets are decoded).  The
transports' parsers, the room selection and the queueing on sockets are shared.  Each group
has a ``classic`` and a ``sharded`` row, so the sharded/classic ratio is read off one
table::

    pytest benchmarks/bench_flavours.py --benchmark-group-by=group --benchmark-columns=min,median
"""

from __future__ import annotations

import functools
import json
from typing import Any

import pytest

from socketio_redis_adapter.fastpath import encode_event
from socketio_redis_adapter.protocol.classic import ClassicCodec
from socketio_redis_adapter.protocol.parsers import json_default
from socketio_redis_adapter.protocol.sharded import decode
from socketio_redis_adapter.protocol.sharded_codec import (
    ShardedCodec,
    read_broadcast,
    read_plain_broadcast,
)
from socketio_redis_adapter.uid import new_uid

FLAVOURS = ("classic", "sharded")
PAYLOADS: dict[str, list[Any]] = {
    "chat text": ["chat", {"user": "ada", "text": "hello there, room", "n": 42}],
    "binary frame": ["frame", b"\x00\x01" * 128, {"seq": 7}],
}
TARGETS: dict[str, tuple[list[Any], list[Any]]] = {
    "one room": (["room1"], []),
    "two rooms, one except": (["room1", "room2"], ["muted"]),
}


def _codecs() -> tuple[ClassicCodec, ShardedCodec]:
    return ClassicCodec("socket.io", "msgpack", new_uid()), ShardedCodec("socket.io", "dynamic")


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("payload", PAYLOADS)
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_encode_emit(benchmark: Any, flavour: str, payload: str, target: str) -> None:
    benchmark.group = f"publisher: encode an emit ({payload}, {target})"
    classic, sharded = _codecs()
    rooms, except_rooms = TARGETS[target]
    data = PAYLOADS[payload]
    encode = classic.encode_broadcast if flavour == "classic" else sharded.encode_broadcast
    channel, encoded = benchmark(encode, "/", data, rooms, except_rooms, {})
    assert channel and encoded


_DUMPS = functools.partial(json.dumps, default=json_default)  # the fan-out's JSON


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("payload", PAYLOADS)
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_read_broadcast(benchmark: Any, flavour: str, payload: str, target: str) -> None:
    benchmark.group = f"receiver: targets and packet of a broadcast ({payload}, {target})"
    rooms, except_rooms = TARGETS[target]
    data = PAYLOADS[payload]
    sender_classic, sender_sharded = _codecs()
    receiver_classic, receiver_sharded = _codecs()
    if flavour == "classic":
        _, wire = sender_classic.encode_broadcast("/", data, rooms, except_rooms, {})

        def read() -> Any:
            assert not receiver_classic.is_own_broadcast(wire)
            message = receiver_classic.decode_broadcast(wire)
            return message.rooms, message.except_rooms, encode_event("/", message.data, _DUMPS)
    else:
        _, wire = sender_sharded.encode_broadcast("/", data, rooms, except_rooms, {})

        def read() -> Any:
            assert not receiver_sharded.is_own(wire, "/")
            plain = read_plain_broadcast(wire)
            if plain is not None:  # JSON (no binary): the event's text is kept
                return plain.rooms, plain.except_rooms, ["2" + plain.event_text]
            message = read_broadcast(decode(wire), "/").message
            return message.rooms, message.except_rooms, encode_event("/", message.data, _DUMPS)

    got_rooms, got_except, parts = benchmark(read)
    assert list(got_rooms) == rooms and list(got_except) == except_rooms and parts
