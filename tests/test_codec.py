"""The wire format byte for byte against Node captures, and the decode path fuzzed."""

from __future__ import annotations

import asyncio
import datetime
import math
from typing import Any

import msgpack
import pytest
import socketio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from socketio_redis_adapter import AsyncRedisAdapter
from socketio_redis_adapter.protocol.broadcast import broadcast_value, decode_broadcast
from socketio_redis_adapter.protocol.channels import Channels
from socketio_redis_adapter.protocol.classic import decode_request
from socketio_redis_adapter.protocol.errors import MalformedMessage
from socketio_redis_adapter.protocol.parsers import JsonParser, MsgpackParser, json_dumps

PARSER = MsgpackParser()


def test_broadcast_matches_node_capture() -> None:
    # io.emit("test", 1, "2", Buffer.from([3, 4])) captured from Node 8.3.0
    captured = bytes.fromhex(
        "93a6614a4266527983a47479706502a46461746194a47465737401a132c4020304"
        "a36e7370a12f83a5726f6f6d7390a665786365707490a5666c61677380"
    )
    ours = PARSER.encode(broadcast_value("aJBfRy", "/", ["test", 1, "2", b"\x03\x04"], [], [], {}))
    assert ours == captured
    message = decode_broadcast(PARSER, captured)
    assert (message.uid, message.nsp, message.data) == (
        "aJBfRy",
        "/",
        ["test", 1, "2", b"\x03\x04"],
    )


def test_broadcast_with_ack_request_matches_node_capture() -> None:
    captured = bytes.fromhex(
        "85a3756964a6614a42665279a9726571756573744964a6346d6e357637a47479706507"
        "a67061636b657483a47479706502a46461746192a361636ba178a36e7370a12f"
        "a46f70747383a5726f6f6d7390a665786365707490a5666c61677381a774696d656f7574cd01f4"
    )
    request = {
        "uid": "aJBfRy",
        "requestId": "4mn5v7",
        "type": 7,
        "packet": {"type": 2, "data": ["ack", "x"], "nsp": "/"},
        "opts": {"rooms": [], "except": [], "flags": {"timeout": 500}},
    }
    assert PARSER.encode(request) == captured
    assert decode_request(PARSER, captured) == request


def test_broadcast_ack_response_matches_node_capture() -> None:
    captured = bytes.fromhex(
        "83a47479706509a9726571756573744964a6346d6e357637a67061636b6574a6726573702d42"
    )
    assert PARSER.encode({"type": 9, "requestId": "4mn5v7", "packet": "resp-B"}) == captured


def test_date_is_a_timestamp_extension_like_notepack() -> None:
    date = datetime.datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=datetime.timezone.utc)
    captured = bytes.fromhex("81a164d7ffa1a5d60065937d25")
    assert PARSER.encode({"d": date}) == captured
    assert PARSER.decode(captured) == {"d": date}
    whole = datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    assert PARSER.encode(whole) == bytes.fromhex("d6ff65937d25")
    old = datetime.datetime(1960, 1, 1, tzinfo=datetime.timezone.utc)
    assert PARSER.decode(PARSER.encode(old)) == old
    assert PARSER.encode(old)[:3] == b"\xc7\x0c\xff"


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (1.5, "cb3ff8000000000000"),
        (-1, "ff"),
        (-33, "d0df"),
        (255, "ccff"),
        (65536, "ce00010000"),
        (4294967296, "cf0000000100000000"),
        (-2147483649, "d3ffffffff7fffffff"),
        (math.inf, "cb7ff0000000000000"),
        ("é€😀", "a9c3a9e282acf09f9880"),
        ("x" * 40, "d928" + "78" * 40),
        (b"\x01\x02", "c4020102"),
        (None, "c0"),
        ([None, True, False], "93c0c3c2"),
    ],
)
def test_values_encode_like_notepack(value: Any, encoded: str) -> None:
    assert PARSER.encode(value).hex() == encoded


def test_nan_encodes_like_notepack() -> None:
    assert PARSER.encode(math.nan).hex() == "cb7ff8000000000000"


def test_non_string_map_keys_become_strings_as_in_javascript() -> None:
    assert msgpack.unpackb(PARSER.encode({1: "a", None: "b", 2.5: "c"})) == {
        "1": "a",
        "null": "b",
        "2.5": "c",
    }


def test_legacy_notepack_2_extensions_decode() -> None:
    undefined_and_date = bytes.fromhex("92d40000d70000000000000003e8")
    assert PARSER.decode(undefined_and_date) == [
        None,
        datetime.datetime(1970, 1, 1, 0, 0, 1, tzinfo=datetime.timezone.utc),
    ]


def test_unserializable_values_raise_type_error() -> None:
    with pytest.raises(TypeError):
        PARSER.encode([object()])
    with pytest.raises(TypeError):
        PARSER.encode(2**70)


def test_json_requests_match_node_capture() -> None:
    request = {
        "uid": "aJBfRy",
        "type": 2,
        "opts": {"rooms": ["room1"], "except": ["roomX"]},
        "rooms": ["room2", "room3"],
    }
    captured = (
        b'{"uid":"aJBfRy","type":2,"opts":{"rooms":["room1"],"except":["roomX"]},'
        b'"rooms":["room2","room3"]}'
    )
    assert json_dumps(request) == captured
    assert decode_request(PARSER, captured) == request


def test_json_parser_writes_buffers_like_node() -> None:
    encoded = JsonParser().encode(
        broadcast_value("u", "/", ["test", 1, "2", b"\x03\x04"], [], [], {})
    )
    assert encoded == (
        b'["u",{"type":2,"data":["test",1,"2",{"type":"Buffer","data":[3,4]}],"nsp":"/"},'
        b'{"rooms":[],"except":[],"flags":{}}]'
    )


def test_channels_are_node_channels() -> None:
    channels = Channels("socket.io")
    assert channels.broadcast("/") == b"socket.io#/#"
    assert channels.room("/", "room1") == b"socket.io#/#room1#"
    assert channels.room("/", 123) == b"socket.io#/#123#"
    assert channels.room("/", 2.0) == b"socket.io#/#2#"
    assert channels.broadcast_pattern("/custom") == b"socket.io#/custom#*"
    assert channels.request("/") == b"socket.io-request#/#"
    assert channels.response("/") == b"socket.io-response#/#"
    assert channels.specific_response("/", "aJBfRy") == b"socket.io-response#/#aJBfRy#"
    assert Channels("a*b").broadcast_pattern("/[x]") == b"a\\*b#/\\[x\\]#*"


def test_missing_nsp_and_opts_default_like_node() -> None:
    message = decode_broadcast(PARSER, msgpack.packb(["u", {"type": 2, "data": ["e"]}, {}]))
    assert (message.nsp, message.rooms, message.except_rooms, message.flags) == ("/", [], [], {})


# -- fuzzing ------------------------------------------------------------

json_like = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats()
    | st.text(max_size=8)
    | st.binary(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)

near_broadcast = st.tuples(
    json_like,
    st.dictionaries(st.sampled_from(["type", "data", "nsp", "id"]), json_like, max_size=4),
    st.dictionaries(st.sampled_from(["rooms", "except", "flags"]), json_like, max_size=3),
).map(list)


def _decode_or_malformed(payload: bytes) -> None:
    try:
        message = decode_broadcast(PARSER, payload)
    except MalformedMessage:
        return
    assert isinstance(message.data, list) and isinstance(message.data[0], str)
    assert isinstance(message.nsp, str) and isinstance(message.flags, dict)
    for room in [*message.rooms, *message.except_rooms]:
        hash(room)


@given(st.binary(max_size=64))
def test_fuzz_random_bytes_never_escape(payload: bytes) -> None:
    _decode_or_malformed(payload)
    try:
        decode_request(PARSER, payload)
    except MalformedMessage:
        pass


@given(json_like | near_broadcast)
def test_fuzz_random_msgpack_shapes_never_escape(value: Any) -> None:
    payload = msgpack.packb(value)
    _decode_or_malformed(payload)
    try:
        decode_request(PARSER, payload)
    except MalformedMessage:
        pass


class RecordingConnection:
    """A connection layer that records publishes (the listener is unit-tested here)."""

    def __init__(self) -> None:
        self.published: list[tuple[bytes, bytes]] = []

    def on_message(self, pattern: bytes | None, channel: bytes, data: bytes, route: Any) -> None:
        return None

    async def publish(self, channel: bytes, data: bytes) -> int:
        self.published.append((channel, data))
        return 0

    async def post(self, channel: bytes, data: bytes) -> None:
        self.published.append((channel, data))

    async def close(self) -> None:
        return None

    def stats(self) -> dict[str, int]:
        return {}


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.sampled_from(
        [
            b"sio#/#",
            b"sio#/#r#",
            b"sio#/#123#",
            b"sio#/x#",
            b"sio-request#/#",
            b"sio-response#/#",
            b"other#/#",
            b"sio#/#r",
            b"sio#/#\xff#",
        ]
    ),
    st.booleans(),
    st.binary(max_size=48) | near_broadcast.map(msgpack.packb) | json_like.map(msgpack.packb),
)
def test_fuzz_listener_never_raises(channel: bytes, pattern: bool, payload: bytes) -> None:
    async def run() -> None:
        adapter = AsyncRedisAdapter(key="sio", connection=RecordingConnection())  # type: ignore[arg-type]
        socketio.AsyncServer(client_manager=adapter)
        index = adapter.local.namespace("/")
        index.connect("sid1", "eio1")
        index.join("sid1", "r")
        index.join("sid1", 123)
        adapter.receiver.on_message(b"sio#/#*" if pattern else None, channel, payload)
        await asyncio.sleep(0)

    asyncio.run(run())
