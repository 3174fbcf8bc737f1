"""pack_broadcast: the MessagePack bytes of a broadcast."""

from __future__ import annotations

import array
import collections
import datetime
import functools
import math
import struct
import uuid
import zoneinfo
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from socketio_redis_adapter.protocol import broadcast, notepack
from tests.fastpath.helpers import (
    HYPOTHESIS,
    UTC,
    Color,
    Mapping,
    Pair,
    Sequence,
    Text,
    msgpack_keys,
    msgpack_like,
    packb_reference,
    reference_unpack,
    room_names,
    unpack_outcome,
)


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
