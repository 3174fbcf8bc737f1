"""RoomIndex: rooms, reverse indexes and recipient selection."""

from __future__ import annotations

import math
import sys
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fastpath.helpers import HYPOTHESIS, assert_select_eio, check_consistent, make_index

# ---------------------------------------------------------------- RoomIndex


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


def test_no_nan_rooms_from_channels(impl: ModuleType) -> None:
    index = make_index(impl, {"a": [math.inf]})
    assert index.has_channel_room("inf") is False
    assert index.has_channel_room("Infinity") is False
