"""Micro-benchmarks of the fast path, compiled (``c``) against pure Python (``py``).

Run from the repository root::

    pytest benchmarks
    pytest benchmarks --benchmark-group-by=group --benchmark-columns=mean,ops

Each benchmark group holds the two implementations of one operation, so the
``c``/``py`` ratio is read off the group's table.
"""

from __future__ import annotations

import importlib
import json
from types import ModuleType
from typing import Any

import pytest

from socketio_redis_adapter import _fastpath_py

try:
    _compiled: ModuleType | None = importlib.import_module("socketio_redis_adapter._fastpath")
except ImportError:  # benchmarks compare what is there
    _compiled = None

IMPLS = [pytest.param(_fastpath_py, id="py")]
if _compiled is not None:
    IMPLS.append(pytest.param(_compiled, id="c"))

SIZES = [10, 1000, 100_000]


@pytest.fixture(params=IMPLS)
def impl(request: pytest.FixtureRequest) -> ModuleType:
    return request.param


_indexes: dict[tuple[str, int], Any] = {}


def populated(impl: ModuleType, size: int) -> Any:
    """``size`` sockets; socket i is in rooms ``r{i % 10}`` and ``t{i % 100}``."""
    key = (impl.__name__, size)
    index = _indexes.get(key)
    if index is None:
        index = impl.RoomIndex()
        for i in range(size):
            sid = f"sid-{i:08d}"
            index.connect(sid, f"eio-{i:08d}")
            index.join(sid, f"r{i % 10}")
            index.join(sid, f"t{i % 100}")
        _indexes[key] = index
    return index


@pytest.mark.parametrize("size", SIZES)
def test_select_rooms(benchmark: Any, impl: ModuleType, size: int) -> None:
    """Two overlapping rooms (about 11% of the sockets)."""
    benchmark.group = f"select rooms, {size} sockets"
    index = populated(impl, size)
    result = benchmark(index.select, ["r1", "t11"], None)
    assert len(result) == len(index.rooms["r1"])  # t11 is inside r1


@pytest.mark.parametrize("size", SIZES)
def test_select_except(benchmark: Any, impl: ModuleType, size: int) -> None:
    """Everyone but one room (90% of the sockets) and one socket."""
    benchmark.group = f"select except, {size} sockets"
    index = populated(impl, size)
    result = benchmark(index.select, None, ["r1", "sid-00000000"])
    assert len(result) == size - len(index.rooms["r1"]) - 1


@pytest.mark.parametrize("size", SIZES)
def test_select_rooms_except(benchmark: Any, impl: ModuleType, size: int) -> None:
    """A room minus a sub-room (``socket.to(room).except(room)``)."""
    benchmark.group = f"select rooms+except, {size} sockets"
    index = populated(impl, size)
    result = benchmark(index.select, ["r1"], ["t21"])
    assert len(result) <= len(index.rooms["r1"])


@pytest.mark.parametrize(
    "channel",
    [b"socket.io#/#", b"socket.io#/#r3#", b"socket.io#/#unknown-room#", b"socket.io#/chat#"],
    ids=["main", "room-hit", "room-drop", "nsp-drop"],
)
def test_route(benchmark: Any, impl: ModuleType, channel: bytes) -> None:
    benchmark.group = f"route {channel.decode()}"
    router = impl.ChannelRouter("socket.io")
    router.add("/", populated(impl, 1000))
    router.add("/admin", impl.RoomIndex())
    benchmark(router.route, channel)


TEXT_EVENT = ["message", {"user": "alice", "text": "hello world", "n": 1, "tags": ["a", "b"]}]
BINARY_EVENT = [
    "upload",
    {"name": "pic.png", "chunks": [b"\x89PNG" * 16, b"\x00" * 64], "meta": {"thumb": b"t" * 32}},
    [1, 2, {"deep": [b"x", "y"]}],
]


@pytest.mark.parametrize(
    ("data", "ack_id"), [(TEXT_EVENT, None), (BINARY_EVENT, 17)], ids=["text", "binary-nested"]
)
def test_encode_event(benchmark: Any, impl: ModuleType, data: list[Any], ack_id: Any) -> None:
    benchmark.group = f"encode_event {'binary' if ack_id else 'text'}"
    parts = benchmark(impl.encode_event, "/chat", data, json.dumps, ack_id)
    assert parts == _fastpath_py.encode_event("/chat", data, json.dumps, ack_id)


def _no_json(data: Any, **kwargs: Any) -> str:
    return ""


@pytest.mark.parametrize(
    ("data", "ack_id"), [(TEXT_EVENT, None), (BINARY_EVENT, 17)], ids=["text", "binary-nested"]
)
def test_encode_event_without_json(
    benchmark: Any, impl: ModuleType, data: list[Any], ack_id: Any
) -> None:
    """The adapter's own share of encode_event: binary scan, placeholders, header."""
    benchmark.group = f"encode_event {'binary' if ack_id else 'text'}, dumps stubbed"
    benchmark(impl.encode_event, "/chat", data, _no_json, ack_id)


def test_join_leave(benchmark: Any, impl: ModuleType) -> None:
    """One socket joins then leaves a shared room, in a 100k-socket namespace."""
    benchmark.group = "join+leave, 100000 sockets"
    index = populated(impl, 100_000)

    def cycle() -> None:
        index.join("sid-00000042", "r7")
        index.leave("sid-00000042", "r7")

    benchmark(cycle)
    assert "r7" not in index.rooms_of("sid-00000042")


def test_connect_disconnect(benchmark: Any, impl: ModuleType) -> None:
    """A socket connects, joins three rooms and disconnects, 100k sockets around."""
    benchmark.group = "connect+join3+disconnect, 100000 sockets"
    index = populated(impl, 100_000)

    def cycle() -> None:
        index.connect("newcomer", "eio-newcomer")
        index.join("newcomer", "r1")
        index.join("newcomer", "t5")
        index.join("newcomer", "private")
        index.disconnect("newcomer")

    benchmark(cycle)
    assert len(index) == 100_000


def test_close_room(benchmark: Any, impl: ModuleType) -> None:
    """Fill and close a 1000-socket room, 100k sockets around."""
    benchmark.group = "join 1000 + close_room, 100000 sockets"
    index = populated(impl, 100_000)
    sids = [f"sid-{i:08d}" for i in range(0, 100_000, 100)]

    def cycle() -> None:
        for sid in sids:
            index.join(sid, "party")
        index.close_room("party")

    benchmark(cycle)
    assert not index.has_room("party")


class _Queue:
    """The two methods ``deliver`` uses, without asyncio.Queue's bookkeeping."""

    __slots__ = ("items",)

    def __init__(self) -> None:
        self.items: list[Any] = []

    def qsize(self) -> int:
        return len(self.items)

    def put_nowait(self, item: Any) -> None:
        pass


class _Socket:
    __slots__ = ("closed", "upgraded", "queue")

    def __init__(self) -> None:
        self.closed = False
        self.upgraded = True
        self.queue = _Queue()


def test_deliver(benchmark: Any, impl: ModuleType) -> None:
    """Fan one packet out to 1000 websocket sockets (the queue is a stub)."""
    benchmark.group = "deliver, 1000 sockets"
    sockets = {f"eio-{i}": _Socket() for i in range(1000)}
    benchmark(impl.deliver, sockets, list(sockets), ["pkt"], None, True)
