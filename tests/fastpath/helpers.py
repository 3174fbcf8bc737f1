"""What several fast-path test modules share: settings, builders, fakes, strategies."""

from __future__ import annotations

import asyncio
import datetime
import enum
import struct
from types import ModuleType
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from socketio_redis_adapter.protocol import broadcast, notepack, parsers

# a fixture that only hands out a module may be shared by hypothesis examples
HYPOTHESIS = settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)


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


class CountingQueue(asyncio.Queue):  # type: ignore[type-arg]
    """A queue subclass: ``deliver`` must call its own ``put_nowait``."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[Any] = []

    def put_nowait(self, item: Any) -> None:
        self.calls.append(item)
        super().put_nowait(item)


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


UTC = datetime.timezone.utc


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


def parse_outcome(parse: Any, value: Any) -> tuple[str, Any]:
    try:
        message = parse(value)
    except Exception as exc:
        return (type(exc).__name__, str(exc))
    assert type(message) is broadcast.Broadcast
    # repr, not ==: a NaN in the data is never equal to itself
    return ("ok", (repr(message), type(message.nsp), type(message.flags)))


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


# ------------------------------------------ unpack_broadcast: the envelope


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
