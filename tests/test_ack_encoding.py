"""Packets encoded once: broadcasts with acknowledgements (the ack id spliced per recipient),
and sharded broadcasts whose event arrives as JSON text (put in the packet as it is)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import socketio.packet

from socketio_redis_adapter import AsyncRedisAdapter, AsyncShardedRedisAdapter


def reference(namespace: str, data: list[Any], ack_id: int) -> list[Any]:
    encoded = socketio.packet.Packet(
        socketio.packet.EVENT, namespace=namespace, data=data, id=ack_id
    ).encode()
    return encoded if isinstance(encoded, list) else [encoded]


@pytest.mark.parametrize("namespace", ["/", "/chat", "/a[b,c", "/5-x"])
@pytest.mark.parametrize(
    "data",
    [
        ["ev"],
        ["ev", 1, "two", {"three": [3]}],
        ["bin", b"\x00\x01", {"nested": [b"x", "y"]}],
        ["[", "]", "2/x,12[", None, 1.5],
    ],
    ids=["no-args", "text", "binary", "brackets"],
)
def test_spliced_ack_packets_equal_python_socketio_encoding(
    namespace: str, data: list[Any]
) -> None:
    adapter = AsyncRedisAdapter("redis://127.0.0.1:6379")
    with_id = adapter.fanout.ack_encoder(namespace, data)
    assert with_id is not None
    for ack_id in (1, 9, 10, 12345, 2**40):
        assert with_id(ack_id) == reference(namespace, data, ack_id)


class CustomPacket(socketio.packet.Packet):  # type: ignore[misc]
    """A server's own packet class: its packets are encoded by itself."""


def test_other_packet_classes_are_encoded_by_themselves() -> None:
    adapter = AsyncRedisAdapter("redis://127.0.0.1:6379")
    socketio.AsyncServer(client_manager=adapter, serializer=CustomPacket)
    assert not adapter.fanout.text_packets
    assert adapter.fanout.ack_encoder("/", ["ev"]) is None


EVENT_TEXTS = ['["ev"]', '["ev",1,"two",{"three":[3]}]', '["é字\u2028",1e+21,-0.5,null]']


@pytest.mark.parametrize("namespace", ["/", "/chat", "/5-x"])
@pytest.mark.parametrize("event_text", EVENT_TEXTS)
def test_event_text_from_the_wire_is_the_packets_data(namespace: str, event_text: str) -> None:
    adapter = AsyncShardedRedisAdapter("redis://127.0.0.1:6379")
    socketio.AsyncServer(client_manager=adapter)
    (text,) = adapter.fanout.text_parts(namespace, event_text)
    assert text.endswith(event_text)  # as it came: not decoded, not encoded again
    packet = socketio.packet.Packet(encoded_packet=text)
    assert packet.packet_type == socketio.packet.EVENT
    assert (packet.namespace or "/") == namespace
    assert packet.data == json.loads(event_text)
    reference = socketio.packet.Packet(
        socketio.packet.EVENT, namespace=namespace, data=json.loads(event_text)
    ).encode()
    assert socketio.packet.Packet(encoded_packet=reference).data == packet.data


@pytest.mark.parametrize("event_text", EVENT_TEXTS)
def test_event_text_goes_through_other_packet_classes(event_text: str) -> None:
    adapter = AsyncShardedRedisAdapter("redis://127.0.0.1:6379")
    socketio.AsyncServer(client_manager=adapter, serializer=CustomPacket)
    expected = CustomPacket(
        socketio.packet.EVENT, namespace="/chat", data=json.loads(event_text)
    ).encode()
    assert adapter.fanout.text_parts("/chat", event_text) == [expected]
