"""RoomIndex against a naive model, in stateful and long random runs."""

from __future__ import annotations

import random
from types import ModuleType
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)

from socketio_redis_adapter import _fastpath_py
from tests.fastpath.helpers import assert_select_eio, check_consistent

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
