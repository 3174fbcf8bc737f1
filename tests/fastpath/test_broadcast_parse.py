"""parse_broadcast: validating a decoded broadcast."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest

from socketio_redis_adapter.protocol import broadcast
from tests.fastpath.helpers import Color, Mapping, Pair, Sequence, Text, parse_outcome

# ---------------------------------------------------------- parse_broadcast

GOOD_PACKET = {"type": 2, "data": ["ev", 1], "nsp": "/chat"}
GOOD_OPTS = {"rooms": ["r", 1, 2.5], "except": ("s",), "flags": {"volatile": True}}

PARSE_CASES: list[Any] = [
    ["u", GOOD_PACKET, GOOD_OPTS],
    ("u", GOOD_PACKET, GOOD_OPTS, "extra", 1),
    [None, {"data": ["ev"]}, None],
    [1, {"type": 5, "data": ["ev"], "nsp": None}, {}],
    [1, {"type": 2.0, "data": ["ev"]}, {"rooms": None, "except": None, "flags": None}],
    [1, {"type": True, "data": ["ev"]}, {}],
    [1, {"type": "2", "data": ["ev"]}, {}],
    [1, {"type": None, "data": ["ev"]}, {}],
    [1, {"type": 3, "data": ["ev"]}, {}],
    [1, {"type": [2], "data": ["ev"]}, {}],
    [1, {"type": 2, "data": []}, {}],
    [1, {"type": 2, "data": [1]}, {}],
    [1, {"type": 2, "data": ("ev",)}, {}],
    [1, {"type": 2, "data": "ev"}, {}],
    [1, {"type": 2}, {}],
    [1, {"type": 2, "data": [Text("ev")]}, {}],
    [1, {"data": ["ev"], "nsp": 1}, {}],
    [1, {"data": ["ev"], "nsp": b"/"}, {}],
    [1, {"data": ["ev"], "nsp": Text("/t")}, {}],
    [1, {"data": ["ev"]}, []],
    [1, {"data": ["ev"]}, "opts"],
    [1, {"data": ["ev"]}, {"flags": []}],
    [1, {"data": ["ev"]}, {"flags": Mapping(a=1)}],
    [1, {"data": ["ev"]}, {"rooms": "r"}],
    [1, {"data": ["ev"]}, {"rooms": [True]}],
    [1, {"data": ["ev"]}, {"rooms": [None]}],
    [1, {"data": ["ev"]}, {"rooms": [b"r"]}],
    [1, {"data": ["ev"]}, {"rooms": [["r"]]}],
    [1, {"data": ["ev"]}, {"rooms": {"r": 1}}],
    [1, {"data": ["ev"]}, {"except": [False]}],
    [1, {"data": ["ev"]}, {"except": 1}],
    [1, {"data": ["ev"]}, {"rooms": [Text("t"), Color.RED, 1.5]}],
    [1, {"data": ["ev"]}, {"rooms": [1], "except": [{}], "flags": 3}],
    [1, {"type": 9, "data": 1}, 5],
    [1, [], {}],
    [1, None, {}],
    [1, "packet", {}],
    ["u", GOOD_PACKET],
    [],
    None,
    "abc",
    b"abc",
    {"uid": 1},
    5,
    # subclasses: broadcast.parse_broadcast's own rules, through their methods
    Sequence(["u", GOOD_PACKET, GOOD_OPTS]),
    Pair(("u", GOOD_PACKET, GOOD_OPTS)),
    ["u", Mapping(GOOD_PACKET), GOOD_OPTS],
    ["u", {"data": Sequence(["ev"])}, {}],
    ["u", {"data": Sequence([])}, {}],
    ["u", GOOD_PACKET, Mapping(GOOD_OPTS)],
    ["u", GOOD_PACKET, Mapping(rooms=3)],
    ["u", GOOD_PACKET, {"rooms": Sequence(["a"]), "except": Pair(("b",))}],
    ["u", GOOD_PACKET, {"rooms": ["a"], "except": Pair((None,))}],
    ["u", GOOD_PACKET, {"rooms": Sequence([None])}],
]


@pytest.mark.parametrize("value", PARSE_CASES, ids=[f"case{i}" for i in range(len(PARSE_CASES))])
def test_parse_broadcast(impl: ModuleType, value: Any) -> None:
    want = parse_outcome(broadcast.parse_broadcast, value)
    assert want[0] in ("ok", "MalformedMessage")
    assert parse_outcome(impl.parse_broadcast, value) == want


def test_parse_broadcast_result(impl: ModuleType) -> None:
    data = ["ev", {"a": 1}]
    flags = {"volatile": True}
    rooms = ["r1", 2]
    message = impl.parse_broadcast(("u", {"type": 2, "data": data, "nsp": "/"},
                                    {"rooms": rooms, "except": ("s",), "flags": flags}))
    assert message == broadcast.Broadcast("u", "/", data, ["r1", 2], ["s"], flags)
    assert message.data is data and message.flags is flags
    assert type(message.rooms) is list and message.rooms is not rooms
    assert type(message.except_rooms) is list
    message.rooms.append("changed")  # an instance like any other
    assert rooms == ["r1", 2]
    assert message.rooms == ["r1", 2, "changed"]
    empty = impl.parse_broadcast(["u", {"data": ["ev"]}, None])
    assert empty == broadcast.Broadcast("u", "/", ["ev"], [], [], {})
    assert empty.rooms is not impl.parse_broadcast(["u", {"data": ["ev"]}, None]).rooms
    assert empty.flags is not impl.parse_broadcast(["u", {"data": ["ev"]}, None]).flags
