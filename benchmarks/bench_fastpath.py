"""Micro-benchmarks of the fast path, compiled (``c``) against pure Python (``py``).

Run from the repository root::

    pytest benchmarks
    pytest benchmarks --benchmark-group-by=group --benchmark-columns=mean,ops

Each benchmark group holds the two implementations of one operation, so the
``c``/``py`` ratio is read off the group's table.  Selection groups and the
waiting-writers groups also hold a ``floor`` row: the part of the work no
implementation can skip, measured the same way, so ``py``/``floor`` is the
most any compiled twin could gain there.
"""

from __future__ import annotations

import asyncio
import collections
import datetime
import functools
import itertools
import json
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest
from _population import fill, newcomer_cycle
from engineio.async_socket import AsyncSocket

from socketio_redis_adapter import _fastpath_py
from socketio_redis_adapter.protocol import broadcast, notepack, parsers
from tests.support.twins import twin_params

# benchmarks compare what is there
IMPLS = twin_params(built_only=True)

SIZES = [10, 1000, 100_000]


@pytest.fixture(params=IMPLS)
def impl(request: pytest.FixtureRequest) -> ModuleType:
    return request.param


_indexes: dict[tuple[str, int], Any] = {}


def populated(impl: ModuleType, size: int) -> Any:
    """``size`` sockets, laid out by ``_population.fill``."""
    key = (impl.__name__, size)
    index = _indexes.get(key)
    if index is None:
        index = _indexes[key] = fill(impl.RoomIndex(), size)
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


@pytest.mark.parametrize("size", SIZES)
def test_select_eio_rooms(benchmark: Any, impl: ModuleType, size: int) -> None:
    """``select_eio``, as ``_deliver`` uses it: two overlapping rooms."""
    benchmark.group = f"select_eio rooms, {size} sockets"
    index = populated(impl, size)
    result = benchmark(index.select_eio, ["r1", "t11"], None)
    assert len(result) == len(index.rooms["r1"])


@pytest.mark.parametrize("size", SIZES)
def test_select_eio_one_room(benchmark: Any, impl: ModuleType, size: int) -> None:
    """``select_eio`` of a single room (``socket.to(room)``)."""
    benchmark.group = f"select_eio one room, {size} sockets"
    index = populated(impl, size)
    result = benchmark(index.select_eio, ["r1"], None)
    assert len(result) == len(index.rooms["r1"])


@pytest.mark.parametrize("size", SIZES)
def test_select_eio_except(benchmark: Any, impl: ModuleType, size: int) -> None:
    """``select_eio``: everyone but one room (90% of the sockets) and one socket."""
    benchmark.group = f"select_eio except, {size} sockets"
    index = populated(impl, size)
    result = benchmark(index.select_eio, None, ["r1", "sid-00000000"])
    assert len(result) == size - len(index.rooms["r1"]) - 1


@pytest.mark.parametrize("size", SIZES)
def test_select_eio_skip_sid(benchmark: Any, impl: ModuleType, size: int) -> None:
    """``select_eio``: everyone but the sender (``emit(..., skip_sid=sid)``)."""
    benchmark.group = f"select_eio skip_sid, {size} sockets"
    index = populated(impl, size)
    result = benchmark(index.select_eio, None, ["sid-00000003"])
    assert len(result) == size - 1


@pytest.mark.parametrize("size", SIZES)
def test_select_eio_rooms_except(benchmark: Any, impl: ModuleType, size: int) -> None:
    """``select_eio``: a room minus a sub-room."""
    benchmark.group = f"select_eio rooms+except, {size} sockets"
    index = populated(impl, size)
    result = benchmark(index.select_eio, ["r1"], ["t21"])
    assert len(result) <= len(index.rooms["r1"])


# Each selection group above, as (method, rooms, except_rooms).  A group's
# ``floor`` row copies an equal result with one C call (``dict.copy`` or
# ``list.copy``): the least any implementation of ``select``/``select_eio``
# must spend, since each call returns a fresh container of the recipients.
# ``py`` over ``floor`` bounds how much faster any compiled twin can be.
SELECTIONS = {
    "select rooms": ("select", ["r1", "t11"], None),
    "select except": ("select", None, ["r1", "sid-00000000"]),
    "select rooms+except": ("select", ["r1"], ["t21"]),
    "select_eio rooms": ("select_eio", ["r1", "t11"], None),
    "select_eio one room": ("select_eio", ["r1"], None),
    "select_eio except": ("select_eio", None, ["r1", "sid-00000000"]),
    "select_eio skip_sid": ("select_eio", None, ["sid-00000003"]),
    "select_eio rooms+except": ("select_eio", ["r1"], ["t21"]),
}


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("name", list(SELECTIONS))
def test_select_floor(benchmark: Any, name: str, size: int) -> None:
    """The ``floor`` row of a selection group: a C-level copy of its result."""
    benchmark.group = f"{name}, {size} sockets"
    method, rooms, except_rooms = SELECTIONS[name]
    result = getattr(populated(_fastpath_py, size), method)(rooms, except_rooms)
    copy = benchmark(result.copy)
    assert copy == result and copy is not result


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


# what the adapter passes (``AsyncRedisAdapter._dumps``)
ADAPTER_DUMPS = functools.partial(json.dumps, default=parsers.json_default)


@pytest.mark.parametrize(
    ("data", "ack_id"), [(TEXT_EVENT, None), (BINARY_EVENT, 17)], ids=["text", "binary-nested"]
)
@pytest.mark.parametrize("dumps", [ADAPTER_DUMPS, json.dumps], ids=["adapter-dumps", "json.dumps"])
def test_encode_event(
    benchmark: Any, impl: ModuleType, data: list[Any], ack_id: Any, dumps: Any
) -> None:
    name = "adapter's dumps" if dumps is ADAPTER_DUMPS else "json.dumps"
    benchmark.group = f"encode_event {'binary' if ack_id else 'text'}, {name}"
    parts = benchmark(impl.encode_event, "/chat", data, dumps, ack_id)
    assert parts == _fastpath_py.encode_event("/chat", data, dumps, ack_id)


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
    benchmark(newcomer_cycle, index)
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


class _Socket:
    """What ``deliver`` reads of an Engine.IO socket, with a real asyncio.Queue."""

    __slots__ = ("closed", "upgraded", "queue")

    def __init__(self) -> None:
        self.closed = False
        self.upgraded = True
        self.queue: asyncio.Queue[Any] = asyncio.Queue()


def _engineio_socket() -> Any:
    """A real python-engineio ``AsyncSocket`` (a plain ``__dict__`` object), on websocket."""
    socket = AsyncSocket(SimpleNamespace(create_queue=asyncio.Queue), "sid")
    socket.upgraded = True
    return socket


SOCKET_KINDS = [
    pytest.param(_Socket, id="slots"),
    pytest.param(_engineio_socket, id="engineio"),
]
_KIND_NAMES = {_Socket: "__slots__ sockets", _engineio_socket: "engineio AsyncSockets"}


def _sockets(count: int, make: Any = _Socket) -> dict[str, Any]:
    return {f"eio-{i:08d}": make() for i in range(count)}


def _empty(sockets: dict[str, Any]) -> None:
    """Take back what the last round queued (as the writer tasks would)."""
    for socket in sockets.values():
        queue = socket.queue
        while not queue.empty():
            queue.get_nowait()
            queue.task_done()


ROUNDS = 200


@pytest.mark.parametrize("make", SOCKET_KINDS)
@pytest.mark.parametrize("volatile", [False, True], ids=["plain", "volatile"])
def test_deliver(benchmark: Any, impl: ModuleType, volatile: bool, make: Any) -> None:
    """One packet to 1000 websocket sockets whose writers are busy (no getter waits).

    With the ``DeliveryCache`` the adapter passes, warmed up as the adapter's is.
    """
    benchmark.group = (
        f"deliver, 1000 {_KIND_NAMES[make]}, busy writers{', volatile' if volatile else ''}"
    )
    sockets = _sockets(1000, make)
    eio_sids = list(sockets)
    cache = impl.DeliveryCache()

    def setup() -> None:
        _empty(sockets)

    benchmark.pedantic(
        impl.deliver,
        (sockets, eio_sids, ["pkt"], None, volatile, cache),
        setup=setup,
        rounds=ROUNDS,
        warmup_rounds=5,
    )
    assert all(socket.queue.qsize() == 1 for socket in sockets.values())


def test_deliver_without_cache(benchmark: Any, impl: ModuleType) -> None:
    """``test_deliver`` without a ``DeliveryCache``: every socket read from scratch."""
    benchmark.group = "deliver without a cache, 1000 __slots__ sockets, busy writers"
    sockets = _sockets(1000)
    eio_sids = list(sockets)
    benchmark.pedantic(
        impl.deliver,
        (sockets, eio_sids, ["pkt"], None, False),
        setup=lambda: _empty(sockets),
        rounds=ROUNDS,
        warmup_rounds=5,
    )
    assert all(socket.queue.qsize() == 1 for socket in sockets.values())


LOOPS = [pytest.param(asyncio.new_event_loop, id="asyncio")]
try:
    import uvloop

    LOOPS.append(pytest.param(uvloop.new_event_loop, id="uvloop"))
except ImportError:  # benchmarks compare what is there
    pass


async def _one_tick() -> None:
    await asyncio.sleep(0)


@pytest.mark.parametrize("new_loop", LOOPS)
@pytest.mark.parametrize("make", SOCKET_KINDS)
def test_deliver_waiting_writers(
    benchmark: Any, impl: ModuleType, make: Any, new_loop: Any
) -> None:
    """One packet to 1000 sockets whose writer tasks wait on ``queue.get()``.

    Each queue has one waiting getter future with a done callback, as a task
    awaiting it has: the wake-up schedules that callback on the loop (asyncio's
    own, or uvloop's as the adapter's users run it).
    """
    loop = new_loop()
    benchmark.group = (
        f"deliver, 1000 {_KIND_NAMES[make]}, waiting writers, {type(loop).__module__} loop"
    )
    sockets = _sockets(1000, make)
    eio_sids = list(sockets)
    cache = impl.DeliveryCache()
    woken = [0]

    def wake(future: asyncio.Future[None]) -> None:
        woken[0] += 1

    def setup() -> None:
        _empty(sockets)
        loop.run_until_complete(_one_tick())  # the last round's wake-ups run
        for socket in sockets.values():
            getter = loop.create_future()
            getter.add_done_callback(wake)
            socket.queue._getters.append(getter)

    try:
        benchmark.pedantic(
            impl.deliver,
            (sockets, eio_sids, ["pkt"], None, False, cache),
            setup=setup,
            rounds=ROUNDS,
            warmup_rounds=5,
        )
        loop.run_until_complete(_one_tick())
        assert woken[0] and woken[0] % 1000 == 0
    finally:
        loop.close()


@pytest.mark.parametrize("new_loop", LOOPS)
@pytest.mark.parametrize("make", SOCKET_KINDS)
def test_wake_floor(benchmark: Any, make: Any, new_loop: Any) -> None:
    """The ``floor`` row of a waiting-writers group: the wake-ups alone.

    ``Future.set_result`` on each of the 1000 waiting getters, mapped in C:
    what the event loop charges for waking the writers, which every
    ``deliver`` pays before its own work (appending, counting, clearing).
    """
    loop = new_loop()
    benchmark.group = (
        f"deliver, 1000 {_KIND_NAMES[make]}, waiting writers, {type(loop).__module__} loop"
    )
    sockets = _sockets(1000, make)
    getters: list[asyncio.Future[None]] = []
    woken = [0]

    def wake(future: asyncio.Future[None]) -> None:
        woken[0] += 1

    def setup() -> None:
        loop.run_until_complete(_one_tick())  # the last round's wake-ups run
        getters.clear()
        for _socket in sockets.values():
            getter = loop.create_future()
            getter.add_done_callback(wake)
            getters.append(getter)

    def wake_all() -> None:
        collections.deque(map(asyncio.Future.set_result, getters, itertools.repeat(None)), 0)

    try:
        benchmark.pedantic(wake_all, setup=setup, rounds=ROUNDS, warmup_rounds=5)
        loop.run_until_complete(_one_tick())
        assert woken[0] and woken[0] % 1000 == 0
    finally:
        loop.close()


def test_select_and_deliver(benchmark: Any, impl: ModuleType) -> None:
    """``_deliver``'s two steps, ``select_eio`` then ``deliver``: 9000 of 100k sockets."""
    benchmark.group = "select_eio + deliver, room of 10000 in 100000 sockets"
    index = populated(impl, 100_000)
    sockets = {eio: _engineio_socket() for eio in index.rooms["r1"].values()}
    cache = impl.DeliveryCache()

    def fan_out() -> int:
        recipients = index.select_eio(["r1"], ["t21"])
        return int(impl.deliver(sockets, recipients, ["pkt"], None, False, cache))

    benchmark.pedantic(fan_out, setup=lambda: _empty(sockets), rounds=50, warmup_rounds=2)
    assert fan_out() == 9000


def _pmessage(channel: bytes, data: bytes) -> bytes:
    pattern = b"socket.io#/#*"
    return b"*4\r\n$8\r\npmessage\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (
        len(pattern),
        pattern,
        len(channel),
        channel,
        len(data),
        data,
    )


BROADCAST = parsers.MsgpackParser().encode(
    broadcast.broadcast_value("other1", "/", ["ev", {"n": 1}], ["room-x"], [], {})
)


@pytest.mark.parametrize("room", ["room-x", "r1"], ids=["foreign-room", "local-room"])
def test_push_parser(benchmark: Any, impl: ModuleType, room: str) -> None:
    """1,000 broadcasts read from the subscriber connection in one chunk."""
    benchmark.group = f"push parser, 1000 messages, {room}"
    router = impl.ChannelRouter("socket.io")
    router.add("/", populated(impl, 1000))
    # count deliveries without keeping them: a list holding every message of
    # every round would make each round allocate fresh memory
    delivered = itertools.count()
    parser = impl.PushParser(
        lambda pattern, channel, data, route: next(delivered), lambda reply: None, None, router
    )
    chunk = _pmessage(f"socket.io#/#{room}#".encode(), BROADCAST) * 1000
    benchmark(parser.feed, chunk)
    count = next(delivered)
    if room == "room-x":
        assert count == 0
    else:  # every run delivered all 1,000 (calibration runs included)
        assert count and count % 1000 == 0


# beyond the two payloads above: text that needs escaping, numbers, a larger
# array, and a datetime (the compiled encode_event calls the adapter's
# ``default`` hook for it and writes the rest itself)
UNICODE_EVENT = [
    "chat",
    {"from": "Zoë", "text": "naïve café — “quoted”\n😀 ok", "lat": 48.8566, "lng": 2.3522},
]
LIST_EVENT = ["points", [{"x": i, "y": i * 0.5, "label": f"p{i}"} for i in range(50)]]
DATETIME_EVENT = [
    "message",
    {"user": "alice", "text": "hello world", "at": datetime.datetime(2024, 1, 2, 3, 4, 5)},
]


@pytest.mark.parametrize(
    "data",
    [UNICODE_EVENT, LIST_EVENT, DATETIME_EVENT],
    ids=["unicode-floats", "50-objects", "datetime"],
)
def test_encode_event_more_payloads(benchmark: Any, impl: ModuleType, data: list[Any]) -> None:
    benchmark.group = f"encode_event {data[0]!r} payload, adapter's dumps"
    parts = benchmark(impl.encode_event, "/chat", data, ADAPTER_DUMPS, None)
    assert parts == _fastpath_py.encode_event("/chat", data, ADAPTER_DUMPS, None)


# broadcast messages as the adapter publishes and reads them with the msgpack
# parser: a text payload, binary at several depths, and a datetime (which the
# pure twin's packb leaves to notepack's Python encoder)
BROADCAST_PAYLOADS = {
    "text": TEXT_EVENT,
    "binary-nested": BINARY_EVENT,
    "datetime": [
        "message",
        {"user": "alice", "text": "hello world",
         "at": datetime.datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=datetime.timezone.utc)},
    ],
}
BROADCAST_IDS = list(BROADCAST_PAYLOADS)


def _broadcast_args(data: list[Any]) -> tuple[Any, ...]:
    """A broadcast to one room, skipping the sender: ``socket.to(room).emit``."""
    return ("aJBfRy", "/chat", data, ["room1"], ["Bg85RUYJDfAws5SAAAAB"], {})


@pytest.mark.parametrize("payload", BROADCAST_IDS)
def test_broadcast_encode(benchmark: Any, impl: ModuleType, payload: str) -> None:
    benchmark.group = f"broadcast encode, {payload}"
    args = _broadcast_args(BROADCAST_PAYLOADS[payload])
    message = benchmark(impl.pack_broadcast, *args)
    assert message == notepack.packb(broadcast.broadcast_value(*args))


@pytest.mark.parametrize("payload", BROADCAST_IDS)
def test_broadcast_decode(benchmark: Any, impl: ModuleType, payload: str) -> None:
    """Unpack and validate (``unpack_broadcast``): what a subscriber does per message."""
    benchmark.group = f"broadcast decode, {payload}"
    args = _broadcast_args(BROADCAST_PAYLOADS[payload])
    message = notepack.packb(broadcast.broadcast_value(*args))
    result = benchmark(impl.unpack_broadcast, message)
    assert result == broadcast.decode_broadcast(parsers.MsgpackParser(), message)
