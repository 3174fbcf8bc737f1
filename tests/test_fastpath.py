"""One suite for the fast path, run against both implementations.

``py`` is the pure-Python twin ``socketio_redis_adapter._fastpath_py`` and
``c`` the compiled ``socketio_redis_adapter._fastpath``.  When the compiled
module is missing, the ``c`` tests fail, unless
``SOCKETIO_REDIS_ADAPTER_NO_EXTENSIONS`` is set: then they are not generated.
"""

from __future__ import annotations

import array
import asyncio
import collections
import datetime
import enum
import functools
import gc
import importlib
import inspect
import json
import math
import os
import random
import struct
import sys
import tracemalloc
import types
import uuid
import weakref
import zoneinfo
from types import ModuleType
from typing import Any

import pytest
import socketio.packet
from engineio.async_socket import AsyncSocket
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)

from socketio_redis_adapter import _fastpath_py
from socketio_redis_adapter.protocol import broadcast, notepack, parsers

NO_EXTENSIONS = bool(os.environ.get("SOCKETIO_REDIS_ADAPTER_NO_EXTENSIONS"))

try:
    _compiled: ModuleType | None = importlib.import_module("socketio_redis_adapter._fastpath")
    _compiled_error: str = ""
except ImportError as exc:
    _compiled = None
    _compiled_error = f"{type(exc).__name__}: {exc}"

_IMPLS = [pytest.param(_fastpath_py, id="py")]
if _compiled is not None or not NO_EXTENSIONS:
    _IMPLS.append(pytest.param(_compiled, id="c"))

NOT_BUILT = (
    "the compiled extension socketio_redis_adapter._fastpath was not built "
    "({}); build it with `pip install -e . --no-build-isolation` (needs Cython "
    "and a C compiler) or set SOCKETIO_REDIS_ADAPTER_NO_EXTENSIONS=1 to test "
    "the pure-Python twin only"
)

# a fixture that only hands out a module may be shared by hypothesis examples
HYPOTHESIS = settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)


class _NotBuilt(ModuleType):
    """Stands in for the missing extension: any use fails the test itself."""

    def __getattr__(self, name: str) -> Any:
        pytest.fail(NOT_BUILT.format(_compiled_error), pytrace=False)


@pytest.fixture(params=_IMPLS)
def impl(request: pytest.FixtureRequest) -> ModuleType:
    if request.param is None:
        # fail in the test's call phase (a FAILED test, not a setup ERROR)
        return _NotBuilt("socketio_redis_adapter._fastpath")
    return request.param


def make_index(impl: ModuleType, layout: dict[str, list[Any]]) -> Any:
    """A RoomIndex with sids ``s…`` (eio ``e…``) in the given rooms."""
    index = impl.RoomIndex()
    for sid, rooms in layout.items():
        assert index.connect(sid, "e" + sid)
        for room in rooms:
            assert index.join(sid, room)
    return index


def check_consistent(index: Any) -> None:
    """The three indexes agree with each other."""
    everyone = index.rooms[None]
    assert index.eio_to_sid == {eio: sid for sid, eio in everyone.items()}
    expected: dict[str, set[Any]] = {}
    for room, members in index.rooms.items():
        assert members or room is None, f"empty room {room!r} kept"
        for sid, eio in members.items():
            assert everyone[sid] == eio
            if room is not None and room != sid:
                expected.setdefault(sid, set()).add(room)
    assert index.sid_rooms == expected


# ---------------------------------------------------------------- RoomIndex


PUBLIC_FUNCTIONS = (
    "RoomIndex", "ChannelRouter", "encode_event", "deliver", "DeliveryCache",
    "pack_broadcast", "parse_broadcast", "unpack_broadcast",
)


def test_module_exports(impl: ModuleType) -> None:
    for name in PUBLIC_FUNCTIONS:
        assert callable(getattr(impl, name))
    # the compiled docstrings may start with an embedded signature
    for name in PUBLIC_FUNCTIONS:
        doc = inspect.cleandoc(getattr(_fastpath_py, name).__doc__)
        assert inspect.cleandoc(getattr(impl, name).__doc__).endswith(doc)
    for cls, method in [
        ("RoomIndex", "join"),
        ("RoomIndex", "select"),
        ("RoomIndex", "select_eio"),
        ("ChannelRouter", "route"),
        ("DeliveryCache", "forget"),
        ("DeliveryCache", "clear"),
    ]:
        doc = inspect.cleandoc(getattr(getattr(_fastpath_py, cls), method).__doc__)
        assert inspect.cleandoc(getattr(getattr(impl, cls), method).__doc__).endswith(doc)


def test_new_index_is_empty(impl: ModuleType) -> None:
    index = impl.RoomIndex()
    assert index.rooms == {None: {}}
    assert index.sid_rooms == {}
    assert index.eio_to_sid == {}
    assert len(index) == 0
    assert index.select(None, None) == {}


def test_connect(impl: ModuleType) -> None:
    index = impl.RoomIndex()
    assert index.connect("a", "ea") is True
    assert index.connect("b", "eb") is True
    assert index.rooms == {None: {"a": "ea", "b": "eb"}, "a": {"a": "ea"}, "b": {"b": "eb"}}
    assert index.eio_to_sid == {"ea": "a", "eb": "b"}
    assert index.sid_rooms == {}
    assert len(index) == 2
    check_consistent(index)


def test_connect_duplicate(impl: ModuleType) -> None:
    index = impl.RoomIndex()
    assert index.connect("a", "ea")
    assert index.connect("a2", "ea") is False  # same Engine.IO session
    assert index.connect("a", "eother") is False  # same sid
    assert index.rooms == {None: {"a": "ea"}, "a": {"a": "ea"}}
    assert index.eio_to_sid == {"ea": "a"}


def test_connect_into_room_named_like_the_sid(impl: ModuleType) -> None:
    index = make_index(impl, {"a": ["b"]})
    assert index.connect("b", "eb")
    assert index.rooms["b"] == {"a": "ea", "b": "eb"}
    check_consistent(index)
    assert index.disconnect("a") == ["a", "b"]
    assert index.rooms == {None: {"b": "eb"}, "b": {"b": "eb"}}
    check_consistent(index)


def test_join(impl: ModuleType) -> None:
    index = make_index(impl, {"a": [], "b": []})
    assert index.join("a", "room") is True
    assert index.join("a", "room") is False
    assert index.join("b", "room") is True
    assert index.rooms["room"] == {"a": "ea", "b": "eb"}
    assert index.sid_rooms == {"a": {"room"}, "b": {"room"}}
    assert index.join("a", 7) is True
    assert index.sid_rooms["a"] == {"room", 7}
    check_consistent(index)


def test_join_unknown_sid(impl: ModuleType) -> None:
    index = make_index(impl, {"a": []})
    with pytest.raises(KeyError):
        index.join("ghost", "room")
    with pytest.raises(KeyError):
        index.join("ghost", None)
    assert "room" not in index.rooms


def test_join_other_sid_room(impl: ModuleType) -> None:
    index = make_index(impl, {"a": [], "b": []})
    with pytest.raises(ValueError, match="sid room"):
        index.join("a", "b")
    assert index.rooms["b"] == {"b": "eb"}
    assert index.sid_rooms == {}


def test_join_own_room_and_none(impl: ModuleType) -> None:
    index = make_index(impl, {"a": []})
    assert index.join("a", "a") is False
    assert index.join("a", None) is False
    assert index.sid_rooms == {}
    assert index.leave("a", "a") is True
    assert "a" not in index.rooms
    assert index.join("a", "a") is True
    assert index.rooms["a"] == {"a": "ea"}
    assert index.sid_rooms == {}
    check_consistent(index)


def test_join_unhashable_room(impl: ModuleType) -> None:
    index = make_index(impl, {"a": []})
    with pytest.raises(TypeError):
        index.join("a", ["not", "hashable"])


def test_leave(impl: ModuleType) -> None:
    index = make_index(impl, {"a": ["r1", "r2"], "b": ["r1"]})
    assert index.leave("a", "r1") is True
    assert index.leave("a", "r1") is False
    assert index.rooms["r1"] == {"b": "eb"}
    assert index.sid_rooms == {"a": {"r2"}, "b": {"r1"}}
    assert index.leave("a", "r2") is True
    assert "r2" not in index.rooms  # empty room deleted
    assert "a" not in index.sid_rooms  # nothing left to remember
    assert index.leave("a", "nowhere") is False
    assert index.leave("ghost", "r1") is False
    assert index.leave("a", None) is False
    check_consistent(index)


def test_leave_own_room(impl: ModuleType) -> None:
    index = make_index(impl, {"a": ["r"]})
    assert index.leave("a", "a") is True
    assert "a" not in index.rooms
    assert index.sid_rooms == {"a": {"r"}}
    assert index.rooms_of("a") == ["r"]
    assert index.select(["a"], None) == {}
    assert index.select(None, None) == {"a": "ea"}
    check_consistent(index)


def test_disconnect(impl: ModuleType) -> None:
    index = make_index(impl, {"a": ["r1", "r2"], "b": ["r1"]})
    left = index.disconnect("a")
    assert left[0] == "a"
    assert sorted(left[1:]) == ["r1", "r2"]
    assert index.rooms == {None: {"b": "eb"}, "b": {"b": "eb"}, "r1": {"b": "eb"}}
    assert index.sid_rooms == {"b": {"r1"}}
    assert index.eio_to_sid == {"eb": "b"}
    assert index.disconnect("a") == []
    assert index.disconnect("ghost") == []
    assert index.disconnect("b") == ["b", "r1"]
    assert index.rooms == {None: {}}
    assert index.sid_rooms == {} and index.eio_to_sid == {}
    # the Engine.IO session may come back under a new sid
    assert index.connect("a2", "ea")


def test_disconnect_after_leaving_own_room(impl: ModuleType) -> None:
    index = make_index(impl, {"a": ["r"]})
    index.leave("a", "a")
    assert index.disconnect("a") == ["r"]
    assert index.rooms == {None: {}}


def test_close_room(impl: ModuleType) -> None:
    index = make_index(impl, {"a": ["r", "x"], "b": ["r"], "c": []})
    assert sorted(index.close_room("r")) == ["a", "b"]
    assert "r" not in index.rooms
    assert index.sid_rooms == {"a": {"x"}}
    assert index.close_room("r") == []
    assert index.close_room("x") == ["a"]
    assert index.sid_rooms == {}
    check_consistent(index)


def test_close_room_refusals(impl: ModuleType) -> None:
    index = make_index(impl, {"a": ["r"]})
    with pytest.raises(ValueError, match="sid room"):
        index.close_room("a")
    with pytest.raises(ValueError, match="namespace room"):
        index.close_room(None)
    assert index.rooms["a"] == {"a": "ea"}
    assert index.rooms[None] == {"a": "ea"}


def test_has_room(impl: ModuleType) -> None:
    index = make_index(impl, {"a": ["r", 5]})
    assert index.has_room("r") is True
    assert index.has_room("a") is True
    assert index.has_room(5) is True
    assert index.has_room(5.0) is True
    assert index.has_room("5") is False
    assert index.has_room("nope") is False
    assert index.has_room(None) is False


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("123", True),  # int room 123
        ("room", True),
        ("1.5", True),  # float room
        ("007", True),  # string room "007"
        ("42", True),  # string room "42"
        ("1e2", True),  # float("1e2") == 100
        ("+123", True),
        ("124", False),
        ("abc", False),
        ("", False),
        ("nan", False),
        ("inf", False),
        ("-inf", False),
        ("1_0", False),
        (" 1", False),
        ("1 ", False),
        ("10", False),
        ("1.2.3", False),
        ("e", False),
        ("-", False),
        ("١٢٣", False),  # Arabic-Indic digits: float() accepts them, Node does not
    ],
)
def test_has_channel_room(impl: ModuleType, name: str, expected: bool) -> None:
    index = make_index(impl, {"a": [123, 1.5, "007", "42", "room", 100]})
    assert index.has_channel_room(name) is expected


def test_has_channel_room_string_rooms(impl: ModuleType) -> None:
    index = make_index(impl, {"a": ["123"]})
    assert index.has_channel_room("123") is True
    assert index.has_channel_room("123.0") is False  # float 123.0 is not room "123"
    index = make_index(impl, {"a": [float("inf"), 10]})
    assert index.has_channel_room("inf") is False
    assert index.has_channel_room("1e999") is True  # overflows to inf, like the twin
    assert index.has_channel_room("1_0") is False
    assert index.has_channel_room("10") is True


def test_rooms_of(impl: ModuleType) -> None:
    index = make_index(impl, {"a": ["r1", "r2", 3], "b": []})
    rooms = index.rooms_of("a")
    assert rooms[0] == "a" and sorted(map(str, rooms[1:])) == ["3", "r1", "r2"]
    assert index.rooms_of("b") == ["b"]
    assert index.rooms_of("ghost") == []


def select_layout(impl: ModuleType) -> Any:
    return make_index(
        impl,
        {"a": ["r1", "r2"], "b": ["r1"], "c": ["r2", "r3"], "d": [], "e": ["r3"]},
    )


def test_select_all(impl: ModuleType) -> None:
    index = select_layout(impl)
    everyone = {sid: "e" + sid for sid in "abcde"}
    assert index.select(None, None) == everyone
    assert index.select([], None) == everyone
    assert index.select((), ()) == everyone
    selected = index.select(None, None)
    selected.clear()  # a copy, not the index's own dict
    assert len(index.rooms[None]) == 5


def test_select_rooms_union(impl: ModuleType) -> None:
    index = select_layout(impl)
    assert index.select(["r1"], None) == {"a": "ea", "b": "eb"}
    selected = index.select(["r1", "r2", "r1"], None)
    assert selected == {"a": "ea", "b": "eb", "c": "ec"}
    assert list(selected).count("a") == 1
    assert index.select(("r3", "d"), []) == {"c": "ec", "e": "ee", "d": "ed"}
    assert index.select(iter(["r2"]), None) == {"a": "ea", "c": "ec"}
    assert index.select({"r1", "r3"}, None) == {
        "a": "ea",
        "b": "eb",
        "c": "ec",
        "e": "ee",
    }
    selected = index.select(["r1"], None)
    selected["z"] = "ez"
    assert "z" not in index.rooms["r1"]


def test_select_except(impl: ModuleType) -> None:
    index = select_layout(impl)
    assert index.select(None, ["r1"]) == {"c": "ec", "d": "ed", "e": "ee"}
    assert index.select(None, ["r1", "r3"]) == {"d": "ed"}
    assert index.select(["r2", "r3"], ["r1"]) == {"c": "ec", "e": "ee"}
    assert index.select(["r2"], ["a"]) == {"c": "ec"}  # except one socket
    assert index.select(None, ("a", "b")) == {"c": "ec", "d": "ed", "e": "ee"}
    assert index.select(None, iter(["r3"])) == {"a": "ea", "b": "eb", "d": "ed"}
    # the except room bigger than the selection
    assert index.select(["d"], [None]) == {}
    assert index.select(["r1"], ["r2", "r3", "d"]) == {"b": "eb"}


def test_select_missing_and_empty(impl: ModuleType) -> None:
    index = select_layout(impl)
    assert index.select(["nope"], None) == {}
    assert index.select(["nope", "r3"], ["gone"]) == {"c": "ec", "e": "ee"}
    assert index.select(None, ["nope"]) == index.select(None, None)
    assert index.select(["r1"], ["r1"]) == {}
    empty = impl.RoomIndex()
    assert empty.select(None, ["r1"]) == {}
    assert empty.select(["r1"], None) == {}


def test_select_with_none_room_means_everyone(impl: ModuleType) -> None:
    index = select_layout(impl)
    assert index.select([None], ["r3"]) == {"a": "ea", "b": "eb", "d": "ed"}


def test_select_large(impl: ModuleType) -> None:
    layout = {f"s{i}": [f"r{i % 10}", i % 7] for i in range(2000)}
    index = make_index(impl, layout)
    everyone = index.rooms[None]
    got = index.select(["r1", "r2", 3], ["r2", 0])
    want = {
        sid: eio
        for sid, eio in everyone.items()
        if (sid in index.rooms["r1"] or sid in index.rooms["r2"] or sid in index.rooms[3])
        and sid not in index.rooms["r2"]
        and sid not in index.rooms[0]
    }
    assert got == want
    check_consistent(index)


def assert_select_eio(index: Any, rooms: Any, except_rooms: Any) -> list[str]:
    """``select_eio`` is ``select``'s eio_sids, in the same order."""
    # an iterator is read once: both calls get their own
    again = [
        list(arg) if arg is not None and not isinstance(arg, (list, tuple)) else arg
        for arg in (rooms, except_rooms)
    ]
    rooms, except_rooms = [
        iter(copy) if copy is not arg else arg
        for arg, copy in zip((rooms, except_rooms), again, strict=True)
    ]
    got = index.select_eio(rooms, except_rooms)
    assert type(got) is list
    assert got == list(index.select(*again).values()), (rooms, except_rooms)
    return got


def test_select_eio(impl: ModuleType) -> None:
    index = select_layout(impl)
    assert assert_select_eio(index, None, None) == ["ea", "eb", "ec", "ed", "ee"]
    assert assert_select_eio(index, [], ()) == ["ea", "eb", "ec", "ed", "ee"]
    assert assert_select_eio(index, ["r1"], None) == ["ea", "eb"]
    assert assert_select_eio(index, ["r1", "r2", "r1"], None) == ["ea", "eb", "ec"]
    assert assert_select_eio(index, ["r1", "r1"], None) == ["ea", "eb"]
    assert assert_select_eio(index, iter(["r3", "d"]), None) == ["ec", "ee", "ed"]
    assert assert_select_eio(index, None, ["r1"]) == ["ec", "ed", "ee"]
    assert assert_select_eio(index, None, ["r1", "r3"]) == ["ed"]
    assert assert_select_eio(index, ["r2", "r3"], ["r1"]) == ["ec", "ee"]
    assert assert_select_eio(index, ["r2"], iter(["a", "nope"])) == ["ec"]
    assert assert_select_eio(index, ["r1", "r2"], ["a", "c"]) == ["eb"]
    assert assert_select_eio(index, ["d"], [None]) == []
    assert assert_select_eio(index, [None], ["r3"]) == ["ea", "eb", "ed"]
    assert assert_select_eio(index, ["nope"], None) == []
    assert assert_select_eio(index, ["nope"], ["r1"]) == []
    assert assert_select_eio(index, None, ["nope"]) == ["ea", "eb", "ec", "ed", "ee"]
    assert impl.RoomIndex().select_eio(None, None) == []
    assert impl.RoomIndex().select_eio(None, ["r1"]) == []


def test_select_eio_returns_a_new_list(impl: ModuleType) -> None:
    index = select_layout(impl)
    for rooms in (None, ["r1"], ["r1", "r2"]):
        got = index.select_eio(rooms, None)
        got.append("ez")
        assert "ez" not in index.select_eio(rooms, None)
    assert index.rooms["r1"] == {"a": "ea", "b": "eb"}  # a union does not touch the rooms
    assert index.rooms["r2"] == {"a": "ea", "c": "ec"}


def test_select_eio_large(impl: ModuleType) -> None:
    index = make_index(impl, {f"s{i}": [f"r{i % 10}", i % 7] for i in range(2000)})
    before = {room: dict(members) for room, members in index.rooms.items()}
    eight_rooms = [f"r{i}" for i in range(8)]
    for rooms, except_rooms in [
        (None, None),
        (["r1"], None),
        (["r1", "r2", 3], ["r2", 0]),
        (None, ["r3"]),
        (None, ["r3", 4, "s5"]),
        (None, [0]),  # a seventh of everyone: copy and delete
        (eight_rooms, [0]),  # the same, on a union of more rooms than are walked
        (eight_rooms, None),
        (["r1"], ["r1"]),
        ([5], ["s5", "s12"]),
    ]:
        assert_select_eio(index, rooms, except_rooms)
    assert index.rooms == before  # selecting changes no room


ROOM_NAMES = ["r0", "r1", "r2", 3, None, "s0", "s7", "nope"]


@given(
    layout=st.lists(st.sets(st.sampled_from(["r0", "r1", "r2", 3]), max_size=3), max_size=40),
    rooms=st.none() | st.lists(st.sampled_from(ROOM_NAMES), max_size=6),
    except_rooms=st.none() | st.lists(st.sampled_from(ROOM_NAMES), max_size=4),
)
@HYPOTHESIS
def test_select_eio_matches_a_model(
    impl: ModuleType, layout: list[set[Any]], rooms: Any, except_rooms: Any
) -> None:
    """Union of rooms in first-seen order, minus the excluded sids, whatever their count.

    Exclusions of up to 8 sockets, of more, and of most of the source take
    different paths in the compiled twin, and so do unions of up to 4 rooms
    without except rooms and of more.
    """
    index = make_index(impl, {f"s{i}": sorted(joined, key=str) for i, joined in enumerate(layout)})
    members = {
        room: list(index.rooms.get(room, {})) for room in ROOM_NAMES if room is not None
    }
    members[None] = list(index.rooms[None])
    order: list[str] = []
    for room in rooms or [None]:
        order.extend(sid for sid in members[room] if sid not in order)
    skipped = {sid for room in except_rooms or () for sid in members[room]}
    want = ["e" + sid for sid in order if sid not in skipped]
    before = {room: dict(members) for room, members in index.rooms.items()}
    assert index.select_eio(rooms, except_rooms) == want
    assert list(index.select(rooms, except_rooms).values()) == want
    assert index.rooms == before  # selecting changes no room


def test_select_eio_keeps_reference_counts(impl: ModuleType) -> None:
    """Dropping excluded sockets from a list of values leaves no reference behind or missing."""
    index = make_index(impl, {f"s{i}": ["r1"] if i % 3 else [] for i in range(30)})
    eios = list(index.rooms[None].values())
    before = [sys.getrefcount(eio) for eio in eios]
    for except_rooms in (["s0"], ["s29", "s0", "s1"], ["r1"], ["s4", "r1"], ["nope", "s5"]):
        for _ in range(50):
            got = index.select_eio(None, except_rooms)
            del got
    assert [sys.getrefcount(eio) for eio in eios] == before


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
    router.remove("/custom")
    router.remove("/never-added")
    assert list(router.namespaces) == [b"/"]


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


# -------------------------------------------------------------- encode_event


def reference(namespace: str, data: Any, ack_id: int | None = None) -> list[Any]:
    packet = socketio.packet.Packet(
        socketio.packet.EVENT, namespace=namespace, data=data, id=ack_id
    )
    encoded = packet.encode()
    return encoded if isinstance(encoded, list) else [encoded]


def test_encode_text(impl: ModuleType) -> None:
    assert impl.encode_event("/", ["ev", 1], json.dumps) == ['2["ev",1]']
    assert impl.encode_event("", ["ev", 1], json.dumps) == ['2["ev",1]']
    assert impl.encode_event("/chat", ["ev", {"a": [1, 2]}], json.dumps) == [
        '2/chat,["ev",{"a":[1,2]}]'
    ]
    assert impl.encode_event("/", ["ev"], json.dumps, ack_id=12) == ['212["ev"]']
    assert impl.encode_event("/chat", ["ev"], json.dumps, 0) == ['2/chat,0["ev"]']
    assert impl.encode_event("/", ["ev", ("a", 1)], json.dumps) == ['2["ev",["a",1]]']


def test_encode_binary(impl: ModuleType) -> None:
    assert impl.encode_event("/", ["bin", b"\x00\x01"], json.dumps) == [
        '51-["bin",{"_placeholder":true,"num":0}]',
        b"\x00\x01",
    ]
    parts = impl.encode_event(
        "/chat",
        ["ev", {"a": b"1", "b": [bytearray(b"2"), {"c": (b"3", memoryview(b"4"))}]}, b"5"],
        json.dumps,
        ack_id=7,
    )
    assert parts[0] == (
        '55-/chat,7["ev",{"a":{"_placeholder":true,"num":0},'
        '"b":[{"_placeholder":true,"num":1},{"c":[{"_placeholder":true,"num":2},'
        '{"_placeholder":true,"num":3}]}]},{"_placeholder":true,"num":4}]'
    )
    assert parts[1:] == [b"1", b"2", b"3", b"4", b"5"]
    assert all(type(part) is bytes for part in parts[1:])


def test_encode_does_not_mutate_input(impl: ModuleType) -> None:
    data = ["ev", {"k": b"x", "l": [b"y"]}, (b"z",)]
    impl.encode_event("/", data, json.dumps)
    assert data == ["ev", {"k": b"x", "l": [b"y"]}, (b"z",)]


def test_encode_custom_dumps(impl: ModuleType) -> None:
    calls = []

    def dumps(data: Any, **kwargs: Any) -> str:
        calls.append(kwargs)
        return "<" + json.dumps(data, **kwargs) + ">"

    assert impl.encode_event("/", ["ev", b"x"], dumps) == [
        '51-<["ev",{"_placeholder":true,"num":0}]>',
        b"x",
    ]
    assert calls == [{"separators": (",", ":")}]


def test_encode_partial_dumps(impl: ModuleType) -> None:
    """The adapter's ``partial(json.dumps, default=...)``, as json.dumps does it."""
    dumps = functools.partial(json.dumps, default=parsers.json_default)
    data = ["ev", {"when": datetime.datetime(2024, 1, 2, 3, 4, 5)}, "ü"]
    want = '2["ev",{"when":"2024-01-02T03:04:05.000Z"},"\\u00fc"]'
    assert impl.encode_event("/", data, dumps) == [want]
    assert impl.encode_event("/", data, dumps) == [want]  # a second call, same answer
    with pytest.raises(TypeError, match="not JSON serializable"):
        impl.encode_event("/", ["ev", object()], dumps)
    # keywords changed in place are seen
    dumps.keywords["ensure_ascii"] = False
    assert impl.encode_event("/", ["ev", "ü"], dumps) == ['2["ev","ü"]']
    dumps.keywords["default"] = lambda value: "dflt"
    assert impl.encode_event("/", ["ev", object()], dumps) == ['2["ev","dflt"]']
    del dumps.keywords["default"]
    with pytest.raises(TypeError):
        impl.encode_event("/", ["ev", object()], dumps)
    # other partials of json.dumps
    other = functools.partial(json.dumps, sort_keys=True)
    assert impl.encode_event("/", ["ev", {"b": 1, "a": 2}], other) == ['2["ev",{"a":2,"b":1}]']
    indented = functools.partial(json.dumps, indent=1)
    assert impl.encode_event("/", ["ev"], indented) == ['2[\n "ev"\n]']
    spaced = functools.partial(json.dumps, separators=(", ", ": "))  # the call's win
    assert impl.encode_event("/", ["ev", {"a": 1}], spaced) == ['2["ev",{"a":1}]']


def test_encode_partial_of_other_function(impl: ModuleType) -> None:
    def fake(data: Any, **kwargs: Any) -> str:
        return repr(sorted(kwargs))

    dumps = functools.partial(fake, default=str)
    assert impl.encode_event("/", ["ev"], dumps) == ["2['default', 'separators']"]


def test_encode_sees_a_replaced_json_encoder(
    impl: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Shouting(json.JSONEncoder):
        def encode(self, o: Any) -> str:
            return super().encode(o).upper()

    dumps = functools.partial(json.dumps, default=parsers.json_default)
    impl.encode_event("/", ["warm"], dumps)
    monkeypatch.setattr(json, "JSONEncoder", Shouting)
    assert impl.encode_event("/", ["ev"], dumps) == ['2["EV"]']
    assert impl.encode_event("/", ["ev"], json.dumps) == ['2["EV"]']


def test_encode_subclasses(impl: ModuleType) -> None:
    class MyList(list):  # type: ignore[type-arg]
        pass

    class MyDict(dict):  # type: ignore[type-arg]
        pass

    data = ["ev", MyList([MyDict(a=b"1")]), MyDict(b=[2])]
    assert impl.encode_event("/", data, json.dumps) == [
        '51-["ev",[{"a":{"_placeholder":true,"num":0}}],{"b":[2]}]',
        b"1",
    ]


def test_encode_deep_nesting(impl: ModuleType) -> None:
    data: Any = b"x"
    for _ in range(100_000):
        data = [data]
    with pytest.raises(RecursionError):
        impl.encode_event("/", data, json.dumps)


@pytest.mark.parametrize(
    ("namespace", "data", "ack_id"),
    [
        ("/", ["message", "hello"], None),
        ("/", ["ev", 1, 2.5, None, True, False], None),
        ("/chat", ["ev", {"nested": {"deep": [1, [2, [3]]]}}], 5),
        ("/", ["ev", "ünïcödé ☃"], None),
        ("/", ["ev", b""], None),
        ("/x", ["ev", b"a", [b"b", {"c": b"c"}], {"d": [b"d", 1]}], 99),
        ("/", ["ev", {"k": bytearray(b"ba")}], None),
        ("/", ["ev", [], {}], 0),
        ("/a/b", ["ev", {"1": b"\xff" * 100}], None),
    ],
)
def test_encode_matches_python_socketio(
    impl: ModuleType, namespace: str, data: Any, ack_id: int | None
) -> None:
    assert impl.encode_event(namespace, data, json.dumps, ack_id) == reference(
        namespace, data, ack_id
    )


json_leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
    | st.binary(max_size=8)
)
json_like = st.recursive(
    json_leaves,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=4)
    ),
    max_leaves=20,
)


@given(
    event=st.text(min_size=1, max_size=8),
    args=st.lists(json_like, max_size=4),
    namespace=st.sampled_from(["/", "/chat", "/a-b_c"]),
    ack_id=st.none() | st.integers(min_value=0, max_value=2**31),
)
@HYPOTHESIS
def test_encode_hypothesis(
    impl: ModuleType, event: str, args: list[Any], namespace: str, ack_id: int | None
) -> None:
    data = [event, *args]
    got = impl.encode_event(namespace, data, json.dumps, ack_id)
    assert got == reference(namespace, data, ack_id)
    assert got == _fastpath_py.encode_event(namespace, data, json.dumps, ack_id)


# ------------------------------------------------------------------- deliver


class FakeSocket:
    def __init__(self, *, closed: bool = False, upgraded: bool = True) -> None:
        self.closed = closed
        self.upgraded = upgraded
        self.queue: asyncio.Queue[Any] = asyncio.Queue()

    def drain(self) -> list[Any]:
        items = []
        while not self.queue.empty():
            items.append(self.queue.get_nowait())
        return items


def test_deliver_websocket_shares_packets(impl: ModuleType) -> None:
    sockets = {"e1": FakeSocket(), "e2": FakeSocket()}
    packets = [object(), object()]
    assert impl.deliver(sockets, ["e1", "e2"], packets, None, False) == 2
    for socket in sockets.values():
        got = socket.drain()
        assert got == packets
        assert all(a is b for a, b in zip(got, packets, strict=True))


def test_deliver_skips_closed_and_unknown(impl: ModuleType) -> None:
    sockets = {"e1": FakeSocket(), "e2": FakeSocket(closed=True)}
    assert impl.deliver(sockets, ["e1", "e2", "ghost"], ["p"], None, False) == 1
    assert sockets["e1"].drain() == ["p"]
    assert sockets["e2"].drain() == []
    assert impl.deliver(sockets, [], ["p"], None, False) == 0


def test_deliver_volatile(impl: ModuleType) -> None:
    busy, idle = FakeSocket(), FakeSocket()
    busy.queue.put_nowait("old")
    sockets = {"busy": busy, "idle": idle}
    assert impl.deliver(sockets, ["busy", "idle"], ["p"], None, True) == 1
    assert busy.drain() == ["old"]
    assert idle.drain() == ["p"]
    busy.queue.put_nowait("old")
    assert impl.deliver(sockets, ["busy", "idle"], ["p"], None, False) == 2
    assert busy.drain() == ["old", "p"]


def test_deliver_polling_gets_fresh_packets(impl: ModuleType) -> None:
    ws, poll1, poll2 = FakeSocket(), FakeSocket(upgraded=False), FakeSocket(upgraded=False)
    sockets = {"ws": ws, "p1": poll1, "p2": poll2}
    shared = ["text", b"bin"]
    made: list[list[Any]] = []

    def fresh() -> list[Any]:
        batch = [object(), object()]
        made.append(batch)
        return batch

    assert impl.deliver(sockets, ["ws", "p1", "p2"], shared, fresh, False) == 3
    assert ws.drain() == shared
    assert len(made) == 2
    assert poll1.drain() == made[0]
    assert poll2.drain() == made[1]
    # without a factory, polling sockets get the shared packets too
    assert impl.deliver(sockets, ["p1"], shared, None, False) == 1
    assert poll1.drain() == shared


def test_deliver_iterables(impl: ModuleType) -> None:
    sockets = {"e1": FakeSocket(), "e2": FakeSocket()}
    selected = {"s1": "e1", "s2": "e2"}
    assert impl.deliver(sockets, selected.values(), ("a", "b"), None, 0) == 2
    assert sockets["e1"].drain() == ["a", "b"]
    assert sockets["e2"].drain() == ["a", "b"]


def test_deliver_propagates_errors(impl: ModuleType) -> None:
    socket = FakeSocket()
    socket.queue = asyncio.Queue(maxsize=1)
    with pytest.raises(asyncio.QueueFull):
        impl.deliver({"e": socket}, ["e"], ["a", "b"], None, False)


def test_deliver_queue_bookkeeping(impl: ModuleType) -> None:
    """What put_nowait does: count unfinished tasks, clear ``_finished``."""

    async def main() -> None:
        socket = FakeSocket()
        queue = socket.queue
        assert queue._finished.is_set()  # type: ignore[attr-defined]
        assert impl.deliver({"e": socket}, ["e"], ["a", "b"], None, False) == 1
        assert queue.qsize() == 2
        assert not queue._finished.is_set()  # type: ignore[attr-defined]
        assert queue._unfinished_tasks == 2  # type: ignore[attr-defined]
        joined = asyncio.ensure_future(queue.join())
        for _ in range(2):
            queue.get_nowait()
            queue.task_done()
        await asyncio.wait_for(joined, 1)
        with pytest.raises(ValueError):
            queue.task_done()  # as many task_done as items put

    asyncio.run(main())


def test_deliver_wakes_one_getter_per_packet(impl: ModuleType) -> None:
    async def main() -> None:
        socket = FakeSocket()
        queue = socket.queue
        getters = [asyncio.ensure_future(queue.get()) for _ in range(3)]
        await asyncio.sleep(0)
        assert len(queue._getters) == 3  # type: ignore[attr-defined]
        getters[0].cancel()
        await asyncio.sleep(0)
        assert impl.deliver({"e": socket}, ["e"], ["a", "b"], None, False) == 1
        done, pending = await asyncio.wait(getters[1:], timeout=1)
        assert sorted(task.result() for task in done) == ["a", "b"]
        assert not pending
        assert getters[0].cancelled()
        waiting = asyncio.ensure_future(queue.get())
        await asyncio.sleep(0)
        assert impl.deliver({"e": socket}, ["e"], ["c"], None, False) == 1
        assert await asyncio.wait_for(waiting, 1) == "c"

    asyncio.run(main())


def test_deliver_wakes_writer_tasks(impl: ModuleType) -> None:
    """The real pattern: every socket has a writer task waiting on its queue."""

    async def main() -> None:
        sockets = {f"e{i}": FakeSocket() for i in range(50)}
        received: dict[str, list[Any]] = {eio: [] for eio in sockets}

        async def writer(eio: str) -> None:
            queue = sockets[eio].queue
            while True:
                received[eio].append(await queue.get())
                queue.task_done()

        tasks = [asyncio.ensure_future(writer(eio)) for eio in sockets]
        await asyncio.sleep(0)
        assert impl.deliver(sockets, list(sockets), ["p1"], None, False) == 50
        assert impl.deliver(sockets, list(sockets)[::2], ["p2", "p3"], None, False) == 25
        for socket in sockets.values():
            await asyncio.wait_for(socket.queue.join(), 1)
        for i, eio in enumerate(sockets):
            assert received[eio] == (["p1", "p2", "p3"] if i % 2 == 0 else ["p1"])
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(main())


class CountingQueue(asyncio.Queue):  # type: ignore[type-arg]
    """A queue subclass: ``deliver`` must call its own ``put_nowait``."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[Any] = []

    def put_nowait(self, item: Any) -> None:
        self.calls.append(item)
        super().put_nowait(item)


def test_deliver_other_queues_use_put_nowait(impl: ModuleType) -> None:
    class Plain:
        def __init__(self) -> None:
            self.items: list[Any] = []

        def qsize(self) -> int:
            return len(self.items)

        def put_nowait(self, item: Any) -> None:
            self.items.append(item)

    counting, plain, bounded = FakeSocket(), FakeSocket(), FakeSocket()
    counting.queue = counted = CountingQueue()
    plain.queue = Plain()  # type: ignore[assignment]
    bounded.queue = asyncio.Queue(maxsize=5)
    sockets = {"c": counting, "p": plain, "b": bounded}
    assert impl.deliver(sockets, ["c", "p", "b"], ["x", "y"], None, True) == 3
    assert counted.calls == ["x", "y"]
    assert counting.drain() == ["x", "y"]
    assert plain.queue.items == ["x", "y"]  # type: ignore[attr-defined]
    assert bounded.drain() == ["x", "y"]
    assert impl.deliver(sockets, ["p"], ["z"], None, True) == 0  # volatile: qsize()


def test_deliver_sees_a_patched_queue_class(
    impl: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[Any] = []
    original = asyncio.Queue.put_nowait

    def put_nowait(self: Any, item: Any) -> None:
        seen.append(item)
        original(self, item)

    monkeypatch.setattr(asyncio.Queue, "put_nowait", put_nowait)
    socket = FakeSocket()
    assert impl.deliver({"e": socket}, ["e"], ["a"], None, False) == 1
    assert seen == ["a"]
    assert socket.drain() == ["a"]


def test_deliver_sees_a_patched_event_class(
    impl: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    cleared: list[Any] = []
    original = asyncio.Event.clear

    def clear(self: Any) -> None:
        cleared.append(self)
        original(self)

    monkeypatch.setattr(asyncio.Event, "clear", clear)
    socket = FakeSocket()
    assert impl.deliver({"e": socket}, ["e"], ["a"], None, False) == 1
    assert cleared == [socket.queue._finished]  # type: ignore[attr-defined]
    assert not socket.queue._finished.is_set()  # type: ignore[attr-defined]


if hasattr(asyncio.Queue, "shutdown"):  # Python 3.13+: only defined where it can run

    def test_deliver_to_a_shut_down_queue(impl: ModuleType) -> None:
        socket = FakeSocket()
        socket.queue.shutdown()  # type: ignore[attr-defined]
        with pytest.raises(asyncio.QueueShutDown):  # type: ignore[attr-defined]
            impl.deliver({"e": socket}, ["e"], ["a"], None, False)


def test_deliver_packet_iterables(impl: ModuleType) -> None:
    sockets = {"e": FakeSocket(), "f": FakeSocket()}
    assert impl.deliver(sockets, ["e", "f"], iter(["a", "b"]), None, False) == 2
    assert sockets["f"].drain() == ["a", "b"]  # read once, for every socket
    socket = sockets["e"]
    assert socket.drain() == ["a", "b"]
    assert impl.deliver({"e": socket}, ["e"], [], None, False) == 1
    assert socket.drain() == []
    assert socket.queue._unfinished_tasks == 2  # type: ignore[attr-defined]


# ----------------------------------------------------- deliver with a cache


def engineio_socket(*, upgraded: bool = True) -> Any:
    """A real python-engineio ``AsyncSocket`` (plain ``__dict__``), as the server makes it."""
    socket = AsyncSocket(types.SimpleNamespace(create_queue=asyncio.Queue), "sid")
    socket.upgraded = upgraded
    return socket


def drain(socket: Any) -> list[Any]:
    items = []
    while not socket.queue.empty():
        items.append(socket.queue.get_nowait())
    return items


def test_delivery_cache_api(impl: ModuleType) -> None:
    cache = impl.DeliveryCache()
    assert len(cache) == 0
    assert "e" not in cache
    cache.forget("e")  # unknown: nothing to drop
    cache.clear()
    sockets = {"e": FakeSocket(), "f": engineio_socket()}
    assert impl.deliver(sockets, ["e", "f"], ["p"], None, False, cache) == 2
    assert len(cache) in (0, 2)  # the pure twin keeps no records
    cache.forget("e")
    assert "e" not in cache
    assert len(cache) <= 1
    cache.clear()
    assert len(cache) == 0
    assert impl.deliver(sockets, ["e", "f"], ["q"], None, False, cache=cache) == 2
    assert [drain(socket) for socket in sockets.values()] == [["p", "q"]] * 2


@pytest.mark.parametrize("make", [FakeSocket, engineio_socket], ids=["fake", "engineio"])
def test_deliver_cache_repeated(impl: ModuleType, make: Any) -> None:
    """The same sockets again and again: what put_nowait would have queued."""
    sockets = {f"e{i}": make() for i in range(20)}
    cache = impl.DeliveryCache()
    for round_ in range(5):
        assert impl.deliver(sockets, list(sockets), [round_, "x"], None, False, cache) == 20
    for socket in sockets.values():
        assert socket.queue._unfinished_tasks == 10  # type: ignore[attr-defined]
        assert drain(socket) == [0, "x", 1, "x", 2, "x", 3, "x", 4, "x"]


def test_deliver_cache_replaced_socket(impl: ModuleType) -> None:
    old = FakeSocket()
    sockets = {"e": old}
    cache = impl.DeliveryCache()
    assert impl.deliver(sockets, ["e"], ["a"], None, False, cache) == 1
    new = FakeSocket()
    sockets["e"] = new  # same eio sid, another socket (and queue)
    assert impl.deliver(sockets, ["e"], ["b"], None, False, cache) == 1
    assert drain(old) == ["a"]
    assert drain(new) == ["b"]
    # replaced by a socket whose queue must take put_nowait: bounded
    bounded = FakeSocket()
    bounded.queue = asyncio.Queue(maxsize=1)
    sockets["e"] = bounded
    with pytest.raises(asyncio.QueueFull):
        impl.deliver(sockets, ["e"], ["c", "d"], None, False, cache)
    assert "e" not in cache  # the stale record went away
    assert drain(bounded) == ["c"]
    assert drain(new) == []


def test_deliver_cache_replaced_socket_same_queue(impl: ModuleType) -> None:
    """A new socket object with the old socket's queue is still another socket."""
    old = FakeSocket(upgraded=False)
    sockets = {"e": old}
    cache = impl.DeliveryCache()
    fresh = [["f1"], ["f2"]]
    assert impl.deliver(sockets, ["e"], ["a"], fresh.pop, False, cache) == 1
    new = FakeSocket(upgraded=True)
    new.queue = old.queue
    sockets["e"] = new
    assert impl.deliver(sockets, ["e"], ["b"], fresh.pop, False, cache) == 1
    assert drain(new) == ["f2", "b"]  # new.upgraded was read, not old's


def test_deliver_cache_closed_and_gone(impl: ModuleType) -> None:
    sockets = {"e": FakeSocket(), "f": FakeSocket()}
    cache = impl.DeliveryCache()
    assert impl.deliver(sockets, ["e", "f"], ["a"], None, False, cache) == 2
    sockets["e"].closed = True
    gone = sockets.pop("f")
    assert impl.deliver(sockets, ["e", "f"], ["b"], None, False, cache) == 0
    assert drain(sockets["e"]) == ["a"]
    assert drain(gone) == ["a"]
    sockets["e"].closed = False  # closed is read on every delivery
    sockets["f"] = gone  # and so is the sockets dict
    assert impl.deliver(sockets, ["e", "f"], ["c"], None, False, cache) == 2
    assert drain(sockets["e"]) == ["c"]
    assert drain(gone) == ["c"]


def test_deliver_cache_forget(impl: ModuleType) -> None:
    """``forget`` is how a socket whose queue was replaced gets a new record."""
    socket = FakeSocket()
    sockets = {"e": socket}
    cache = impl.DeliveryCache()
    assert impl.deliver(sockets, ["e"], ["a"], None, False, cache) == 1
    first = socket.queue
    socket.queue = asyncio.Queue()
    cache.forget("e")
    assert "e" not in cache
    assert impl.deliver(sockets, ["e"], ["b"], None, False, cache) == 1
    assert first.get_nowait() == "a" and first.empty()
    assert drain(socket) == ["b"]
    socket.queue = asyncio.Queue()
    cache.clear()
    assert impl.deliver(sockets, ["e"], ["c"], None, False, cache) == 1
    assert drain(socket) == ["c"]


def test_deliver_cache_volatile(impl: ModuleType) -> None:
    busy, idle = FakeSocket(), engineio_socket()
    sockets = {"busy": busy, "idle": idle}
    cache = impl.DeliveryCache()
    assert impl.deliver(sockets, ["busy", "idle"], ["a"], None, False, cache) == 2
    drain(idle)
    assert impl.deliver(sockets, ["busy", "idle"], ["v"], None, True, cache) == 1
    assert drain(busy) == ["a"]
    assert drain(idle) == ["v"]
    assert impl.deliver(sockets, ["busy", "idle"], ["w"], None, True, cache) == 2
    assert drain(busy) == drain(idle) == ["w"]


def test_deliver_cache_polling(impl: ModuleType) -> None:
    """Binary messages: polling sockets get fresh packets; ``upgraded`` is read each time."""
    ws, poll = engineio_socket(), engineio_socket(upgraded=False)
    sockets = {"ws": ws, "poll": poll}
    cache = impl.DeliveryCache()
    made: list[list[Any]] = []

    def fresh() -> list[Any]:
        made.append([object(), b"bin"])
        return made[-1]

    shared = ["text", b"bin"]
    assert impl.deliver(sockets, ["ws", "poll"], shared, fresh, False, cache) == 2
    assert drain(ws) == shared
    assert drain(poll) == made[0]
    poll.upgraded = True  # the upgrade to websocket happened
    assert impl.deliver(sockets, ["ws", "poll"], shared, fresh, False, cache) == 2
    assert len(made) == 1
    assert drain(ws) == drain(poll) == shared


def test_deliver_cache_other_queues(impl: ModuleType) -> None:
    """Bounded and subclassed queues always take their own put_nowait."""
    counting, bounded = FakeSocket(), FakeSocket()
    counting.queue = counted = CountingQueue()
    bounded.queue = asyncio.Queue(maxsize=3)
    sockets = {"c": counting, "b": bounded}
    cache = impl.DeliveryCache()
    assert impl.deliver(sockets, ["c", "b"], ["x", "y"], None, False, cache) == 2
    assert "c" not in cache and "b" not in cache
    assert impl.deliver(sockets, ["c", "b"], ["z"], None, True, cache) == 0  # volatile
    with pytest.raises(asyncio.QueueFull):
        impl.deliver(sockets, ["c", "b"], ["z", "z"], None, False, cache)
    assert counted.calls == ["x", "y", "z", "z"]
    assert drain(bounded) == ["x", "y", "z"]


def test_deliver_cache_sees_patched_classes(
    impl: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Patching ``asyncio.Queue`` or ``asyncio.Event`` after records were made."""
    socket = FakeSocket()
    sockets = {"e": socket}
    cache = impl.DeliveryCache()
    assert impl.deliver(sockets, ["e"], ["a"], None, False, cache) == 1
    seen: list[Any] = []
    cleared: list[Any] = []
    put_nowait, clear = asyncio.Queue.put_nowait, asyncio.Event.clear

    def patched_put(self: Any, item: Any) -> None:
        seen.append(item)
        put_nowait(self, item)

    def patched_clear(self: Any) -> None:
        cleared.append(self)
        clear(self)

    monkeypatch.setattr(asyncio.Event, "clear", patched_clear)
    assert impl.deliver(sockets, ["e"], ["b"], None, False, cache) == 1
    assert cleared == [socket.queue._finished]  # type: ignore[attr-defined]
    monkeypatch.setattr(asyncio.Queue, "put_nowait", patched_put)
    assert impl.deliver(sockets, ["e"], ["c"], None, False, cache) == 1
    assert seen == ["c"]
    monkeypatch.undo()
    assert impl.deliver(sockets, ["e"], ["d"], None, False, cache) == 1
    assert drain(socket) == ["a", "b", "c", "d"]


def test_deliver_cache_bookkeeping(impl: ModuleType) -> None:
    """With records: unfinished tasks, ``_finished`` and one wake-up per packet."""

    async def main() -> None:
        socket = engineio_socket()
        queue = socket.queue
        sockets = {"e": socket}
        cache = impl.DeliveryCache()
        getters = [asyncio.ensure_future(queue.get()) for _ in range(3)]
        await asyncio.sleep(0)
        getters[0].cancel()
        await asyncio.sleep(0)
        assert impl.deliver(sockets, ["e"], ["a", "b"], None, False, cache) == 1
        assert not queue._finished.is_set()
        assert queue._unfinished_tasks == 2
        done, pending = await asyncio.wait(getters[1:], timeout=1)
        assert sorted(task.result() for task in done) == ["a", "b"]
        assert not pending
        for _ in range(2):
            queue.task_done()
        assert queue._finished.is_set()
        waiting = asyncio.ensure_future(queue.get())
        await asyncio.sleep(0)
        assert impl.deliver(sockets, ["e"], ["c"], None, False, cache) == 1
        assert not queue._finished.is_set()
        assert await asyncio.wait_for(waiting, 1) == "c"
        queue.task_done()
        await asyncio.wait_for(queue.join(), 1)
        assert impl.deliver(sockets, ["e"], [], None, False, cache) == 1
        assert queue._finished.is_set()  # nothing put, nothing cleared

    asyncio.run(main())


def test_deliver_cache_prunes_stale_records(impl: ModuleType) -> None:
    """Records of sockets that went away without ``forget`` do not pile up."""
    cache = impl.DeliveryCache()
    old = {f"old{i}": FakeSocket() for i in range(3000)}
    assert impl.deliver(old, list(old), ["a"], None, False, cache) == 3000
    assert len(cache) <= 3000
    new = {f"new{i}": FakeSocket() for i in range(3000)}  # every old socket is gone
    for round_ in range(2):
        assert impl.deliver(new, list(new), [round_], None, False, cache) == 3000
    assert not any(eio_sid in cache for eio_sid in old)
    assert len(cache) <= 3000
    for socket in new.values():
        assert drain(socket) == [0, 1]
    # closed and replaced sockets are stale too
    for i, eio_sid in enumerate(new):
        if i % 2:
            new[eio_sid].closed = True
        else:
            new[eio_sid] = FakeSocket()
    more = {f"more{i}": FakeSocket() for i in range(6000)}
    assert impl.deliver(more, list(more), ["m"], None, False, cache) == 6000
    assert not any(eio_sid in cache for eio_sid in new)
    assert len(cache) <= 6000


def test_deliver_cache_forget_while_pruning(impl: ModuleType) -> None:
    """``closed`` may be Python code that changes the cache, even while it is pruned."""
    cache = impl.DeliveryCache()

    class Forgetful(FakeSocket):
        def __init__(self, eio_sid: str) -> None:
            super().__init__()
            self.eio_sid = eio_sid

        @property  # type: ignore[override]
        def closed(self) -> bool:
            cache.forget(self.eio_sid)
            return False

        @closed.setter
        def closed(self, value: bool) -> None:
            pass

    sockets = {f"e{i}": Forgetful(f"e{i}") for i in range(1500)}
    assert impl.deliver(sockets, list(sockets), ["a"], None, False, cache) == 1500
    assert impl.deliver(sockets, list(sockets), ["b"], None, False, cache) == 1500
    assert all(drain(socket) == ["a", "b"] for socket in sockets.values())


def test_deliver_cache_memory_per_socket(impl: ModuleType) -> None:
    """A record and its share of the cache's dict stay small (about 100 bytes)."""
    sockets = {f"eio-{i:08d}": engineio_socket() for i in range(20_000)}
    eio_sids = list(sockets)
    cache = impl.DeliveryCache()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        assert impl.deliver(sockets, eio_sids, [], None, False, cache) == 20_000
        per_socket = (tracemalloc.get_traced_memory()[0] - before) / len(sockets)
    finally:
        tracemalloc.stop()
    assert len(cache) in (0, 20_000)
    assert per_socket <= 120


def test_deliver_cache_is_collected(impl: ModuleType) -> None:
    """A record is part of a reference cycle (socket -> server -> adapter -> cache)."""

    class Server:
        cache: Any

    server = Server()
    server.cache = impl.DeliveryCache()
    socket = FakeSocket()
    socket.server = server  # type: ignore[attr-defined]
    assert impl.deliver({"e": socket}, ["e"], ["a"], None, False, server.cache) == 1
    ref = weakref.ref(socket)
    del server, socket
    gc.collect()
    assert ref() is None


def test_deliver_cache_runs_no_eq_of_other_sids(impl: ModuleType) -> None:
    """A cache never changes what deliver does: an eio_sid whose ``__eq__`` raises
    against another socket's id is delivered to as without a cache."""

    class Sid:
        def __init__(self, twin: str) -> None:
            self.twin = twin
            self.compared = 0

        def __hash__(self) -> int:
            return hash(self.twin)

        def __eq__(self, other: object) -> bool:
            if other is self:
                return True
            self.compared += 1
            raise ValueError("compared with another eio_sid")

    cache = impl.DeliveryCache()
    old = FakeSocket()
    assert impl.deliver({"e1": old}, ["e1"], ["a"], None, False, cache) == 1
    eio_sid = Sid("e1")  # the same hash as the socket with a record
    socket = FakeSocket()
    for _ in range(2):
        assert impl.deliver({eio_sid: socket}, [eio_sid], ["b"], None, False, cache) == 1
    assert drain(old) == ["a"]
    assert drain(socket) == ["b", "b"]
    assert eio_sid.compared == 0
    cache.forget(eio_sid)
    assert eio_sid not in cache
    assert eio_sid.compared == 0


def test_deliver_cache_matches_twin(impl: ModuleType) -> None:
    """Random churn, delivered with a cache, against the pure twin without one."""
    rng = random.Random(20240611)
    worlds: list[dict[str, Any]] = [{}, {}]
    cache = impl.DeliveryCache()
    counter = 0

    def new_socket() -> list[Any]:
        upgraded = rng.random() < 0.7
        bounded = rng.random() < 0.1
        made = []
        for _ in worlds:
            socket = FakeSocket(upgraded=upgraded)
            if bounded:
                socket.queue = asyncio.Queue(maxsize=1000)
            made.append(socket)
        return made

    for step in range(3000):
        action = rng.random()
        eio_sids = [f"e{i}" for i in range(40)]
        eio_sid = rng.choice(eio_sids)
        if action < 0.15:
            for world, socket in zip(worlds, new_socket(), strict=True):
                world[eio_sid] = socket  # connect or replace
        elif action < 0.2:
            for world in worlds:
                world.pop(eio_sid, None)
        elif action < 0.25:
            for world in worlds:
                if eio_sid in world:
                    world[eio_sid].closed = not world[eio_sid].closed
        elif action < 0.3:
            for world in worlds:
                if eio_sid in world:
                    world[eio_sid].upgraded = not world[eio_sid].upgraded
        elif action < 0.35:
            cache.forget(eio_sid)
        elif action < 0.45:
            for world in worlds:
                if eio_sid in world:
                    drain(world[eio_sid])
        else:
            targets = rng.sample(eio_sids, rng.randrange(0, 20))
            volatile = rng.random() < 0.3
            packets = [f"p{step}-{k}" for k in range(rng.randrange(0, 3))]
            binary = rng.random() < 0.3
            counter += 1
            results = []
            for i, world in enumerate(worlds):
                made = iter(range(1000))
                polling = (lambda m=made, s=step: [f"fresh{s}-{next(m)}"]) if binary else None
                if i == 0:
                    results.append(
                        impl.deliver(world, targets, packets, polling, volatile, cache)
                    )
                else:
                    results.append(
                        _fastpath_py.deliver(world, targets, packets, polling, volatile)
                    )
            assert results[0] == results[1]
    for eio_sid in worlds[1]:
        ours, theirs = worlds[0][eio_sid].queue, worlds[1][eio_sid].queue
        assert list(ours._queue) == list(theirs._queue)  # type: ignore[attr-defined]
        assert ours._unfinished_tasks == theirs._unfinished_tasks  # type: ignore[attr-defined]
    assert counter > 1000


# --------------------------------------------------------------- model tests

SIDS = ["s0", "s1", "s2", "s3"]
EIOS = ["e0", "e1", "e2", "e3", "e4"]
ROOMS: list[Any] = ["s0", "s1", "r1", "r2", "123", 123, 1.5, None]


class NaiveRooms:
    """The obvious implementation: a dict of sets, scanned every time."""

    def __init__(self) -> None:
        self.connected: dict[str, str] = {}
        self.rooms: dict[Any, dict[str, str]] = {}

    def connect(self, sid: str, eio_sid: str) -> bool:
        if sid in self.connected or eio_sid in self.connected.values():
            return False
        self.connected[sid] = eio_sid
        self.rooms.setdefault(sid, {})[sid] = eio_sid
        return True

    def join(self, sid: str, room: Any) -> bool:
        eio_sid = self.connected[sid]
        if room is None:
            return False
        if room != sid and room in self.connected:
            raise ValueError("cannot enter a sid room")
        members = self.rooms.setdefault(room, {})
        if sid in members:
            return False
        members[sid] = eio_sid
        return True

    def leave(self, sid: str, room: Any) -> bool:
        if room is None or sid not in self.rooms.get(room, {}):
            return False
        del self.rooms[room][sid]
        if not self.rooms[room]:
            del self.rooms[room]
        return True

    def disconnect(self, sid: str) -> list[Any]:
        if sid not in self.connected:
            return []
        del self.connected[sid]
        left = [room for room, members in self.rooms.items() if sid in members]
        for room in left:
            self.leave(sid, room)
        return left

    def close_room(self, room: Any) -> list[str]:
        if room is None or room in self.connected:
            raise ValueError("cannot close")
        return list(self.rooms.pop(room, {}))

    def layout(self) -> dict[Any, dict[str, str]]:
        return {None: dict(self.connected), **self.rooms}

    def rooms_of(self, sid: str) -> set[Any]:
        return {room for room, members in self.rooms.items() if sid in members}

    def select(self, rooms: list[Any] | None, except_rooms: list[Any] | None) -> dict[str, str]:
        layout = self.layout()
        if rooms:
            chosen = {sid for room in rooms for sid in layout.get(room, {})}
        else:
            chosen = set(self.connected)
        for room in except_rooms or ():
            chosen -= set(layout.get(room, {}))
        return {sid: self.connected[sid] for sid in chosen}


def outcome(call: Any) -> tuple[str, Any]:
    try:
        return ("ok", call())
    except (KeyError, ValueError) as exc:
        return (type(exc).__name__, None)


def normalise_left(left: Any) -> Any:
    return sorted(map(repr, left)) if isinstance(left, list) else left


class RoomMachineBase(RuleBasedStateMachine):
    """Same operations on the implementation under test, the twin and the model."""

    IMPL: ModuleType = _fastpath_py

    def __init__(self) -> None:
        super().__init__()
        self.index = self.IMPL.RoomIndex()
        self.twin = _fastpath_py.RoomIndex()
        self.model = NaiveRooms()

    def apply(self, name: str, *args: Any) -> None:
        got = outcome(lambda: getattr(self.index, name)(*args))
        twin = outcome(lambda: getattr(self.twin, name)(*args))
        want = outcome(lambda: getattr(self.model, name)(*args))
        assert got == twin, (name, args)
        if name == "disconnect" and args[0] in got[1]:
            assert got[1][0] == args[0]  # its own room first
        if name in ("disconnect", "close_room"):
            got = (got[0], normalise_left(got[1]))
            want = (want[0], normalise_left(want[1]))
        assert got == want, (name, args)

    @rule(sid=st.sampled_from(SIDS), eio_sid=st.sampled_from(EIOS))
    def connect(self, sid: str, eio_sid: str) -> None:
        self.apply("connect", sid, eio_sid)

    @rule(sid=st.sampled_from(SIDS), room=st.sampled_from(ROOMS))
    def join(self, sid: str, room: Any) -> None:
        self.apply("join", sid, room)

    @rule(sid=st.sampled_from(SIDS), room=st.sampled_from(ROOMS))
    def leave(self, sid: str, room: Any) -> None:
        self.apply("leave", sid, room)

    @rule(sid=st.sampled_from(SIDS))
    def disconnect(self, sid: str) -> None:
        self.apply("disconnect", sid)

    @rule(room=st.sampled_from(ROOMS))
    def close_room(self, room: Any) -> None:
        self.apply("close_room", room)

    @rule(
        rooms=st.none() | st.lists(st.sampled_from(ROOMS), max_size=3),
        except_rooms=st.none() | st.lists(st.sampled_from(ROOMS), max_size=3),
    )
    def select(self, rooms: list[Any] | None, except_rooms: list[Any] | None) -> None:
        got = self.index.select(rooms, except_rooms)
        assert got == self.model.select(rooms, except_rooms)
        assert got == self.twin.select(rooms, except_rooms)
        assert_select_eio(self.index, rooms, except_rooms)
        assert self.index.select_eio(rooms, except_rooms) == self.twin.select_eio(
            rooms, except_rooms
        )

    @invariant()
    def same_rooms(self) -> None:
        assert self.index.rooms == self.model.layout()
        assert self.twin.rooms == self.index.rooms
        assert self.index.sid_rooms == self.twin.sid_rooms
        assert len(self.index) == len(self.model.connected)
        check_consistent(self.index)

    @invariant()
    def same_rooms_of(self) -> None:
        for sid in SIDS:
            rooms = self.index.rooms_of(sid)
            assert len(rooms) == len(set(rooms))
            assert set(rooms) == self.model.rooms_of(sid)
            if sid in rooms:
                assert rooms[0] == sid


def test_room_index_model(impl: ModuleType) -> None:
    machine = type("RoomMachine", (RoomMachineBase,), {"IMPL": impl})
    run_state_machine_as_test(
        machine,
        settings=settings(max_examples=150, stateful_step_count=40, deadline=None),
    )


@pytest.mark.parametrize("seed", range(5))
def test_room_index_randomized(impl: ModuleType, seed: int) -> None:
    """Long random runs with more sockets than the stateful test uses."""
    rng = random.Random(seed)
    sids = [f"s{i}" for i in range(40)]
    rooms: list[Any] = [*sids[:10], *(f"r{i}" for i in range(15)), *range(5), 2.5]
    index, model = impl.RoomIndex(), NaiveRooms()
    for _ in range(3000):
        op = rng.random()
        sid, room = rng.choice(sids), rng.choice(rooms)
        if op < 0.2:
            args: tuple[Any, ...] = ("connect", sid, "e" + str(rng.randrange(60)))
        elif op < 0.6:
            args = ("join", sid, room)
        elif op < 0.8:
            args = ("leave", sid, room)
        elif op < 0.9:
            args = ("disconnect", sid)
        else:
            args = ("close_room", room)
        got = outcome(lambda a=args: getattr(index, a[0])(*a[1:]))
        want = outcome(lambda a=args: getattr(model, a[0])(*a[1:]))
        assert (got[0], normalise_left(got[1])) == (want[0], normalise_left(want[1])), args
        if rng.random() < 0.05:
            picked = rng.sample(rooms, rng.randrange(3)) or None
            excluded = rng.sample(rooms, rng.randrange(3)) or None
            assert index.select(picked, excluded) == model.select(picked, excluded)
            assert_select_eio(index, picked, excluded)
    assert index.rooms == model.layout()
    check_consistent(index)
    for sid in sids:
        assert set(index.rooms_of(sid)) == model.rooms_of(sid)


# ---------------------------------------------------------------- the chooser


def test_default_import_uses_compiled_module() -> None:
    fastpath = importlib.import_module("socketio_redis_adapter.fastpath")
    if not NO_EXTENSIONS:
        assert _compiled is not None, NOT_BUILT.format(_compiled_error)
        assert fastpath.FASTPATH is True
        assert fastpath.RoomIndex is _compiled.RoomIndex
        assert fastpath.ChannelRouter is _compiled.ChannelRouter
        assert fastpath.encode_event is _compiled.encode_event
        assert fastpath.deliver is _compiled.deliver
        for name in fastpath.__all__:
            if name != "FASTPATH":
                assert getattr(fastpath, name) is getattr(_compiled, name), name
    else:
        assert fastpath.FASTPATH is False
        assert fastpath.RoomIndex is _fastpath_py.RoomIndex
        assert fastpath.encode_event is _fastpath_py.encode_event
        for name in fastpath.__all__:
            if name != "FASTPATH":
                assert getattr(fastpath, name) is getattr(_fastpath_py, name), name
    try:
        package = importlib.import_module("socketio_redis_adapter")
    except ImportError:  # the package root may still be under construction
        return
    if hasattr(package, "FASTPATH"):
        assert package.FASTPATH is fastpath.FASTPATH


def test_no_nan_rooms_from_channels(impl: ModuleType) -> None:
    index = make_index(impl, {"a": [math.inf]})
    assert index.has_channel_room("inf") is False
    assert index.has_channel_room("Infinity") is False


# ------------------------------------------------------------------ PushParser


def _bulk(data: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(data), data)


def pmessage(pattern: bytes, channel: bytes, data: bytes) -> bytes:
    return b"*4\r\n" + _bulk(b"pmessage") + _bulk(pattern) + _bulk(channel) + _bulk(data)


def message(channel: bytes, data: bytes) -> bytes:
    return b"*3\r\n" + _bulk(b"message") + _bulk(channel) + _bulk(data)


class PushRecorder:
    def __init__(self) -> None:
        self.messages: list[tuple[bytes | None, bytes, bytes]] = []
        self.replies: list[Any] = []
        self.errors: list[BaseException] = []

    def parser(self, impl: ModuleType, channel_filter: Any = None) -> Any:
        return impl.PushParser(
            lambda pattern, channel, data: self.messages.append((pattern, channel, data)),
            self.replies.append,
            self.errors.append,
            channel_filter,
        )


def _router(impl: ModuleType) -> Any:
    index = make_index(impl, {"s1": ["mine", 123]})
    router = impl.ChannelRouter("sio")
    router.add("/", index)
    return router


STREAM = b"".join(
    [
        b"*3\r\n" + _bulk(b"psubscribe") + _bulk(b"sio#/#*") + b":1\r\n",
        b"*3\r\n" + _bulk(b"subscribe") + _bulk(b"sio-request#/#") + b":2\r\n",
        pmessage(b"sio#/#*", b"sio#/#", b"\x93main\r\n"),
        pmessage(b"sio#/#*", b"sio#/#other#", b"dropped"),
        pmessage(b"sio#/#*", b"sio#/#mine#", b""),
        pmessage(b"sio#/#*", b"sio#/#123#", b"numeric"),
        message(b"sio-request#/#", b'{"type":1}'),
        b"*2\r\n" + _bulk(b"pong") + _bulk(b""),
        b"-ERR something\r\n",
        b"+OK\r\n",
    ]
)

EXPECTED_MESSAGES = [
    (b"sio#/#*", b"sio#/#", b"\x93main\r\n"),
    (b"sio#/#*", b"sio#/#mine#", b""),
    (b"sio#/#*", b"sio#/#123#", b"numeric"),
    (None, b"sio-request#/#", b'{"type":1}'),
]


def _check_replies(impl: ModuleType, replies: list[Any]) -> None:
    assert replies[:3] == [
        [b"psubscribe", b"sio#/#*", 1],
        [b"subscribe", b"sio-request#/#", 2],
        [b"pong", b""],
    ]
    assert isinstance(replies[3], impl.RespError) and str(replies[3]) == "ERR something"
    assert replies[4:] == [b"OK"]


def test_push_parser_routes_and_drops(impl: ModuleType) -> None:
    recorder = PushRecorder()
    router = _router(impl)
    recorder.parser(impl, router).feed(STREAM)
    assert recorder.messages == EXPECTED_MESSAGES
    _check_replies(impl, recorder.replies)
    assert router.dropped == 1


def test_push_parser_without_filter_passes_everything(impl: ModuleType) -> None:
    recorder = PushRecorder()
    recorder.parser(impl).feed(STREAM)
    assert (b"sio#/#*", b"sio#/#other#", b"dropped") in recorder.messages
    assert len(recorder.messages) == 5


@HYPOTHESIS
@given(cuts=st.lists(st.integers(0, len(STREAM)), max_size=12))
def test_push_parser_handles_any_chunking(impl: ModuleType, cuts: list[int]) -> None:
    recorder = PushRecorder()
    parser = recorder.parser(impl, _router(impl))
    points = [0, *sorted(cuts), len(STREAM)]
    for start, end in zip(points, points[1:], strict=False):
        parser.feed(STREAM[start:end])
    assert recorder.messages == EXPECTED_MESSAGES
    _check_replies(impl, recorder.replies)


def test_push_parser_survives_callback_errors(impl: ModuleType) -> None:
    seen: list[bytes] = []

    def on_message(pattern: bytes | None, channel: bytes, data: bytes) -> None:
        seen.append(data)
        if data == b"boom":
            raise RuntimeError("handler failed")

    errors: list[BaseException] = []
    parser = impl.PushParser(on_message, lambda value: None, errors.append)
    parser.feed(pmessage(b"p", b"c", b"boom") + pmessage(b"p", b"c", b"after"))
    assert seen == [b"boom", b"after"]
    assert parser.handler_errors == 1
    assert isinstance(errors[0], RuntimeError)


def test_push_parser_non_router_filter(impl: ModuleType) -> None:
    class Only:
        def route(self, channel: bytes) -> Any:
            return True if channel == b"yes" else None

    recorder = PushRecorder()
    recorder.parser(impl, Only()).feed(pmessage(b"p", b"no", b"1") + pmessage(b"p", b"yes", b"2"))
    assert recorder.messages == [(b"p", b"yes", b"2")]


@pytest.mark.parametrize(
    "stream",
    [
        b"?what\r\n",
        b"*4\r\n$8\r\npmessage\r\n$x\r\n",
        b"*4\r\n$8\r\npmessage\r\n$-1\r\n",
        b"*4\r\n$8\r\npmessage\r\n+notbulk\r\n",
        b":12a\r\n",
    ],
)
def test_push_parser_rejects_what_is_not_resp(impl: ModuleType, stream: bytes) -> None:
    with pytest.raises(ValueError, match="RESP protocol error"):
        PushRecorder().parser(impl).feed(stream)


@HYPOTHESIS
@given(st.binary(max_size=80))
def test_push_parser_fuzz_never_crashes(impl: ModuleType, data: bytes) -> None:
    recorder = PushRecorder()
    try:
        recorder.parser(impl, _router(impl)).feed(data)
    except ValueError:
        pass


@HYPOTHESIS
@given(st.binary(max_size=80))
def test_push_parser_twins_agree(impl: ModuleType, data: bytes) -> None:
    def run(module: ModuleType) -> tuple[Any, ...]:
        recorder = PushRecorder()
        try:
            recorder.parser(module).feed(data)
            outcome = "ok"
        except ValueError:
            outcome = "error"
        replies = [repr(r) if isinstance(r, BaseException) else r for r in recorder.replies]
        return outcome, recorder.messages, replies

    assert run(impl) == run(_fastpath_py)


# ------------------------------------------- encode_event: JSON written in C
#
# The compiled encode_event writes the JSON text itself for json.dumps and the
# adapter's partial, and hands anything it does not cover back to them.  These
# check it against the twin and python-socketio on data of every kind.

ADAPTER_DUMPS = functools.partial(json.dumps, default=parsers.json_default)


def encode_outcome(call: Any) -> Any:
    """A call's result, or its exception as (type, message).

    A RecursionError's message says where the limit was hit, which differs
    between implementations: only its type is kept.
    """
    try:
        return call()
    except RecursionError:
        return RecursionError, ""
    except Exception as exc:
        return type(exc), str(exc)


def socketio_outcome(dumps: Any, namespace: str, data: Any, ack_id: int | None) -> Any:
    packet_class = socketio.packet.Packet
    if dumps is not json.dumps:
        given_dumps = dumps

        class JsonModule:
            loads = staticmethod(json.loads)
            dumps = staticmethod(given_dumps)

        class Packet(socketio.packet.Packet):  # type: ignore[misc]
            json = JsonModule

        packet_class = Packet

    def encode() -> list[Any]:
        # encode_event writes namespace "" as "/" (python-socketio would add a ",")
        encoded = packet_class(
            socketio.packet.EVENT, namespace=namespace or "/", data=data, id=ack_id
        ).encode()
        return encoded if isinstance(encoded, list) else [encoded]

    return encode_outcome(encode)


json_text = (
    st.text(st.characters(), max_size=12)
    | st.text(st.characters(categories=["Cc", "Cs", "Co"]), max_size=6)
    | st.text(st.characters(max_codepoint=0xFF), max_size=12)
    | st.sampled_from(["", "\\", '"', "\x7f", "\x00\x1f", "\U0001f600", "\ud800\udc00", "é€😀"])
)
exact_leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**200), max_value=2**200)
    | st.sampled_from([2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64, 0, -1])
    | st.floats()
    | st.sampled_from([math.nan, math.inf, -math.inf, -0.0, 0.0, 1e16, 1e-7, 5e-324, 1.7e308])
    | json_text
)
binary_leaves = st.binary(max_size=6) | st.binary(max_size=6).map(bytearray)
other_leaves = (
    st.datetimes()
    | st.sampled_from([memoryview(b"mv"), object(), {1, 2}])
    | st.dictionaries(
        st.integers() | st.floats() | st.booleans() | st.none(),
        st.integers(),
        min_size=1,
        max_size=2,
    )
)


def json_trees(leaves: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        leaves,
        lambda children: (
            st.lists(children, max_size=4)
            | st.lists(children, max_size=3).map(tuple)
            | st.dictionaries(json_text, children, max_size=4)
        ),
        max_leaves=25,
    )


def check_encode_agrees(
    impl: ModuleType, namespace: str, data: Any, dumps: Any, ack_id: int | None
) -> Any:
    got = encode_outcome(lambda: impl.encode_event(namespace, data, dumps, ack_id))
    assert got == encode_outcome(lambda: _fastpath_py.encode_event(namespace, data, dumps, ack_id))
    if data is not None and socketio_comparable(data):
        assert got == socketio_outcome(dumps, namespace, data, ack_id)
    return got


def socketio_comparable(data: Any) -> bool:
    """False where python-socketio encodes differently on purpose.

    It writes no data for None, and finds binary parts in lists and dicts
    only: not in tuples, and not memoryviews.
    """

    def walk(value: Any) -> tuple[bool, bool]:  # (has binary, has tuple/memoryview)
        if isinstance(value, (bytes, bytearray)):
            return True, False
        if isinstance(value, memoryview):
            return True, True
        items = value.values() if isinstance(value, dict) else value
        if not isinstance(value, (list, tuple, dict)):
            return False, False
        found = [walk(item) for item in items]
        return (
            any(binary for binary, _ in found),
            isinstance(value, tuple) or any(odd for _, odd in found),
        )

    if data is None:
        return False
    try:
        binary, odd = walk(data)
    except RecursionError:  # a cycle: python-socketio's scan goes round it too
        return True
    return not (binary and odd)


@given(
    data=json_trees(exact_leaves),
    namespace=st.sampled_from(["/", "", "/chat", "/ü", "x"]),
    ack_id=st.none() | st.integers(min_value=-5, max_value=2**70),
    adapter=st.booleans(),
)
@HYPOTHESIS
def test_encode_json_subset_matches(
    impl: ModuleType, data: Any, namespace: str, ack_id: int | None, adapter: bool
) -> None:
    dumps = ADAPTER_DUMPS if adapter else json.dumps
    got = check_encode_agrees(impl, namespace, ["ev", data], dumps, ack_id)
    assert isinstance(got, list)


@given(
    data=json_trees(exact_leaves | binary_leaves),
    ack_id=st.none() | st.integers(min_value=0, max_value=99),
    adapter=st.booleans(),
)
@HYPOTHESIS
def test_encode_json_with_binary_matches(
    impl: ModuleType, data: Any, ack_id: int | None, adapter: bool
) -> None:
    dumps = ADAPTER_DUMPS if adapter else json.dumps
    check_encode_agrees(impl, "/chat", ["ev", data], dumps, ack_id)
    check_encode_agrees(impl, "/", data, dumps, ack_id)  # not a list at the top


@given(
    data=json_trees(exact_leaves | binary_leaves | other_leaves),
    adapter=st.booleans(),
)
@HYPOTHESIS
def test_encode_json_fallback_matches(impl: ModuleType, data: Any, adapter: bool) -> None:
    """Data json.dumps converts (other key types), calls ``default`` for, or rejects."""
    dumps = ADAPTER_DUMPS if adapter else json.dumps
    check_encode_agrees(impl, "/", ["ev", data], dumps, 3)


@pytest.mark.parametrize("dumps", [json.dumps, ADAPTER_DUMPS], ids=["json.dumps", "adapter"])
@pytest.mark.parametrize(
    "data",
    [
        ["ev", "\x00\x08\t\n\x0b\x0c\r\x1f \x7f\x80\xff", "\u0100\ud7ff\ud800\udfff\ue000\uffff"],
        ["ev", "\U00010000\U0010ffff", "a\U0001f600b", "é" * 3000, "x" * 5000],
        ["ev", {"": 0, "k\n": [], "ü": {}, "\U0001f600": ()}],
        ["ev", 1.0, 1e16, 1e-5, 0.1, -0.0, math.nan, math.inf, -math.inf, 123456789.125],
        ["ev", 9223372036854775807, -9223372036854775808, 2**64, -(2**64), 10**300],
        ["ev", True, False, None, [None, [True, [False]]], (1, (2,), ())],
        ["ev", {"a": b"x", "b": bytearray(b"y"), "c": [b"", (b"z",)]}, b"w"],
        "just a string",
        42,
        b"top-level bytes",
        {"k": "v"},
    ],
)
def test_encode_json_edge_values(impl: ModuleType, data: Any, dumps: Any) -> None:
    for namespace, ack_id in [("/", None), ("/chat", 0), ("/ü", 2**70), ("", -1)]:
        check_encode_agrees(impl, namespace, data, dumps, ack_id)


@pytest.mark.parametrize("dumps", [json.dumps, ADAPTER_DUMPS], ids=["json.dumps", "adapter"])
@pytest.mark.parametrize(
    "value",
    [
        {1: "int key"},
        {1.5: "float key"},
        {True: "bool key"},
        {None: "None key"},
        {("t",): "tuple key"},
        datetime.datetime(2024, 1, 2, 3, 4, 5, 678000),
        memoryview(b"mv"),
        object(),
        10**5000,  # more digits than int's str() allows: ValueError
    ],
    ids=[
        "int-key",
        "float-key",
        "bool-key",
        "none-key",
        "tuple-key",
        "datetime",
        "memoryview",
        "object",
        "huge-int",
    ],
)
def test_encode_json_falls_back(impl: ModuleType, value: Any, dumps: Any) -> None:
    """Outside the subset, the whole payload goes to ``dumps``: same text, same errors."""
    for data in (["ev", value], ["ev", b"bin", {"x": [value]}], ["ev", "é", 1.5, {"k": value}]):
        check_encode_agrees(impl, "/chat", data, dumps, 1)


def test_encode_json_subclasses_fall_back(impl: ModuleType) -> None:
    class Text(str):
        pass

    class Number(int):
        def __repr__(self) -> str:
            return "never used by json"

    class Real(float):
        pass

    class Mapping(dict):  # type: ignore[type-arg]
        pass

    for value in (Text("t"), Number(3), Real(1.5), Mapping(a=1), {Text("k"): 1}):
        for dumps in (json.dumps, ADAPTER_DUMPS):
            check_encode_agrees(impl, "/", ["ev", value], dumps, None)


@pytest.mark.parametrize("dumps", [json.dumps, ADAPTER_DUMPS], ids=["json.dumps", "adapter"])
@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
def test_encode_json_circular(impl: ModuleType, dumps: Any, binary: bool) -> None:
    """Cycles go to the old path: the same error as the twin and python-socketio.

    That is RecursionError, from the binary scan that runs before json (whose
    own check would say "Circular reference detected"); a binary part found
    before the cycle does not stop the scan from going round it.
    """
    looped: list[Any] = ["ev", b"x"] if binary else ["ev"]
    looped.append(looped)
    mapping: dict[str, Any] = {"b": b"y"} if binary else {}
    mapping["self"] = mapping
    for data in (looped, ["ev", mapping], ["ev", [[[mapping]]]]):
        got = check_encode_agrees(impl, "/", data, dumps, None)
        assert isinstance(got, tuple) and got[0] is RecursionError
        # json itself would have said
        with pytest.raises(ValueError, match="Circular reference detected"):
            ADAPTER_DUMPS(data)


def test_encode_json_deep_but_finite(impl: ModuleType) -> None:
    """Nesting beyond the compiled writer's depth limit: json's answer, unchanged."""
    for depth in (150, 198, 199, 200, 230):  # the limit is 200 containers
        data: Any = "leaf"
        for level in range(depth):
            data = [data] if level % 2 else {"k": data}
        for dumps in (json.dumps, ADAPTER_DUMPS):
            got = check_encode_agrees(impl, "/", ["ev", data], dumps, None)
            assert got == ["2" + json.dumps(["ev", data], separators=(",", ":"))]


def test_encode_json_keywords_that_change_the_text(impl: ModuleType) -> None:
    """Partials whose keywords change json's text are not written in C."""
    data = ["ev", {"b": "ü", "a": math.nan}]
    for keywords in (
        {"ensure_ascii": False},
        {"sort_keys": True},
        {"allow_nan": False},
        {"ensure_ascii": 0, "default": str},
        {"skipkeys": True, "check_circular": False, "default": str},
        {"ensure_ascii": True, "allow_nan": 1, "sort_keys": None},
    ):
        dumps = functools.partial(json.dumps, **keywords)
        check_encode_agrees(impl, "/", data, dumps, None)
        check_encode_agrees(impl, "/", data + [{1: b"x"}], dumps, None)


def test_encode_json_sees_replaced_encoder_functions(
    impl: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json.encoder  # noqa: PLC0415

    def loud(text: str) -> str:
        return '"' + text.upper() + '"'

    monkeypatch.setattr(json.encoder, "encode_basestring_ascii", loud)
    assert impl.encode_event("/", ["ev", {"k": "v"}], json.dumps) == ['2["EV",{"K":"V"}]']
    assert impl.encode_event("/", "ev", ADAPTER_DUMPS) == ['2"EV"']
    monkeypatch.undo()
    monkeypatch.setattr(json.encoder, "c_make_encoder", None)  # the pure encoder: same text
    check_encode_agrees(impl, "/", ["ev", {"k": [1.5, None, "é"]}, b"b"], ADAPTER_DUMPS, 2)


def count_json_encodes(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Record each value json's encoder is asked to encode, in the returned list."""
    calls: list[Any] = []
    iterencode = json.JSONEncoder.iterencode

    def counting(self: json.JSONEncoder, o: Any, _one_shot: bool = False) -> Any:
        calls.append(o)
        return iterencode(self, o, _one_shot)

    monkeypatch.setattr(json.JSONEncoder, "iterencode", counting)
    return calls


def test_encode_json_written_without_json_for_the_subset(
    impl: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The compiled module writes the subset itself (json is not asked), the twin does not."""
    calls = count_json_encodes(monkeypatch)
    data = ["ev", {"text": "héllo", "n": [1, 2.5, None, True]}, b"bin", (bytearray(b"2"),)]
    for dumps in (json.dumps, ADAPTER_DUMPS):
        check_encode_agrees(impl, "/chat", data, dumps, 4)
        calls.clear()
        impl.encode_event("/chat", data, dumps, 4)
        assert len(calls) == (0 if impl is _compiled else 1)
        # outside the subset: json again, for the whole payload
        calls.clear()
        impl.encode_event("/chat", [*data, {1: 2}], dumps, 4)
        assert len(calls) == 1


DATES = [
    datetime.datetime(2024, 1, 2, 3, 4, 5, 678901),
    datetime.datetime(1999, 12, 31, 23, 59, 59, tzinfo=zoneinfo.ZoneInfo("Asia/Kolkata")),
    datetime.datetime(2024, 6, 1, tzinfo=datetime.timezone(datetime.timedelta(hours=-3))),
]


def test_encode_json_dates_written_with_the_adapters_hook(
    impl: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the adapter's ``default``, dates are written as Node writes them, without json."""
    calls = count_json_encodes(monkeypatch)
    data = ["message", {"at": DATES[0], "seen": DATES[1:], "text": "hi"}, b"bin"]
    got = check_encode_agrees(impl, "/chat", data, ADAPTER_DUMPS, 7)
    assert got[0] == (
        '51-/chat,7["message",{"at":"2024-01-02T03:04:05.678Z",'
        '"seen":["1999-12-31T18:29:59.000Z","2024-06-01T03:00:00.000Z"],"text":"hi"},'
        '{"_placeholder":true,"num":0}]'
    )
    calls.clear()
    impl.encode_event("/chat", data, ADAPTER_DUMPS, 7)
    assert len(calls) == (0 if impl is _compiled else 1)
    # plain json.dumps has no hook for dates: its TypeError, from json
    assert check_encode_agrees(impl, "/", ["ev", DATES[0]], json.dumps, None)[0] is TypeError


def test_encode_json_calls_a_foreign_default_as_json_does(impl: ModuleType) -> None:
    """A ``default`` of the caller's runs once per object, even when a later value gives up."""
    seen: list[Any] = []

    def default(value: Any) -> Any:
        seen.append(value)
        return str(value)

    dumps = functools.partial(json.dumps, default=default)
    marker = object()
    for data in (["ev", marker], ["ev", marker, {1: "int key gives up"}]):
        seen.clear()
        check_encode_agrees(impl, "/", data, dumps, None)
        # three encodes in check_encode_agrees (impl, twin, python-socketio): once each
        assert seen == [marker] * 3


def test_encode_json_adapters_hook_gives_up_like_json(impl: ModuleType) -> None:
    """Dates next to what the writer leaves to json: the same text, errors and attachments."""
    for data in (
        ["ev", DATES[0], {1: "int key"}],
        ["ev", {"at": DATES[2]}, memoryview(b"mv"), b"x"],
        ["ev", [DATES[1]], object()],
        ["ev", DATES[0], {2.5: DATES[1]}],
    ):
        check_encode_agrees(impl, "/", data, ADAPTER_DUMPS, 0)


# ------------------------------------------------------- broadcast messages


def packb_reference(
    uid: Any, nsp: Any, data: Any, rooms: Any, except_rooms: Any, flags: Any,
    emitter: bool = False,
) -> bytes:
    """What the adapter (or, with ``emitter``, the emitter) published before."""
    if emitter:
        return notepack.packb([
            uid,
            {"type": 2, "data": data, "nsp": nsp},
            {"rooms": list(rooms), "flags": flags, "except": list(dict.fromkeys(except_rooms))},
        ])
    return notepack.packb(broadcast.broadcast_value(uid, nsp, data, rooms, except_rooms, flags))


def result_or_error(call: Any) -> tuple[str, Any]:
    """The value, or the exception's type and message: what must be identical."""
    try:
        return ("ok", call())
    except Exception as exc:
        return (type(exc).__name__, str(exc))


def check_pack(
    impl: ModuleType, data: Any, rooms: Any = (), except_rooms: Any = (), flags: Any = None,
    uid: Any = "aJBfRy", nsp: Any = "/", emitter: bool = False,
) -> bytes:
    """``pack_broadcast`` gives packb's bytes, or its error, in both key orders."""
    flags = {} if flags is None else flags
    rooms, except_rooms = list(rooms), list(except_rooms)
    want = result_or_error(
        lambda: packb_reference(uid, nsp, data, rooms, except_rooms, flags, emitter)
    )
    got = result_or_error(
        lambda: impl.pack_broadcast(uid, nsp, data, rooms, except_rooms, flags, emitter=emitter)
    )
    assert got == want
    if not emitter:
        assert got == result_or_error(
            lambda: impl.pack_broadcast(uid, nsp, data, rooms, except_rooms, flags)
        )
    return got[1] if got[0] == "ok" else b""


class Color(enum.IntEnum):
    RED = 1


class Text(str):
    pass


class Mapping(dict):  # type: ignore[type-arg]
    pass


class Sequence(list):  # type: ignore[type-arg]
    pass


class Pair(tuple):  # type: ignore[type-arg]
    pass


Point = collections.namedtuple("Point", "x y")


class FixedZone(datetime.tzinfo):
    """A tzinfo of the caller's (Python code)."""

    def utcoffset(self, dt: datetime.datetime | None) -> datetime.timedelta:
        return datetime.timedelta(hours=-3, minutes=-30)

    def dst(self, dt: datetime.datetime | None) -> datetime.timedelta:
        return datetime.timedelta(0)


class NoOffset(datetime.tzinfo):
    def utcoffset(self, dt: datetime.datetime | None) -> None:
        return None


UTC = datetime.timezone.utc


def offset(**delta: int) -> datetime.timezone:
    return datetime.timezone(datetime.timedelta(**delta))


EDGE_INTS = [
    0, 1, 127, 128, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**63 - 1, 2**63, 2**64 - 1,
    -1, -31, -32, -33, -127, -128, -129, -32767, -32768, -32769, -(2**31) + 1, -(2**31),
    -(2**31) - 1, -(2**63) + 1, -(2**63),
]
EDGE_FLOATS = [0.0, -0.0, 1.5, -2.25, 1e300, 5e-324, 1e16, math.pi, math.inf, -math.inf, math.nan]
EDGE_DATETIMES = [
    datetime.datetime(2024, 1, 2, 3, 4, 5),
    datetime.datetime(2024, 1, 2, 3, 4, 5, 678000),
    datetime.datetime(2024, 1, 2, 3, 4, 5, 1, tzinfo=UTC),
    datetime.datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=UTC),
    datetime.datetime(1970, 1, 1),
    datetime.datetime(1970, 1, 1, 0, 0, 0, 1),
    datetime.datetime(1969, 12, 31, 23, 59, 59),
    datetime.datetime(1969, 12, 31, 23, 59, 59, 999999),
    datetime.datetime(1900, 3, 1, 12),
    datetime.datetime(1600, 2, 29, 6, 30, 15, 250),
    datetime.datetime(1, 1, 1),
    datetime.datetime(9999, 12, 31, 23, 59, 59, 999999),
    datetime.datetime(2106, 2, 7, 6, 28, 15),  # the last 4-byte timestamp
    datetime.datetime(2106, 2, 7, 6, 28, 16),  # the first 8-byte one without nanoseconds
    datetime.datetime(2514, 5, 30, 1, 53, 3, 999999),  # the last 8-byte one
    datetime.datetime(2514, 5, 30, 1, 53, 4),  # 12 bytes
    datetime.datetime(2024, 6, 1, 12, tzinfo=offset(hours=5, minutes=30)),
    datetime.datetime(2024, 6, 1, tzinfo=offset(hours=-11, seconds=-1)),
    datetime.datetime(1970, 1, 1, 1, tzinfo=offset(hours=2)),
    datetime.datetime(1, 1, 1, 23, tzinfo=offset(hours=23)),
    datetime.datetime(2024, 3, 31, 2, 30, tzinfo=zoneinfo.ZoneInfo("Europe/Paris")),
    datetime.datetime(2024, 10, 27, 2, 30, fold=1, tzinfo=zoneinfo.ZoneInfo("Europe/Paris")),
    datetime.datetime(2024, 6, 1, 12, tzinfo=zoneinfo.ZoneInfo("America/New_York")),
    datetime.datetime(2024, 6, 1, 12, tzinfo=FixedZone()),
]


@pytest.mark.parametrize("value", EDGE_INTS + [2**64, -(2**63) - 1, 10**30, True, False])
def test_pack_broadcast_ints(impl: ModuleType, value: int) -> None:
    check_pack(impl, ["ev", value, -value], rooms=[value] if value else [])
    check_pack(impl, ["ev", {"n": value}], flags={"timeout": value})


@pytest.mark.parametrize("value", EDGE_FLOATS)
def test_pack_broadcast_floats(impl: ModuleType, value: float) -> None:
    packed = check_pack(impl, ["ev", value], rooms=[value], except_rooms=[value])
    assert struct.pack(">Bd", 0xCB, value) in packed


@pytest.mark.parametrize("size", [0, 1, 31, 32, 255, 256, 65535, 65536, 70000])
def test_pack_broadcast_size_boundaries(impl: ModuleType, size: int) -> None:
    check_pack(impl, ["ev", "x" * size, b"b" * size, bytearray(size), memoryview(b"m" * size)])
    check_pack(impl, ["ev", list(range(size)), tuple("t" * size)])
    check_pack(impl, ["ev", {f"k{i}": i for i in range(size)}])
    check_pack(impl, ["ev", {i: None for i in range(size)}])  # non-string keys
    check_pack(impl, ["ev"], rooms=[f"r{i}" for i in range(size)], uid="u" * size)


@pytest.mark.parametrize("size", [10, 11, 16, 17, 85, 86, 127, 128, 21845, 21846])
def test_pack_broadcast_multibyte_text(impl: ModuleType, size: int) -> None:
    # UTF-8 sizes around 32, 256 and 65536 bytes, from 2-, 3- and 4-byte characters
    for char in ("é", "€", "☃", "😀"):
        check_pack(impl, ["ev", char * size, {char * size: char}], nsp="/" + char * size)


@pytest.mark.parametrize(
    "value", EDGE_DATETIMES, ids=[f"dt{i}" for i in range(len(EDGE_DATETIMES))]
)
def test_pack_broadcast_datetimes(impl: ModuleType, value: datetime.datetime) -> None:
    packed = check_pack(impl, ["ev", value, {"at": value}, [value]], flags={"at": value})
    assert packed.count(b"\xff") >= 4  # ext -1 each time


def test_pack_broadcast_types(impl: ModuleType) -> None:
    check_pack(impl, ["ev", None, True, False, "", "ü", b"", 0, 0.0, [], (), {}])
    check_pack(impl, ["ev", {"a": [1, {"b": (2, 3)}], "c": None}], rooms=("r1", 2, 3.5))
    check_pack(impl, ["ev", b"\x00\xff", bytearray(b"ba"), memoryview(b"mv")])
    check_pack(impl, ["ev", memoryview(array.array("i", [1, -2]))])
    check_pack(impl, ["ev", memoryview(b"abcd").cast("B", (2, 2))])
    check_pack(impl, ["upload", {"chunks": [b"\x89PNG" * 16, b"\x00" * 64], "meta": {"t": b"t"}},
                      [1, 2, {"deep": [b"x", bytearray(b"y"), (memoryview(b"z"),)]}]])
    check_pack(impl, ["ev"], uid=None, nsp=1, flags={"volatile": True, "compress": False})
    check_pack(impl, ["ev"], uid=b"raw", nsp=None, flags=None)
    check_pack(impl, "not a list", flags=[1, 2])
    check_pack(impl, ["ev", "\x00\x7f\x80\uffff\U0010ffff"])


def test_pack_broadcast_non_string_keys(impl: ModuleType) -> None:
    keys: list[Any] = [
        None, True, False, 0, 1, -7, 2**63 - 1, -(2**63), 1.5, -0.0, 1e16, 1e-7, 0.1,
        math.nan, math.inf, -math.inf, "s",
    ]
    check_pack(impl, ["ev", {key: i for i, key in enumerate(keys)}])
    for key in keys:
        check_pack(impl, ["ev", {key: [key]}, {"n": {key: {key: b"b"}}}], flags={key: True})
    # keys with no short JSON text go the slow way, with the same result
    check_pack(impl, ["ev", {2**64: 1, 10**40: 2, -(2**70): 3}])
    check_pack(impl, ["ev", {Color.RED: 1, Text("k"): 2}])


def test_pack_broadcast_beyond_the_c_writer(impl: ModuleType) -> None:
    """Values the compiled writer leaves to packb: the same bytes or error."""
    for value in [
        Color.RED, Text("sub"), Mapping(a=1), Sequence([1, b"x"]), Pair((1, 2)), Point(1, 2),
        uuid.UUID(int=1), "lone \ud800 surrogate", {"\udcff": 1}, memoryview(b"abcd")[::2],
        {"k": datetime.date(2024, 1, 1)}, datetime.time(1, 2), {1, 2}, object(), 2**64,
        -(2**63) - 1, {(1, 2): 3}, {b"k": 1}, {frozenset(): 1},
        datetime.datetime(2024, 1, 1, tzinfo=NoOffset()),
        [Color.RED, datetime.datetime(2024, 1, 1)],  # ormsgpack refuses, _pack too
        [uuid.UUID(int=1), {1: 2}],
        [datetime.datetime(2024, 1, 1), Text("x"), Mapping(b=datetime.datetime(2000, 1, 1))],
    ]:
        check_pack(impl, ["ev", value])
        check_pack(impl, ["ev"], flags={"f": value})
    released = memoryview(b"gone")
    released.release()
    check_pack(impl, ["ev", released])


@pytest.mark.parametrize("depth", [1, 250, 254, 255, 256, 300, 509, 510, 511, 600])
def test_pack_broadcast_depth(impl: ModuleType, depth: int) -> None:
    nested: Any = 1
    for _ in range(depth):
        nested = [nested]
    check_pack(impl, ["ev", nested])
    keyed: Any = {"k": {}}
    for _ in range(depth):
        keyed = {1: keyed}
    check_pack(impl, ["ev", keyed])
    check_pack(impl, ["ev"], flags={"f": nested})
    check_pack(impl, ["ev"], uid=nested)


def test_pack_broadcast_cycles(impl: ModuleType) -> None:
    loop: list[Any] = ["ev"]
    loop.append(loop)
    check_pack(impl, loop)
    table: dict[str, Any] = {}
    table["self"] = table
    check_pack(impl, ["ev", table])


def test_pack_broadcast_rooms(impl: ModuleType) -> None:
    for rooms, except_rooms in [
        ([], []),
        (["r"], ["s"]),
        (("a", "b"), ("c",)),
        ([1, 2.5, "x"], ["s", "s", 1, 1.0, True, "t", "s"]),
        ([], ["only"]),
        (["dup", "dup"], [2, 2]),
    ]:
        for emitter in (False, True):
            check_pack(impl, ["ev"], rooms, except_rooms, emitter=emitter)
            assert impl.pack_broadcast(
                "u", "/", ["ev"], iter(rooms), iter(except_rooms), {}, emitter=emitter
            ) == packb_reference("u", "/", ["ev"], rooms, except_rooms, {}, emitter)
    assert impl.pack_broadcast("u", "/", ["e"], (r for r in "ab"), {"x": 1}, {}) == (
        packb_reference("u", "/", ["e"], ["a", "b"], ["x"], {})
    )
    # except is read once and de-duplicated in order, as broadcast_value does
    packed = impl.pack_broadcast("u", "/", ["e"], [], ["s", "t", "s", 1, 1.0, True], {})
    assert notepack.unpackb(packed)[2]["except"] == ["s", "t", 1]


def test_pack_broadcast_bad_rooms(impl: ModuleType) -> None:
    for rooms, except_rooms in [
        ([], [[1]]),
        ([], [{"a": 1}]),
        ([], ["ok", [1]]),
        (None, []),
        (5, []),
        ([], None),
        ([], 7),
        ([[1]], [{}]),
    ]:
        args = ("u", "/", ["e"], rooms, except_rooms, {})
        want = result_or_error(functools.partial(broadcast.broadcast_value, *args))
        assert want[0] == "TypeError"
        assert result_or_error(functools.partial(impl.pack_broadcast, *args)) == want
    # an unhashable room in a list of rooms is fine (rooms are not de-duplicated)
    check_pack(impl, ["e"], rooms=[[1], {"a": 1}])


def test_pack_broadcast_emitter_order(impl: ModuleType) -> None:
    packed = impl.pack_broadcast(
        "emitter", "/", ["ev"], ("r",), ("s",), {"volatile": True}, emitter=True
    )
    assert packed.endswith(
        b"\x83\xa5rooms\x91\xa1r\xa5flags\x81\xa8volatile\xc3\xa6except\x91\xa1s"
    )
    assert impl.pack_broadcast("u", "/", ["ev"], [], [], {}).endswith(
        b"\x83\xa5rooms\x90\xa6except\x90\xa5flags\x80"
    )


def test_pack_broadcast_matches_node_capture(impl: ModuleType) -> None:
    # io.emit("test", 1, "2", Buffer.from([3, 4])) captured from Node 8.3.0
    captured = bytes.fromhex(
        "93a6614a4266527983a47479706502a46461746194a47465737401a132c4020304"
        "a36e7370a12f83a5726f6f6d7390a665786365707490a5666c61677380"
    )
    assert impl.pack_broadcast("aJBfRy", "/", ["test", 1, "2", b"\x03\x04"], [], [], {}) == captured
    message = impl.unpack_broadcast(captured)
    assert message == broadcast.Broadcast("aJBfRy", "/", ["test", 1, "2", b"\x03\x04"], [], [], {})
    # a Date from a Node peer: {"d": Date(2024-01-02T03:04:05.678Z)}
    with_date = bytes.fromhex("93a175") + bytes.fromhex(
        "83a47479706502a46461746192a165" + "81a164d7ffa1a5d60065937d25" + "a36e7370a12f"
    ) + bytes.fromhex("80")
    message = impl.unpack_broadcast(with_date)
    assert message.data == ["e", {"d": datetime.datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)}]


def test_pack_broadcast_does_not_mutate(impl: ModuleType) -> None:
    data = ["ev", {"k": b"x", 1: [datetime.datetime(2020, 1, 1)]}]
    rooms, except_rooms, flags = ["r"], ["s", "s"], {"volatile": True}
    impl.pack_broadcast("u", "/", data, rooms, except_rooms, flags)
    assert data == ["ev", {"k": b"x", 1: [datetime.datetime(2020, 1, 1)]}]
    assert (rooms, except_rooms, flags) == (["r"], ["s", "s"], {"volatile": True})


def test_pack_broadcast_signature(impl: ModuleType) -> None:
    with pytest.raises(TypeError):
        impl.pack_broadcast("u", "/", ["e"], [], [], {}, True)  # emitter is keyword-only
    with pytest.raises(TypeError):
        impl.pack_broadcast("u", "/", ["e"], [], [])


msgpack_keys = (
    st.text(max_size=6) | st.none() | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1) | st.floats()
)
timezones = st.none() | st.just(UTC) | st.builds(
    datetime.timezone,
    st.timedeltas(
        min_value=datetime.timedelta(hours=-23, minutes=59),
        max_value=datetime.timedelta(hours=23, minutes=59),
    ),
)
msgpack_leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.integers()
    | st.floats()
    | st.text(max_size=40)
    | st.binary(max_size=40)
    | st.builds(bytearray, st.binary(max_size=8))
    | st.builds(memoryview, st.binary(max_size=8))
    | st.datetimes(
        min_value=datetime.datetime(1, 1, 2), max_value=datetime.datetime(9999, 12, 30),
        timezones=timezones,
    )
)
msgpack_like = st.recursive(
    msgpack_leaves,
    lambda children: (
        st.lists(children, max_size=5)
        | st.lists(children, max_size=5).map(tuple)
        | st.dictionaries(msgpack_keys, children, max_size=5)
    ),
    max_leaves=25,
)
room_names = st.text(max_size=5) | st.integers(-5, 5) | st.floats(allow_nan=False) | st.booleans()


@given(
    uid=st.text(max_size=8) | st.none(),
    nsp=st.sampled_from(["/", "/chat", "/ü"]),
    args=st.lists(msgpack_like, max_size=4),
    rooms=st.lists(room_names, max_size=4),
    except_rooms=st.lists(room_names, max_size=4),
    flags=st.dictionaries(msgpack_keys, msgpack_like, max_size=3),
    emitter=st.booleans(),
)
@HYPOTHESIS
def test_pack_broadcast_hypothesis(
    impl: ModuleType, uid: Any, nsp: str, args: list[Any], rooms: list[Any],
    except_rooms: list[Any], flags: dict[Any, Any], emitter: bool,
) -> None:
    data = ["ev", *args]
    got = check_pack(impl, data, rooms, except_rooms, flags, uid, nsp, emitter)
    if got:  # it reads back as the message it was (ints beyond 64 bits do not pack)
        assert unpack_outcome(impl.unpack_broadcast, got) == unpack_outcome(reference_unpack, got)


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


def parse_outcome(parse: Any, value: Any) -> tuple[str, Any]:
    try:
        message = parse(value)
    except Exception as exc:
        return (type(exc).__name__, str(exc))
    assert type(message) is broadcast.Broadcast
    # repr, not ==: a NaN in the data is never equal to itself
    return ("ok", (repr(message), type(message.nsp), type(message.flags)))


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


# --------------------------------------------------------- unpack_broadcast


def unpack_outcome(call: Any, data: Any) -> tuple[str, Any]:
    return parse_outcome(call, data)


def reference_unpack(data: Any) -> broadcast.Broadcast:
    return broadcast.decode_broadcast(parsers.MsgpackParser(), data)


def ext(code: int, payload: bytes) -> bytes:
    """A MessagePack ext value (fixext or ext8)."""
    fixed = {1: 0xD4, 2: 0xD5, 4: 0xD6, 8: 0xD7, 16: 0xD8}
    if len(payload) in fixed:
        return bytes([fixed[len(payload)], code & 0xFF]) + payload
    return bytes([0xC7, len(payload), code & 0xFF]) + payload


def with_data_value(raw: bytes) -> bytes:
    """``["u", {"data": ["e", <raw>]}, {}]``."""
    return b"\x93\xa1u\x81\xa4data\x92\xa1e" + raw + b"\x80"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xc1",
        b"\x93",
        b"\x93\xa1u",
        b"\x90",
        b"\x81\x01\x02",
        b"\xa3abc",
        b"\x93\xa1u\x81\xa4data\x91\xa1e\x80trailing",
        b"\x93\xa1u\x81\x01\x02\x80",  # an int map key
        b"\x93\xa2\xff\xfe\x81\xa4data\x91\xa1e\x80",  # invalid UTF-8
        b"\x93\xa1u\x81\xa4data\x91\x01\x80",
        bytearray(b"\x93\xa1u\x81\xa4data\x91\xa1e\xc0"),
        memoryview(b"\x93\xa1u\x81\xa4data\x91\xa1e\xc0"),
        "text",
        None,
    ],
)
def test_unpack_broadcast_malformed(impl: ModuleType, data: Any) -> None:
    want = unpack_outcome(reference_unpack, data)
    assert unpack_outcome(impl.unpack_broadcast, data) == want


@pytest.mark.parametrize(
    "raw",
    [
        ext(-1, struct.pack(">I", 0)),
        ext(-1, struct.pack(">I", 2**32 - 1)),
        ext(-1, struct.pack(">Q", (999_999_999 << 34) | (2**34 - 1))),
        ext(-1, struct.pack(">Q", (1_000_000_000 << 34) | 5)),  # nanoseconds out of range
        ext(-1, struct.pack(">Q", ((2**30 - 1) << 34) | 1)),
        ext(-1, struct.pack(">Iq", 0, -1)),
        ext(-1, struct.pack(">Iq", 999_999_999, -1)),
        ext(-1, struct.pack(">Iq", 123_456_789, -62135596800)),
        ext(-1, struct.pack(">Iq", 0, -62135596801)),  # before year 1
        ext(-1, struct.pack(">Iq", 999_999_000, 253402300799)),
        ext(-1, struct.pack(">Iq", 0, 253402300800)),  # after year 9999
        ext(-1, struct.pack(">Iq", 2**32 - 1, 253402300795)),
        ext(-1, struct.pack(">Iq", 0, 2**63 - 1)),
        ext(-1, struct.pack(">Iq", 0, -(2**63))),
        ext(-1, b"\x00" * 5),
        ext(-1, b""),
        ext(0, b"\x00"),  # notepack 2: undefined
        ext(0, struct.pack(">q", 1_700_000_000_123)),  # notepack 2: Date
        ext(0, struct.pack(">q", -(2**62))),
        ext(0, b"abc"),  # notepack 2: ArrayBuffer
        ext(5, b"xyz"),
    ],
)
def test_unpack_broadcast_extensions(impl: ModuleType, raw: bytes) -> None:
    data = with_data_value(raw)
    want = unpack_outcome(reference_unpack, data)
    assert unpack_outcome(impl.unpack_broadcast, data) == want


@given(
    seconds=st.integers(-62135596800 - 5, 253402300799 + 5) | st.integers(-(2**63), 2**63 - 1),
    nanoseconds=st.integers(0, 999_999_999) | st.integers(0, 2**32 - 1),
    form=st.sampled_from([4, 8, 12]),
)
@HYPOTHESIS
def test_unpack_broadcast_timestamps(
    impl: ModuleType, seconds: int, nanoseconds: int, form: int
) -> None:
    if form == 4:
        payload = struct.pack(">I", seconds % 2**32)
    elif form == 8:
        payload = struct.pack(">Q", ((nanoseconds % 2**30) << 34) | (seconds % 2**34))
    else:
        payload = struct.pack(">Iq", nanoseconds, seconds)
    data = with_data_value(ext(-1, payload))
    want = unpack_outcome(reference_unpack, data)
    assert unpack_outcome(impl.unpack_broadcast, data) == want


@given(
    value=st.datetimes(
        min_value=datetime.datetime(1, 1, 1), max_value=datetime.datetime(9999, 12, 31, 23, 59, 59),
        timezones=timezones,
    )
)
@HYPOTHESIS
def test_broadcast_datetime_round_trip(impl: ModuleType, value: datetime.datetime) -> None:
    packed = impl.pack_broadcast("u", "/", ["ev", value], [], [], {})
    assert packed == packb_reference("u", "/", ["ev", value], [], [], {})
    got = impl.unpack_broadcast(packed).data[1]
    assert got == (value if value.tzinfo else value.replace(tzinfo=UTC))
    assert got.tzinfo is UTC
    assert got == reference_unpack(packed).data[1]


# ------------------------------------------ unpack_broadcast: the envelope
#
# The compiled twin reads a well-formed ``[uid, packet, opts]`` envelope
# itself and decodes every other message the whole way: results and errors
# must be broadcast.decode_broadcast's for any bytes.


def s(text: str, form: str = "") -> bytes:
    """A MessagePack str, in the smallest form or ``form`` (8, 16 or 32)."""
    raw = text.encode("utf-8", "surrogatepass")
    if form == "8":
        return b"\xd9" + struct.pack(">B", len(raw)) + raw
    if form == "16":
        return b"\xda" + struct.pack(">H", len(raw)) + raw
    if form == "32":
        return b"\xdb" + struct.pack(">I", len(raw)) + raw
    return notepack.packb(text)


def container_head(size: int, form: str, fix: int, code16: int) -> bytes:
    """An array (``fix`` 0x90, ``code16`` 0xdc) or map (0x80, 0xde) header of
    ``size`` items: the smallest form unless ``form`` is 16 or 32."""
    if form == "16" or (not form and size > 15):
        return bytes([code16]) + struct.pack(">H", size)
    if form == "32":
        return bytes([code16 + 1]) + struct.pack(">I", size)
    return bytes([fix | size])


def arr(items: list[bytes], form: str = "", count: int | None = None) -> bytes:
    """A MessagePack array of encoded ``items`` (``count`` overrides the header)."""
    size = len(items) if count is None else count
    return container_head(size, form, 0x90, 0xDC) + b"".join(items)


def mapping(pairs: list[tuple[bytes, bytes]], form: str = "", count: int | None = None) -> bytes:
    """A MessagePack map of encoded ``pairs`` (``count`` overrides the header)."""
    size = len(pairs) if count is None else count
    return container_head(size, form, 0x80, 0xDE) + b"".join(key + value for key, value in pairs)


def mp(value: Any) -> bytes:
    return notepack.packb(value)


DATA = mp(["ev", {"a": 1, "b": [True, None, 1.5, b"\x00"]}])
PACKET = [(s("type"), b"\x02"), (s("data"), DATA), (s("nsp"), s("/chat"))]
OPTS = [(s("rooms"), mp(["r1", 2])), (s("except"), mp(["x"])),
        (s("flags"), mp({"volatile": True}))]


def envelope(
    uid: bytes = s("uid1"), packet: list[tuple[bytes, bytes]] | None = None,
    opts: Any = None, form: str = "", packet_form: str = "", opts_form: str = "",
    extra: list[bytes] | None = None,
) -> bytes:
    """``[uid, packet, opts]`` from encoded parts (``opts`` bytes are used as is)."""
    packet_bytes = mapping(PACKET if packet is None else packet, packet_form)
    if opts is None:
        opts = OPTS
    opts_bytes = opts if isinstance(opts, bytes) else mapping(opts, opts_form)
    return arr([uid, packet_bytes, opts_bytes, *(extra or [])], form)


def nested(depth: int) -> bytes:
    """``data`` whose last argument is ``depth`` - 1 arrays deep (``data`` is 1)."""
    inner = b"\x01"
    for _ in range(depth - 1):
        inner = b"\x91" + inner
    return b"\x92\xa2ev" + inner


def with_opts_value(key: str, raw: bytes) -> bytes:
    return envelope(opts=[(s(key), raw)])


def with_packet_value(key: str, raw: bytes) -> bytes:
    return envelope(packet=[(s("data"), DATA), (s(key), raw)])


# messages the envelope reader decodes itself (each must decode)
WELL_FORMED: dict[str, bytes] = {
    "adapter order": envelope(),
    "emitter order": envelope(opts=[OPTS[0], OPTS[2], OPTS[1]]),
    **{
        f"packet order {''.join(k[0] for k in order)}": envelope(
            packet=[dict(zip(("type", "data", "nsp"), PACKET, strict=True))[k] for k in order]
        )
        for order in [("data", "nsp", "type"), ("nsp", "type", "data"), ("type", "nsp", "data"),
                      ("data", "type", "nsp"), ("nsp", "data", "type")]
    },
    "type 5": envelope(packet=[(s("type"), b"\x05"), PACKET[1], PACKET[2]]),
    "no type": envelope(packet=PACKET[1:]),
    "no nsp": envelope(packet=PACKET[:2]),
    "only data": envelope(packet=[PACKET[1]]),
    "nsp nil": envelope(packet=[PACKET[1], (s("nsp"), b"\xc0")]),
    "nsp /": envelope(packet=[PACKET[1], (s("nsp"), s("/"))]),
    "nsp empty": envelope(packet=[PACKET[1], (s("nsp"), s(""))]),
    "nsp non-ascii": envelope(packet=[PACKET[1], (s("nsp"), s("/ü€😀"))]),
    "nsp str8": envelope(packet=[PACKET[1], (s("nsp"), s("/chat", "8"))]),
    "nsp str16": envelope(packet=[PACKET[1], (s("nsp"), s("/chat", "16"))]),
    "nsp str32": envelope(packet=[PACKET[1], (s("nsp"), s("/" * 40, "32"))]),
    "uid empty": envelope(uid=s("")),
    "uid non-ascii": envelope(uid=s("ü€😀")),
    "uid str8": envelope(uid=s("uid1", "8")),
    "uid str16": envelope(uid=s("x" * 300, "16")),
    "uid str32": envelope(uid=s("uid1", "32")),
    "array16": envelope(form="16"),
    "array32": envelope(form="32"),
    "packet map16": envelope(packet_form="16"),
    "packet map32": envelope(packet_form="32"),
    "opts map16": envelope(opts_form="16"),
    "opts map32": envelope(opts_form="32"),
    "key str8": envelope(packet=[(s("data", "8"), DATA), (s("type", "16"), b"\x02")],
                         opts=[(s("rooms", "32"), b"\x90"), (s("flags", "8"), b"\x80")]),
    "opts nil": envelope(opts=b"\xc0"),
    "opts empty": envelope(opts=[]),
    "opts rooms only": envelope(opts=[OPTS[0]]),
    "opts except only": envelope(opts=[OPTS[1]]),
    "opts flags only": envelope(opts=[OPTS[2]]),
    "rooms nil": with_opts_value("rooms", b"\xc0"),
    "except nil": with_opts_value("except", b"\xc0"),
    "flags nil": with_opts_value("flags", b"\xc0"),
    "rooms empty": with_opts_value("rooms", b"\x90"),
    "rooms array16": with_opts_value("rooms", arr([s(f"r{i}") for i in range(20)], "16")),
    "rooms array32": with_opts_value("except", arr([s("a"), b"\x01"], "32")),
    "rooms numbers": with_opts_value("rooms", arr([
        b"\x00", b"\x7f", b"\xe0", b"\xff", b"\xcc\xff", b"\xcd\xff\xff", b"\xce\xff\xff\xff\xff",
        b"\xcf\xff\xff\xff\xff\xff\xff\xff\xff", b"\xd0\x80", b"\xd1\x80\x00",
        b"\xd2\x80\x00\x00\x00", b"\xd3\x80\x00\x00\x00\x00\x00\x00\x00",
        b"\xca\x3f\xc0\x00\x00", b"\xca\x7f\xc0\x00\x00", b"\xcb" + struct.pack(">d", -0.0),
        b"\xcb" + struct.pack(">d", math.inf), b"\xcb\x7f\xf8\x00\x00\x00\x00\x00\x01",
    ])),
    "rooms strings": with_opts_value("except", arr([
        s(""), s("é"), s("x" * 31), s("y" * 32), s("z", "8"), s("w", "16"), s("v", "32"),
    ])),
    "flags socket.io": with_opts_value("flags", mp({
        "volatile": True, "compress": False, "local": True, "timeout": 500, "broadcast": True,
        "binary": False, "expectSingleResponse": True,
    })),
    "flags values": with_opts_value("flags", mapping([
        (s("a"), b"\xc0"), (s("b"), b"\xc3"), (s("c"), b"\xc2"), (s("d"), b"\xd3" + b"\xff" * 8),
        (s("e"), b"\xcb" + struct.pack(">d", 0.1)), (s("f"), s("text")), (s("g"), b"\xca\0\0\0\0"),
        (s("é€"), b"\x01"), (s("vola"), b"\x02"), (s("volatilee"), b"\x03"), (s(""), b"\x04"),
        (s("timeout", "8"), b"\xcd\x01\xf4"),
    ])),
    "flags map16": with_opts_value(
        "flags", mapping([(s(f"k{i}"), b"\x01") for i in range(20)], "16")
    ),
    "flags map32": with_opts_value("flags", mapping([(s("volatile"), b"\xc3")], "32")),
    "data array16": with_packet_value("nsp", s("/")).replace(DATA, arr([s("ev")], "16")),
    "data array32": with_packet_value("nsp", s("/")).replace(DATA, arr([s("ev"), b"\x01"], "32")),
    "data every type": envelope(packet=[(s("data"), arr([
        s("ev"), b"\xc0", b"\xc2", b"\xc3", b"\x05", b"\xf0", b"\xcc\x80", b"\xcd\x01\x00",
        b"\xce\x00\x01\x00\x00", b"\xcf" + b"\x01" * 8, b"\xd0\x80", b"\xd1\x80\x00",
        b"\xd2\x80\x00\x00\x00", b"\xd3" + b"\x80" * 8, b"\xca\x3f\x80\x00\x00",
        b"\xcb" + struct.pack(">d", 2.5), s("x" * 40), s("y", "16"), s("z", "32"),
        b"\xc4\x02ab", b"\xc5\x00\x01c", b"\xc6\x00\x00\x00\x01d", arr([b"\x01"], "16"),
        arr([], "32"), mapping([(s("k"), b"\x01")], "16"), mapping([], "32"),
        ext(-1, struct.pack(">I", 1)), ext(-1, struct.pack(">Q", 5 << 34 | 1)),
        ext(-1, struct.pack(">Iq", 5, -1)), ext(0, b"\x00"), ext(0, struct.pack(">q", 1)),
        ext(0, b"abc"), ext(7, b"x"), ext(7, b"xy"), ext(7, b"x" * 16), ext(7, b""),
        b"\xc8\x00\x01\x07z", b"\xc9\x00\x00\x00\x01\x07z",
        # a repeated key: ormsgpack keeps the last value
        mapping([(s("k"), b"\x01"), (s("k"), b"\x02"), (s("j"), b"\x03")]),
    ], "16"))]),
    "data 64 deep": envelope(packet=[(s("data"), nested(64))]),
    "data big": envelope(packet=[(s("data"), mp(["big", "x" * 70000, b"\x01" * 600,
                                                  datetime.datetime(2024, 1, 2, tzinfo=UTC)]))]),
    # the length forms' boundaries: fixstr / str8 / str16, bin8 / bin16
    **{f"data str of {n}": envelope(packet=[(s("data"), mp(["e", "x" * n]))])
       for n in (31, 32, 255, 256, 65535, 65536)},
    **{f"data bin of {n}": envelope(packet=[(s("data"), mp(["e", b"x" * n]))])
       for n in (255, 256, 65535, 65536)},
}

# what Node's notepack.io 3 writes for messages of the adapter and the
# emitter (written with tests/node/node_modules/notepack.io)
NODE_MESSAGES = [
    # io.to("room1").emit("r", {a: 1})
    "93a6614a4266527983a47479706502a46461746192a17281a16101a36e7370a12f83a5726f6f6d7391a5726f6f6d"
    "31a665786365707490a5666c61677380",
    # io.to(["room1", "room2"]).except("room3").emit("r")
    "93a6614a4266527983a47479706502a46461746191a172a36e7370a12f83a5726f6f6d7392a5726f6f6d31a572"
    "6f6f6d32a665786365707491a5726f6f6d33a5666c61677380",
    # io.volatile.compress(false).emit("v")
    "93a6614a4266527983a47479706502a46461746191a176a36e7370a12f83a5726f6f6d7390a665786365707490"
    "a5666c61677382a8766f6c6174696c65c3a8636f6d7072657373c2",
    # socket.broadcast.emit("c") on /custom
    "93a6497a674b794883a47479706502a46461746191a163a36e7370a72f637573746f6d83a5726f6f6d7390a665"
    "786365707491b4624c466251492d39476d5f6a3831756c41414141a5666c61677380",
    # the emitter's key order: rooms, flags, except
    "93a7656d697474657283a47479706502a46461746195a165cb3ff8000000000000fdc0c3a36e7370a12f83a572"
    "6f6f6d7391a161a5666c61677381a8766f6c6174696c65c3a665786365707491a162",
    # io.timeout(500).emit("ack", "x") (and expectSingleResponse)
    "93a6614a4266527983a47479706502a46461746192a361636ba178a36e7370a12f83a5726f6f6d7390a6657863"
    "65707490a5666c61677382a774696d656f7574cd01f4b465787065637453696e676c65526573706f6e7365c3",
    # Dates
    "93a6614a4266527983a47479706502a46461746193a164d7ffa1a5d60065937d2581a47768656ed6ff00000000"
    "a36e7370a12f83a5726f6f6d7390a665786365707490a5666c61677380",
    # type 5, a 300-byte Buffer, number rooms and 17 except rooms (array16)
    "93a6614a4266527983a47479706505a46461746193a362696e81a162c5012c" + "07" * 300
    + "92c40101d92873737373737373737373737373737373737373737373737373737373737373737373737373737373"
    "a36e7370a32fc3bc83a5726f6f6d739501cb4004000000000000d2fffeee90cf0000000100000000d928c3a9c3"
    "a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9a6657863657074dc"
    "0011a27330a27331a27332a27333a27334a27335a27336a27337a27338a27339a3733130a3733131a3733132a3"
    "733133a3733134a3733135a3733136a5666c61677380",
    # io.emit("test", 1, "2", Buffer.from([3, 4])) captured from Node 8.3.0
    "93a6614a4266527983a47479706502a46461746194a47465737401a132c4020304a36e7370a12f83a5726f6f6d"
    "7390a665786365707490a5666c61677380",
]
for _number, _hex in enumerate(NODE_MESSAGES):
    WELL_FORMED[f"node {_number}"] = bytes.fromhex(_hex)

DATE_DATA = mp(["d", datetime.datetime(2024, 1, 2, tzinfo=UTC)])

# messages that are decoded the whole way: errors, and shapes the reader leaves
FALLBACK: dict[str, bytes] = {
    "two items": arr([s("u"), mapping(PACKET)]),
    "four items": envelope(extra=[b"\x01"]),
    "four items array16": envelope(form="16", extra=[s("x")]),
    "top map": mapping([(s("u"), mapping(PACKET))]),
    "top nil": b"\xc0",
    "top ext": ext(1, b"x"),
    "uid nil": envelope(uid=b"\xc0"),
    "uid int": envelope(uid=b"\x07"),
    "uid uint64": envelope(uid=b"\xcf" + b"\xff" * 8),
    "uid float": envelope(uid=b"\xcb" + struct.pack(">d", 1.5)),
    "uid bin": envelope(uid=b"\xc4\x01u"),
    "uid ext": envelope(uid=ext(1, b"u")),
    "uid date": envelope(uid=ext(-1, struct.pack(">I", 1))),
    "uid array": envelope(uid=b"\x91\xa1u"),
    "uid invalid utf-8": envelope(uid=b"\xa2\xff\xfe"),
    "uid surrogate": envelope(uid=b"\xa3\xed\xa0\x80"),
    "uid never-used byte": envelope(uid=b"\xc1"),
    "packet array": arr([s("u"), mp(["ev"]), b"\x80"]),
    "packet nil": arr([s("u"), b"\xc0", b"\x80"]),
    "packet str": arr([s("u"), s("p"), b"\x80"]),
    "packet empty": envelope(packet=[]),
    "packet unknown key": envelope(packet=[*PACKET[:2], (s("id"), b"\x01")]),
    "packet four keys": envelope(packet=[*PACKET, (s("id"), b"\x01")]),
    "packet key int": envelope(packet=[PACKET[1], (b"\x01", b"\x02")]),
    "packet key bin": envelope(packet=[PACKET[1], (b"\xc4\x03nsp", s("/"))]),
    "packet key nil": envelope(packet=[PACKET[1], (b"\xc0", s("/"))]),
    "packet key prefix": envelope(packet=[PACKET[1], (s("ns"), s("/"))]),
    "packet key longer": envelope(packet=[PACKET[1], (s("nspx"), s("/"))]),
    "packet key invalid utf-8": envelope(packet=[PACKET[1], (b"\xa2\xff\xfe", s("/"))]),
    "duplicate type": envelope(packet=[PACKET[0], PACKET[1], PACKET[0]]),
    "duplicate type, other": envelope(packet=[PACKET[0], PACKET[1], (s("type"), b"\x03")]),
    "duplicate data": envelope(packet=[PACKET[1], (s("data"), mp(["other"]))]),
    "duplicate data, bad": envelope(packet=[(s("data"), mp([1])), PACKET[1]]),
    "duplicate nsp": envelope(packet=[PACKET[1], PACKET[2], (s("nsp"), s("/x"))]),
    "duplicate nsp, nil": envelope(packet=[PACKET[1], (s("nsp"), b"\xc0"), (s("nsp"), b"\xc0")]),
    **{f"type {raw.hex()}": envelope(packet=[(s("type"), raw), PACKET[1]]) for raw in [
        b"\x00", b"\x03", b"\x06", b"\xcc\x02", b"\xd0\x05", b"\xcb" + struct.pack(">d", 2.0),
        b"\xca\x40\x00\x00\x00", b"\xc3", b"\xc0", s("2"), b"\x91\x02", b"\xff",
    ]},
    "type truncated": envelope(packet=[PACKET[1], (s("type"), b"")])[:-1],
    "no data": envelope(packet=[PACKET[0], PACKET[2]]),
    **{f"data {raw.hex()}": envelope(packet=[(s("data"), raw)]) for raw in [
        b"\x90", b"\xdc\x00\x00", b"\xdd\x00\x00\x00\x00", b"\x91\x01", b"\x91\xc0",
        b"\x91\xc4\x01e", b"\x91\x91\xa1e", s("ev"), b"\x81\xa1e\x01", b"\xc0", b"\x01",
        b"\x92\xa1e\x81\x01\x02", b"\x92\xa1e\x81\xc4\x01k\x02", b"\x92\xa1e\x81\xc0\x02",
        b"\x92\xa2\xff\xfe\x01", b"\x92\xa1e\xa2\xff\xfe", b"\x92\xa1e\xc1",
        b"\x92\xa1e" + ext(-1, b"\x00" * 5), b"\x92\xa1e" + ext(-1, struct.pack(">Iq", 0, 2**62)),
        b"\x92\xa1e" + ext(-1, b""), b"\x92\xa1e\x81\xa2\xff\xfe\x01",
        b"\x92\xa1e\xdf\xff\xff\xff\xff", b"\x92\xa1e\xdd\xff\xff\xff\xff",
        b"\x92\xa1e\xdb\xff\xff\xff\xff", b"\x92\xa1e\xc6\xff\xff\xff\xff",
        b"\x92\xa1e\xc9\xff\xff\xff\xff\x01",
    ]},
    "data 65 deep": envelope(packet=[(s("data"), nested(65))]),
    "data 300 deep": envelope(packet=[(s("data"), nested(300))]),
    "data 2000 deep": envelope(packet=[(s("data"), nested(2000))]),
    **{f"nsp {raw.hex()}": envelope(packet=[PACKET[1], (s("nsp"), raw)]) for raw in [
        b"\x01", b"\xc3", b"\xc4\x01/", b"\x91\xa1/", b"\x80", b"\xa2\xff\xfe", b"\xc1",
        ext(1, b"/"), b"\xcb" + struct.pack(">d", 1.0),
    ]},
    **{f"opts {raw.hex()}": envelope(opts=raw) for raw in [
        b"\x90", b"\x91\x80", b"\x01", s("opts"), b"\xc3", b"\xc4\x00", ext(1, b"o"), b"\xc1",
    ]},
    "opts unknown key": envelope(opts=[*OPTS, (s("local"), b"\xc3")]),
    "opts other key": envelope(opts=[(s("room"), b"\x90")]),
    "opts key int": envelope(opts=[(b"\x01", b"\x90")]),
    "opts key nil": envelope(opts=[(b"\xc0", b"\x90")]),
    "duplicate rooms": envelope(opts=[OPTS[0], (s("rooms"), mp(["z"]))]),
    "duplicate except": envelope(opts=[OPTS[1], (s("except"), b"\xc0")]),
    "duplicate flags": envelope(opts=[OPTS[2], (s("flags"), mp({"a": 1}))]),
    **{f"rooms {raw.hex()}": with_opts_value("rooms", raw) for raw in [
        b"\x91\xc3", b"\x91\xc2", b"\x91\xc0", b"\x91\xc4\x01r", b"\x91\x90", b"\x91\x80",
        b"\x92\xa1r" + ext(1, b"r"), b"\x91" + ext(-1, struct.pack(">I", 1)), b"\x91\xc1",
        b"\x91\xa2\xff\xfe", s("r"), b"\x81\xa1r\x01", b"\x01", b"\xc3", b"\xc4\x00",
        b"\xdd\xff\xff\xff\xff", b"\x92\xa1r",
    ]},
    **{f"except {raw.hex()}": with_opts_value("except", raw) for raw in [
        b"\x91\xc3", b"\x91\xc0", b"\x91\x91\xa1r", s("r"), b"\x80",
    ]},
    **{f"flags {raw.hex()}": with_opts_value("flags", raw) for raw in [
        b"\x90", b"\x91\x01", s("f"), b"\x01", b"\xc3", b"\xc4\x00",
        b"\x81\xa1a\x90", b"\x81\xa1a\x80", b"\x81\xa1a\xc4\x01x", b"\x81\xa1a" + ext(1, b"x"),
        b"\x81\xa1a" + ext(-1, struct.pack(">I", 1)), b"\x81\xa1a\xc1", b"\x81\xa1a\xa2\xff\xfe",
        b"\x81\x01\xc3", b"\x81\xc0\xc3", b"\x81\xc4\x01a\xc3", b"\x81\xa2\xff\xfe\xc3",
        b"\x82\xa1a\x01\xa1a\x02", b"\x82\xa8volatile\xc3\xa8volatile\xc2",
        b"\x83\xa1a\x01\xa1b\x02\xa1a\x03", b"\xdf\xff\xff\xff\xff", b"\x81\xa1a",
    ]},
    "trailing byte": envelope() + b"\x00",
    "trailing bytes": envelope() + b"trailing",
    "trailing nil": envelope(opts=b"\xc0") + b"\xc0",
    "never-used byte": b"\xc1",
    "huge top array": b"\xdd\xff\xff\xff\xff" + envelope()[1:],
    "huge packet map": arr([s("u"), b"\xdf\xff\xff\xff\xff" + mapping(PACKET)[1:], b"\x80"]),
    "huge uid": arr([b"\xdb\xff\xff\xff\xff", b"\x80", b"\x80"]),
    "bytearray": bytearray(envelope()),
    "memoryview": memoryview(envelope()),
}


def check_unpack(impl: ModuleType, data: Any) -> tuple[str, Any]:
    want = unpack_outcome(reference_unpack, data)
    assert want[0] in ("ok", "MalformedMessage")
    assert unpack_outcome(impl.unpack_broadcast, data) == want
    return want


@pytest.mark.parametrize("name", list(WELL_FORMED))
def test_unpack_broadcast_well_formed(impl: ModuleType, name: str) -> None:
    assert check_unpack(impl, WELL_FORMED[name])[0] == "ok"


@pytest.mark.parametrize("name", list(FALLBACK))
def test_unpack_broadcast_other_shapes(impl: ModuleType, name: str) -> None:
    check_unpack(impl, FALLBACK[name])


def test_unpack_broadcast_node_messages(impl: ModuleType) -> None:
    message = impl.unpack_broadcast(bytes.fromhex(NODE_MESSAGES[4]))
    assert message == broadcast.Broadcast(
        "emitter", "/", ["e", 1.5, -3, None, True], ["a"], ["b"], {"volatile": True}
    )
    message = impl.unpack_broadcast(bytes.fromhex(NODE_MESSAGES[7]))
    assert message.uid == "aJBfRy" and message.nsp == "/ü"
    assert message.data == ["bin", {"b": b"\x07" * 300}, [b"\x01", "s" * 40]]
    assert message.rooms == [1, 2.5, -70000, 4294967296, "é" * 20]
    assert message.except_rooms == [f"s{i}" for i in range(17)]
    assert message.flags == {}
    message = impl.unpack_broadcast(bytes.fromhex(NODE_MESSAGES[6]))
    assert message.data == [
        "d", datetime.datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=UTC),
        {"when": datetime.datetime(1970, 1, 1, tzinfo=UTC)},
    ]


def test_unpack_broadcast_fresh_containers(impl: ModuleType) -> None:
    data = envelope(opts=b"\xc0")
    first, second = impl.unpack_broadcast(data), impl.unpack_broadcast(data)
    assert first == second == broadcast.Broadcast("uid1", "/chat", ["ev", {"a": 1, "b": [
        True, None, 1.5, b"\x00"]}], [], [], {})
    for name in ("data", "rooms", "except_rooms", "flags"):
        assert getattr(first, name) is not getattr(second, name)
    assert type(first.rooms) is list and type(first.flags) is dict


def test_unpack_broadcast_uid_and_nsp_in_turn(impl: ModuleType) -> None:
    """Messages from several servers and namespaces, each read as itself."""
    uids = ["aJBfRy", "aJBfRz", "bJBfRy", "", "ü", "aJBfRy", "aJBfR", "aJBfRyy"]
    nsps = ["/", "/chat", "/chaT", "/", "/ü", "/chat", "/cha", "", "/"]
    for uid in uids:
        for nsp in nsps:
            data = envelope(uid=s(uid), packet=[PACKET[1], (s("nsp"), s(nsp))])
            message = impl.unpack_broadcast(data)
            assert (message.uid, message.nsp) == (uid, nsp)
            assert type(message.uid) is str and type(message.nsp) is str
            assert unpack_outcome(impl.unpack_broadcast, data) == unpack_outcome(
                reference_unpack, data
            )


def test_unpack_broadcast_reads_the_envelope_itself(impl: ModuleType) -> None:
    """The compiled twin reuses the short strings of the envelope: proof that
    it read the envelope itself (ormsgpack makes new strings every time).
    The pure twin decodes the whole message: equal values, same types."""
    for name, data in WELL_FORMED.items():
        first, second = impl.unpack_broadcast(data), impl.unpack_broadcast(data)
        short = [part for part in ("uid", "nsp") if len(getattr(first, part).encode()) <= 32]
        assert short, name
        for part in short:
            a, b = getattr(first, part), getattr(second, part)
            assert a == b and type(a) is type(b) is str, (name, part)
            if impl is not _fastpath_py:
                assert a is b, (name, part)


TRUNCATED = ["adapter order", "emitter order", "rooms numbers", "flags values",
             "data every type", "node 7", "node 6", "packet map32", "uid str16"]


@pytest.mark.parametrize("name", TRUNCATED)
def test_unpack_broadcast_truncated(impl: ModuleType, name: str) -> None:
    data = WELL_FORMED[name]
    for end in range(len(data) + 1):
        check_unpack(impl, data[:end])
        check_unpack(impl, data[:end] + b"\xc0")


# 32-bit lengths and counts from 2**31 on: negative in a 32-bit Py_ssize_t
HUGE_SIZES = [0x80000000, 0xFFFFFF9C, 0xFFFFFFFA, 0xFFFFFFFB, 0xFFFFFFFF]


@pytest.mark.parametrize("size", HUGE_SIZES, ids=hex)
def test_unpack_broadcast_huge_sizes(impl: ModuleType, size: int) -> None:
    """A 32-bit size the message cannot hold, anywhere: never read backwards
    (on a 32-bit build such a size was a negative length in ``data``)."""
    big = struct.pack(">I", size)
    tail = b"\x00" * 16
    event = b"\xa2ev"
    heads = [
        b"\xc6" + big,  # bin32
        b"\xdb" + big,  # str32
        b"\xc9" + big + b"\x05",  # ext32
        b"\xdd" + big,  # array32
        b"\xdf" + big,  # map32
    ]
    for head in heads:
        for data in (b"\x92" + event + head + tail, b"\x93" + event + head + b"\xc0\xc0"):
            check_unpack(impl, b"\x93\xa1u\x82\xa4type\x02\xa4data" + data + b"\xc0")
            check_unpack(impl, b"\x93\xa1u\x81\xa4data" + data + b"\xc0" + tail)
    # and in the envelope: the array, uid, packet, a key, rooms, flags
    packet = b"\x81\xa4data\x91" + event
    for message in (
        b"\xdd" + big + b"\xa1u" + packet + b"\xc0",
        b"\x93\xdb" + big + b"u" + packet + b"\xc0",
        b"\x93\xa1u\xdf" + big + b"\xa4data\x91" + event + b"\xc0",
        b"\x93\xa1u\x81\xdb" + big + b"data\x91" + event + b"\xc0",
        b"\x93\xa1u" + packet + b"\x81\xa5rooms\xdd" + big + b"\xa1r",
        b"\x93\xa1u" + packet + b"\x81\xa5rooms\x91\xdb" + big + b"r",
        b"\x93\xa1u" + packet + b"\x81\xa5flags\xdf" + big + b"\xa1k\xc3",
        b"\x93\xa1u" + packet + b"\x81\xa5flags\x81\xa1k\xdb" + big + b"v",
    ):
        assert check_unpack(impl, message)[0] == "MalformedMessage"
        assert check_unpack(impl, message + tail)[0] == "MalformedMessage"


def generated_broadcast(draw: st.DrawFn) -> bytes:
    """A broadcast as a Node or Python peer might write one, in any key order;
    now and then a part is left out, or of another type."""

    def odd() -> bool:
        return draw(st.integers(0, 15)) == 7

    scalars = (
        st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats()
        | st.text(max_size=12)
    )
    rooms = st.lists(
        st.text(max_size=8) | st.integers(-(2**63), 2**64 - 1) | st.floats(), max_size=20
    )
    uid = draw(scalars) if odd() else draw(st.text(max_size=40))
    packet: dict[str, Any] = {}
    for key in draw(st.permutations(["type", "data", "nsp"])):
        if key == "type":
            value = draw(st.sampled_from([2.0, 3, True, None, "2"] if odd() else [2, 5]))
        elif key == "data":
            value = draw(msgpack_like if odd() else
                         st.lists(msgpack_like, max_size=4).map(lambda args: ["ev", *args]))
        else:
            value = draw(
                st.sampled_from([1, b"/", []] if odd() else ["/", "/chat", "/ü", "", None])
            )
        if not odd():
            packet[key] = value
    opts: dict[str, Any] = {}
    for key in draw(st.permutations(["rooms", "except", "flags", "other"])):
        if key == "flags":
            value = draw(
                st.none() | st.dictionaries(msgpack_keys, msgpack_like, max_size=3) if odd()
                else st.dictionaries(st.text(max_size=10), scalars, max_size=4)
            )
        elif key == "other":
            if not odd():
                continue
            value = draw(msgpack_like)
        else:
            value = draw(st.none() | st.lists(room_names) | msgpack_like if odd() else rooms)
        if not odd():
            opts[key] = value
    whole: list[Any] = [uid, packet, None if odd() else opts]
    if odd():
        whole.extend(draw(st.lists(msgpack_like, max_size=2)))
    return notepack.packb(packable(whole))


def packable(value: Any) -> Any:
    """``value`` with the ints MessagePack cannot hold brought within 64 bits."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value if -(2**63) <= value < 2**64 else value % 2**64
    if isinstance(value, (list, tuple)):
        return [packable(item) for item in value]
    if isinstance(value, dict):
        return {key: packable(item) for key, item in value.items()}
    return value


generated_broadcasts = st.composite(generated_broadcast)()


@given(data=generated_broadcasts)
@HYPOTHESIS
def test_unpack_broadcast_generated(impl: ModuleType, data: bytes) -> None:
    check_unpack(impl, data)


@given(
    data=generated_broadcasts | st.sampled_from(list(WELL_FORMED.values())),
    edits=st.lists(
        st.tuples(st.sampled_from(["set", "insert", "delete", "cut"]), st.integers(0, 2**16),
                  st.integers(0, 255)),
        min_size=1, max_size=4,
    ),
)
@HYPOTHESIS
def test_unpack_broadcast_mutated(
    impl: ModuleType, data: bytes, edits: list[tuple[str, int, int]]
) -> None:
    mutated = bytearray(data)
    for action, where, byte in edits:
        at = where % (len(mutated) + 1)
        if action == "set" and at < len(mutated):
            mutated[at] = byte
        elif action == "insert":
            mutated.insert(at, byte)
        elif action == "delete" and at < len(mutated):
            del mutated[at]
        elif action == "cut":
            del mutated[at:]
    check_unpack(impl, bytes(mutated))


def any_form_value(draw: st.DrawFn, depth: int = 0) -> bytes:
    """One MessagePack value in any of the wire forms a peer may write: wider
    size and integer forms than needed, float32, every ext form (timestamps
    and others), maps with repeated or non-``str`` keys now and then.
    ``notepack.packb`` only writes the smallest forms."""
    kind = draw(st.sampled_from(
        ["nil", "bool", "int", "float", "str", "bin", "ext"]
        + (["array", "map"] * 2 if depth < 4 else [])
    ))
    if kind == "nil":
        return b"\xc0"
    if kind == "bool":
        return draw(st.sampled_from([b"\xc2", b"\xc3"]))
    if kind == "int":
        fmt, code = draw(st.sampled_from([
            (">B", 0xCC), (">H", 0xCD), (">I", 0xCE), (">Q", 0xCF),
            (">b", 0xD0), (">h", 0xD1), (">i", 0xD2), (">q", 0xD3), ("fix", 0),
        ]))
        if fmt == "fix":
            return struct.pack(">b", draw(st.integers(-32, 127)))
        size = struct.calcsize(fmt)
        low, high = (0, 2 ** (8 * size) - 1) if fmt[1].isupper() else (
            -(2 ** (8 * size - 1)), 2 ** (8 * size - 1) - 1)
        return bytes([code]) + struct.pack(fmt, draw(st.integers(low, high)))
    if kind == "float":
        if draw(st.booleans()):
            return b"\xca" + struct.pack(">f", draw(st.floats(width=32)))
        return b"\xcb" + struct.pack(">d", draw(st.floats()))
    if kind == "str":
        text = draw(st.text(max_size=40))
        return s(text, draw(st.sampled_from(["", "8", "16", "32"])))
    if kind == "bin":
        raw = draw(st.binary(max_size=40))
        fmt, code = draw(st.sampled_from([(">B", 0xC4), (">H", 0xC5), (">I", 0xC6)]))
        return bytes([code]) + struct.pack(fmt, len(raw)) + raw
    if kind == "ext":
        code = draw(st.sampled_from([-1, -1, -1, 0, 5, -128]))
        if code == -1 and draw(st.integers(0, 3)):
            body = draw(st.sampled_from([
                struct.pack(">I", draw(st.integers(0, 2**32 - 1))),
                struct.pack(">Q", draw(st.integers(0, 999_999_999)) << 34
                            | draw(st.integers(0, 2**34 - 1))),
                struct.pack(">Iq", draw(st.integers(0, 999_999_999)),
                            draw(st.integers(-62135596800 - 5, 253402300800 + 5))),
            ]))
        else:
            body = draw(st.binary(max_size=20))
        form = draw(st.sampled_from(["smallest", "8", "16", "32"]))
        if form == "smallest":
            return ext(code, body)
        fmt, head = {"8": (">B", 0xC7), "16": (">H", 0xC8), "32": (">I", 0xC9)}[form]
        return bytes([head]) + struct.pack(fmt, len(body)) + struct.pack(">b", code) + body
    count = draw(st.integers(0, 5))
    form = draw(st.sampled_from(["", "16", "32"]))
    if kind == "array":
        return arr([any_form_value(draw, depth + 1) for _ in range(count)], form)
    keys = [
        s(draw(st.sampled_from(["a", "b", "ü"]) | st.text(max_size=4)))
        if draw(st.integers(0, 9)) else any_form_value(draw, 4)
        for _ in range(count)
    ]
    return mapping([(key, any_form_value(draw, depth + 1)) for key in keys], form)


@given(args=st.lists(st.composite(any_form_value)(), max_size=6))
@HYPOTHESIS
def test_unpack_broadcast_data_in_any_form(impl: ModuleType, args: list[bytes]) -> None:
    """``data`` as any peer may write it decodes as ormsgpack decodes it."""
    check_unpack(impl, envelope(packet=[(s("data"), arr([s("ev"), *args]))]))

