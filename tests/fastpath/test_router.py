"""ChannelRouter: which broadcast channels are decoded."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from socketio_redis_adapter import _fastpath_py
from tests.fastpath.helpers import HYPOTHESIS, make_index

# ------------------------------------------------------------ ChannelRouter


def router_with(impl: ModuleType) -> tuple[Any, Any, Any]:
    index = make_index(impl, {"a": ["news", 123, 1.5, "ünï"]})
    chat = make_index(impl, {"b": ["lobby"]})
    router = impl.ChannelRouter("socket.io")
    router.add("/", index)
    router.add("/custom", chat)
    return router, index, chat


def test_router_attributes(impl: ModuleType) -> None:
    router, index, chat = router_with(impl)
    assert router.prefix == b"socket.io#"
    assert router.namespaces == {b"/": ("/", index), b"/custom": ("/custom", chat)}
    assert router.dropped == 0
    router.dropped = 41
    assert router.dropped == 41


def test_route_main_channel(impl: ModuleType) -> None:
    router, index, chat = router_with(impl)
    assert router.route(b"socket.io#/#") == ("/", index)
    assert router.route(b"socket.io#/custom#") == ("/custom", chat)
    assert router.route(b"socket.io#/##") == ("/", index)  # empty room: main channel
    assert router.dropped == 0


def test_route_rooms(impl: ModuleType) -> None:
    router, index, chat = router_with(impl)
    assert router.route(b"socket.io#/#news#") == ("/", index)
    assert router.route(b"socket.io#/#a#") == ("/", index)  # a sid room
    assert router.route(b"socket.io#/#123#") == ("/", index)  # numeric room
    assert router.route(b"socket.io#/#1.5#") == ("/", index)
    assert router.route("socket.io#/#ünï#".encode()) == ("/", index)
    assert router.route(b"socket.io#/custom#lobby#") == ("/custom", chat)
    assert router.dropped == 0
    assert router.route(b"socket.io#/#lobby#") is None  # other namespace's room
    assert router.route(b"socket.io#/custom#news#") is None
    assert router.route(b"socket.io#/#124#") is None
    assert router.route(b"socket.io#/#x#") is None
    assert router.dropped == 4


def test_route_drops(impl: ModuleType) -> None:
    router, _, _ = router_with(impl)
    dropped = [
        b"socket.io#/unknown#",  # unknown namespace
        b"socket.io#/unknown#news#",
        b"other#/#",  # another key
        b"socket.iox#/#",
        b"socket.io",  # shorter than the prefix
        b"",
        b"socket.io#/",  # no '#' after the namespace
        b"socket.io#/#news",  # no trailing '#'
        b"socket.io#/#n",
        b"socket.io#/#\xff\xfe#",  # not UTF-8
        b"socket.io#/#\xed\xa0\x80#",  # an encoded surrogate
        b"socket.io##",  # empty namespace, not registered
    ]
    for count, channel in enumerate(dropped, 1):
        assert router.route(channel) is None, channel
        assert router.dropped == count


def test_route_nested_hash_in_room(impl: ModuleType) -> None:
    router, index, _ = router_with(impl)
    assert router.route(b"socket.io#/###") is None  # room "#"
    index.join("a", "#")
    index.join("a", "x#y")
    assert router.route(b"socket.io#/###") == ("/", index)
    assert router.route(b"socket.io#/#x#y#") == ("/", index)


def test_route_other_prefix_and_bytes_like(impl: ModuleType) -> None:
    index = make_index(impl, {"a": ["r"]})
    router = impl.ChannelRouter("my-app")
    router.add("/", index)
    assert router.route(b"socket.io#/#") is None
    assert router.route(b"my-app#/#r#") == ("/", index)

    class Channel(bytes):
        pass

    assert router.route(Channel(b"my-app#/#r#")) == ("/", index)
    with pytest.raises(TypeError):
        router.route("my-app#/#")
    with pytest.raises(TypeError):
        router.route(bytearray(b"my-app#/#r#"))  # channel names are bytes


def test_route_many_namespaces(impl: ModuleType) -> None:
    router = impl.ChannelRouter("k")
    indexes = {}
    for i in range(20):
        indexes[i] = make_index(impl, {f"s{i}": [f"room{i}"]})
        router.add(f"/n{i}", indexes[i])
    for i in range(20):
        assert router.route(f"k#/n{i}#".encode()) == (f"/n{i}", indexes[i])
        assert router.route(f"k#/n{i}#room{i}#".encode()) == (f"/n{i}", indexes[i])
        assert router.route(f"k#/n{i}#room{i + 1}#".encode()) is None
    assert router.route(b"k#/n#") is None
    assert router.dropped == 21


def test_route_custom_index(impl: ModuleType) -> None:
    class Everywhere:
        def has_channel_room(self, name: str) -> bool:
            return name.startswith("yes")

    router = impl.ChannelRouter("k")
    index = Everywhere()
    router.add("/", index)
    assert router.route(b"k#/#yes-please#") == ("/", index)
    assert router.route(b"k#/#no#") is None


@given(channel=st.binary(max_size=30), tail=st.binary(max_size=10))
@HYPOTHESIS
def test_route_matches_twin(impl: ModuleType, channel: bytes, tail: bytes) -> None:
    results = []
    for module in (_fastpath_py, impl):
        index = module.RoomIndex()
        index.connect("s", "e")
        index.join("s", 12)
        index.join("s", "r#")
        router = module.ChannelRouter("k")
        router.add("/", index)
        router.add("", index)
        got = [
            router.route(candidate)
            for candidate in (channel, b"k#" + channel, b"k#/#" + channel + tail)
        ]
        results.append(([entry and entry[0] for entry in got], router.dropped))
    assert results[0] == results[1]
