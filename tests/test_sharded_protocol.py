"""The sharded adapter's envelope byte for byte against Node captures, its channel
choice in every subscription mode, and its decoder on bad input."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from socketio_redis_adapter.protocol import sharded
from socketio_redis_adapter.protocol.errors import MalformedMessage
from socketio_redis_adapter.protocol.sharded import MessageType, ShardedChannels

UID = "43276ad20120028e"
OTHER = "a4596b6bbcb50d33"
REQUEST = "d35e1f0bb06c7a24"


def s(text: str) -> bytes:
    """A msgpack fixstr."""
    data = text.encode()
    assert len(data) < 32
    return bytes([0xA0 | len(data)]) + data


def message(kind: MessageType, data: dict[str, Any] | None, uid: str = UID) -> dict[str, Any]:
    return sharded.envelope(kind, data, uid, "/")


# -- captured from Node's sharded adapter (dynamic mode) -------------------------


def test_binary_broadcast_is_msgpack_as_node_writes_it() -> None:
    # io.emit("test", 1, "2", Buffer.from([2, 3, 4]).subarray(1)) -> 100 bytes
    captured = (
        b"\x84" + s("type") + b"\x03" + s("data") + b"\x82"
        + s("packet") + b"\x82" + s("type") + b"\x02" + s("data")
        + b"\x94" + s("test") + b"\x01" + s("2") + b"\xc4\x02\x03\x04"
        + s("opts") + b"\x83" + s("rooms") + b"\x90" + s("except") + b"\x90"
        + s("flags") + b"\x80"
        + s("uid") + bytes([0xA0 | 16]) + UID.encode() + s("nsp") + s("/")
    )
    assert len(captured) == 100
    ours = sharded.encode(message(
        MessageType.BROADCAST, sharded.broadcast_data(["test", 1, "2", b"\x03\x04"], [], [])
    ))
    assert ours == captured
    decoded = sharded.decode(captured)
    assert (decoded.type, decoded.uid, decoded.nsp) == (3, UID, "/")
    assert decoded.data["packet"] == {"type": 2, "data": ["test", 1, "2", b"\x03\x04"]}


@pytest.mark.parametrize(
    ("built", "captured"),
    [
        (message(MessageType.BROADCAST, sharded.broadcast_data(["r", {"a": 1}], ["room1"], [])),
         '{"type":3,"data":{"packet":{"type":2,"data":["r",{"a":1}]},"opts":{"rooms":["room1"],'
         '"except":[],"flags":{}}},"uid":"43276ad20120028e","nsp":"/"}'),
        (message(MessageType.BROADCAST, sharded.broadcast_data(
            ["ack", "x"], [], [], {"timeout": 500}, REQUEST)),
         '{"type":3,"data":{"packet":{"type":2,"data":["ack","x"]},"requestId":"d35e1f0bb06c7a24",'
         '"opts":{"rooms":[],"except":[],"flags":{"timeout":500}}},"uid":"43276ad20120028e",'
         '"nsp":"/"}'),
        (message(MessageType.BROADCAST_CLIENT_COUNT, sharded.client_count_data(REQUEST, 1), OTHER),
         '{"type":11,"data":{"requestId":"d35e1f0bb06c7a24","clientCount":1},'
         '"uid":"a4596b6bbcb50d33","nsp":"/"}'),
        (message(MessageType.BROADCAST_ACK, sharded.broadcast_ack_data(REQUEST, "resp-B"), OTHER),
         '{"type":12,"data":{"requestId":"d35e1f0bb06c7a24","packet":"resp-B"},'
         '"uid":"a4596b6bbcb50d33","nsp":"/"}'),
        (message(MessageType.SOCKETS_JOIN, sharded.sockets_join_data(
            sharded.opts([], []), ["room9"])),
         '{"type":4,"data":{"opts":{"rooms":[],"except":[],"flags":{}},"rooms":["room9"]},'
         '"uid":"43276ad20120028e","nsp":"/"}'),
        (message(MessageType.SOCKETS_LEAVE, sharded.sockets_leave_data(
            sharded.opts(["HG3AAAAAAAAAAAAAAAAB"], []), ["room9"])),
         '{"type":5,"data":{"opts":{"rooms":["HG3AAAAAAAAAAAAAAAAB"],"except":[],"flags":{}},'
         '"rooms":["room9"]},"uid":"43276ad20120028e","nsp":"/"}'),
        (message(MessageType.FETCH_SOCKETS, sharded.fetch_sockets_data(
            sharded.opts([], []), "abdd56e85fd3edb1")),
         '{"type":7,"data":{"opts":{"rooms":[],"except":[],"flags":{}},'
         '"requestId":"abdd56e85fd3edb1"},"uid":"43276ad20120028e","nsp":"/"}'),
        (message(MessageType.SERVER_SIDE_EMIT, sharded.server_side_emit_data(
            ["ping", 42], "eb3e36316a2fd88d")),
         '{"type":9,"data":{"requestId":"eb3e36316a2fd88d","packet":["ping",42]},'
         '"uid":"43276ad20120028e","nsp":"/"}'),
        (message(MessageType.SERVER_SIDE_EMIT_RESPONSE, sharded.server_side_emit_response_data(
            "eb3e36316a2fd88d", {"pong": 42}), OTHER),
         '{"type":10,"data":{"requestId":"eb3e36316a2fd88d","packet":{"pong":42}},'
         '"uid":"a4596b6bbcb50d33","nsp":"/"}'),
        (message(MessageType.DISCONNECT_SOCKETS, sharded.disconnect_sockets_data(
            sharded.opts(["HG3AAAAAAAAAAAAAAAAB"], []), True)),
         '{"type":6,"data":{"opts":{"rooms":["HG3AAAAAAAAAAAAAAAAB"],"except":[],"flags":{}},'
         '"close":true},"uid":"43276ad20120028e","nsp":"/"}'),
    ],
    ids=["room-broadcast", "broadcast-with-ack", "client-count", "ack", "join", "leave",
         "fetch", "server-side-call", "server-side-reply", "disconnect"],
)
def test_json_messages_match_node_captures(built: dict[str, Any], captured: str) -> None:
    assert sharded.encode(built) == captured.encode()
    decoded = sharded.decode(captured.encode())
    assert (decoded.type, decoded.data, decoded.uid, decoded.nsp) == (
        built["type"], built["data"], built["uid"], "/"
    )


def test_binary_ack_is_msgpack() -> None:
    built = message(MessageType.BROADCAST_ACK, sharded.broadcast_ack_data(REQUEST, b"\x09\x08"),
                    OTHER)
    expected = (
        b"\x84" + s("type") + b"\x0c" + s("data") + b"\x82"
        + s("requestId") + bytes([0xA0 | 16]) + REQUEST.encode()
        + s("packet") + b"\xc4\x02\x09\x08"
        + s("uid") + bytes([0xA0 | 16]) + OTHER.encode() + s("nsp") + s("/")
    )
    assert sharded.encode(built) == expected


def test_binary_in_a_type_that_is_always_json_stays_json() -> None:
    # types 4-7 and 11 are JSON whatever they hold (Buffers as Node's JSON objects)
    built = message(MessageType.SOCKETS_JOIN, sharded.sockets_join_data(
        sharded.opts([], []), ["r"]))
    built["data"]["extra"] = b"\x01"
    assert json.loads(sharded.encode(built))["data"]["extra"] == {"type": "Buffer", "data": [1]}


def test_has_binary() -> None:
    assert sharded.has_binary([1, {"a": [bytearray(b"x")]}])
    assert sharded.has_binary(memoryview(b""))
    assert not sharded.has_binary({"a": ["b", 1, None, {"c": 2.5}]})
    assert not sharded.has_binary({b"key-only": 1})  # keys are never binary in JSON or JS


# -- channels ------------------------------------------------------------------

SID = "HLPRNWS7Jds2XwjlAAAA"  # 20 characters: looks like a socket id


@pytest.mark.parametrize(
    ("mode", "rooms", "with_ack", "expected"),
    [
        ("static", ["room1"], False, b"socket.io#/#"),
        ("dynamic", ["room1"], False, b"socket.io#/#room1#"),
        ("dynamic", [123], False, b"socket.io#/#123#"),
        ("dynamic", [SID], False, b"socket.io#/#"),
        ("dynamic", ["room1"], True, b"socket.io#/#"),
        ("dynamic", ["room1", "room2"], False, b"socket.io#/#"),
        ("dynamic", [], False, b"socket.io#/#"),
        ("dynamic-private", [SID], False, f"socket.io#/#{SID}#".encode()),
        ("dynamic-private", ["room1"], True, b"socket.io#/#"),
    ],
)
def test_publish_channel_as_node_chooses(
    mode: str, rooms: list[Any], with_ack: bool, expected: bytes
) -> None:
    assert ShardedChannels("socket.io", mode).for_broadcast("/", rooms, with_ack) == expected


@pytest.mark.parametrize(
    ("mode", "public", "socket_room"),
    [("static", False, False), ("dynamic", True, False), ("dynamic-private", True, True)],
)
def test_rooms_with_a_channel(mode: str, public: bool, socket_room: bool) -> None:
    channels = ShardedChannels("p", mode)
    assert channels.room_has_channel("room1", is_socket_room=False) is public
    assert channels.room_has_channel(SID, is_socket_room=True) is socket_room


def test_channel_names() -> None:
    channels = ShardedChannels("socket.io")
    assert channels.main("/chat") == b"socket.io#/chat#"
    assert channels.response("/", UID) == b"socket.io#/#43276ad20120028e#"
    assert channels.room("/", 1.0) == b"socket.io#/#1#"


def test_bad_settings() -> None:
    with pytest.raises(ValueError, match="subscription_mode"):
        ShardedChannels("socket.io", "sometimes")
    with pytest.raises(ValueError, match="channel_prefix"):
        ShardedChannels("", "static")


def test_uids_are_sixteen_hex_characters() -> None:
    uids = {sharded.new_server_uid() for _ in range(50)}
    assert len(uids) == 50
    assert all(re.fullmatch(r"[0-9a-f]{16}", uid) for uid in uids)


# -- decoding ------------------------------------------------------------------


def test_a_message_without_nsp_is_read_as_such() -> None:
    # adapter 8.2 senders wrote {uid, type, data}; the receiver takes its own namespace
    decoded = sharded.decode(b'{"uid":"x","type":9,"data":{"packet":["e"]}}')
    assert decoded.nsp is None and decoded.type == 9


def test_a_message_without_data() -> None:
    decoded = sharded.decode(sharded.encode(sharded.envelope(
        MessageType.ADAPTER_CLOSE, None, UID, "/")))
    assert decoded.data == {} and decoded.type == 13


@pytest.mark.parametrize(
    "payload",
    [b"", b"{", b"[1,2]", b'{"type":"3"}', b'{"type":true}', b'{"type":3,"data":[1]}',
     b'{"type":3,"nsp":5}', b"\xc1", b"\x93\x01\x02\x03", b"\xdd\xff\xff\xff\xff\x01"],
)
def test_bad_messages_are_malformed(payload: bytes) -> None:
    with pytest.raises(MalformedMessage):
        sharded.decode(payload)
