"""Reading a plain sharded broadcast without decoding its event (``read_plain_broadcast``).

The receiver hands the event's JSON text, as the sender wrote it, to the fan-out, which
puts it in the clients' packets as it is.  What it reads must be what the general path
(``decode`` + ``read_broadcast``) reads, for Node's bytes and ours; whatever is not in the
layout goes to the general path (None).  Run with the compiled core and in pure Python, as
the suite is.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from socketio import packet as sio_packet

from socketio_redis_adapter.protocol.errors import MalformedMessage
from socketio_redis_adapter.protocol.sharded import decode
from socketio_redis_adapter.protocol.sharded_codec import (
    ShardedCodec,
    read_broadcast,
    read_plain_broadcast,
)

# a Node 8.3 createShardedAdapter capture (socket.io-adapter 2.5 ClusterAdapter), and one
# with text Node writes as it is (no \u escapes for non-ASCII, U+2028 raw)
NODE_ROOM = (b'{"type":3,"data":{"packet":{"type":2,"data":["hello",{"n":1}]},"opts":{"rooms":'
             b'["room1"],"except":[],"flags":{}}},"uid":"43276ad20120028e","nsp":"/"}')
NODE_TEXT = ('{"type":3,"data":{"packet":{"type":2,"data":["m","é字\u2028\\"q\\\\",1e+21,-0.5]},'
             '"opts":{"rooms":[],"except":["muted",7],"flags":{"volatile":true}}},'
             '"uid":"a4596b6bbcb50d33","nsp":"/chat"}').encode()
OLD_NODE = (b'{"type":3,"data":{"packet":{"type":2,"data":["x"]},"opts":{"rooms":[],'
            b'"except":[],"flags":{}}},"uid":"a4596b6bbcb50d33"}')  # adapter 8.2: no nsp


def general(payload: bytes) -> tuple[Any, ...]:
    message = decode(payload)
    event = read_broadcast(message, "/").message
    return (event.data, event.rooms, event.except_rooms, event.flags, message.uid, message.nsp)


def plain(payload: bytes) -> tuple[Any, ...]:
    read = read_plain_broadcast(payload)
    assert read is not None
    return (json.loads(read.event_text), read.rooms, read.except_rooms, read.flags, read.uid,
            read.nsp)


NULL_OPTS = (b'{"type":3,"data":{"packet":{"type":2,"data":["x",1]},"opts":null},'
             b'"uid":"a4596b6bbcb50d33","nsp":"/"}')


@pytest.mark.parametrize("payload", [NODE_ROOM, NODE_TEXT, OLD_NODE, NULL_OPTS],
                         ids=["room", "text", "8.2", "null-opts"])
def test_node_broadcasts_read_as_the_general_path_reads_them(payload: bytes) -> None:
    assert plain(payload) == general(payload)


def test_the_event_text_is_the_senders_and_makes_the_same_packet() -> None:
    read = read_plain_broadcast(NODE_TEXT)
    assert read is not None
    assert read.event_text == '["m","é字\u2028\\"q\\\\",1e+21,-0.5]'
    packet = sio_packet.Packet(encoded_packet="2/chat," + read.event_text)
    assert packet.namespace == "/chat"
    assert packet.data == ["m", 'é字\u2028"q\\', 1e21, -0.5]


_values: Any = st.recursive(
    st.none() | st.booleans() | st.integers(-2**53, 2**53)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=4), children, max_size=3),
    max_leaves=12,
)
_rooms = st.lists(st.text(min_size=1, max_size=8) | st.integers(0, 999), max_size=3)


@settings(max_examples=200, deadline=None)
@given(event=st.text(min_size=1, max_size=8), args=st.lists(_values, max_size=3),
       rooms=_rooms, except_rooms=_rooms, volatile=st.booleans())
def test_our_broadcasts_read_as_the_general_path_reads_them(
    event: str, args: list[Any], rooms: list[Any], except_rooms: list[Any], volatile: bool,
) -> None:
    codec = ShardedCodec("sio", "dynamic")
    flags = {"volatile": True} if volatile else {}
    _, payload = codec.encode_broadcast("/", [event, *args], rooms, except_rooms, flags)
    assert plain(payload) == general(payload)


@pytest.mark.parametrize("payload", [
    # acks awaited: the general path (requestId between packet and opts)
    b'{"type":3,"data":{"packet":{"type":2,"data":["a"]},"requestId":"r1","opts":{"rooms":[],'
    b'"except":[],"flags":{}}},"uid":"u","nsp":"/"}',
    # spaces, another key order, another type
    b'{"type": 3, "data": {"packet": {"type": 2, "data": ["a"]}, "opts": {}}, "uid": "u"}',
    b'{"data":{"packet":{"type":2,"data":["a"]},"opts":{}},"type":3,"uid":"u","nsp":"/"}',
    b'{"type":4,"data":{"opts":{"rooms":[],"except":[],"flags":{}},"rooms":["r"]},"uid":"u"}',
    # packet data that is not [event, ...]: the general path says why
    b'{"type":3,"data":{"packet":{"type":2,"data":[1]},"opts":{}},"uid":"u","nsp":"/"}',
    b'{"type":3,"data":{"packet":{"type":2,"data":{"a":1}},"opts":{}},"uid":"u","nsp":"/"}',
    # broken JSON anywhere, an unknown key, a bad nsp, MessagePack
    b'{"type":3,"data":{"packet":{"type":2,"data":["a",NaN]},"opts":{}},"uid":"u","nsp":"/"}',
    b'{"type":3,"data":{"packet":{"type":2,"data":["a"]},"opts":{"rooms":[}},"uid":"u"}',
    b'{"type":3,"data":{"packet":{"type":2,"data":["a"]},"opts":{}},"uid":"u","nsp":"/"',
    b'{"type":3,"data":{"packet":{"type":2,"data":["a"]},"opts":{}},"uid":"u","x":1}',
    b'{"type":3,"data":{"packet":{"type":2,"data":["a"]},"opts":{}},"uid":"u","nsp":5}',
    b'{"type":3,"data":{"packet":{"type":2,"data":["a"]},"opts":{}}}',
    b"\x84\xa4type\x03",
], ids=["acks", "spaces", "key-order", "join", "not-event", "map-data", "nan", "bad-opts",
        "cut", "unknown-key", "nsp-number", "no-uid", "msgpack"])
def test_other_layouts_go_to_the_general_path(payload: bytes) -> None:
    assert read_plain_broadcast(payload) is None


@pytest.mark.parametrize("opts", [
    b'[]', b'{"rooms":"r1"}', b'{"rooms":[[1]]}', b'{"except":{"a":1}}', b'{"flags":[]}',
])
def test_bad_targets_in_the_right_layout_are_malformed(opts: bytes) -> None:
    payload = (b'{"type":3,"data":{"packet":{"type":2,"data":["a"]},"opts":' + opts
               + b'},"uid":"u","nsp":"/"}')
    with pytest.raises(MalformedMessage):
        read_plain_broadcast(payload)
    with pytest.raises(MalformedMessage):
        general(payload)
