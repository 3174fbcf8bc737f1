"""Room bookkeeping and recipient selection: ours against python-socketio's own.

Each group holds three rows measured in one run: our room index compiled
(``c``), our pure-Python twin (``py``) and python-socketio's ``AsyncManager``
(``python-socketio``, the rooms ``AsyncRedisManager`` keeps), doing the same
work on the same namespace::

    pytest benchmarks/bench_vs_socketio.py --benchmark-group-by=group

Selection is what an ``emit`` does before sending: python-socketio walks
``get_participants`` and skips ``skip_sid``; we call ``select_eio``.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest
import socketio
from _population import fill, newcomer_cycle

from socketio_redis_adapter import _fastpath_py
from tests.support.twins import COMPILED

NSP = "/"
SIZES = [1000, 100_000]


class Ours:
    """Our ``RoomIndex`` behind the operations the benchmarks time."""

    def __init__(self, module: ModuleType) -> None:
        self.index = module.RoomIndex()

    def connect(self, sid: str, eio_sid: str) -> None:
        self.index.connect(sid, eio_sid)

    def join(self, sid: str, room: str) -> None:
        self.index.join(sid, room)

    def leave(self, sid: str, room: str) -> None:
        self.index.leave(sid, room)

    def disconnect(self, sid: str) -> None:
        self.index.disconnect(sid)

    def recipients(self, rooms: list[str] | None, skip_sid: str | None) -> list[str]:
        result: list[str] = self.index.select_eio(rooms, [skip_sid] if skip_sid else None)
        return result


class PythonSocketio:
    """python-socketio's manager, as ``AsyncServer`` drives it."""

    def __init__(self) -> None:
        self.manager = socketio.AsyncManager()

    def connect(self, sid: str, eio_sid: str) -> None:
        # what BaseManager.connect does once the sid exists
        self.manager.basic_enter_room(sid, NSP, None, eio_sid=eio_sid)
        self.manager.basic_enter_room(sid, NSP, sid, eio_sid=eio_sid)

    def join(self, sid: str, room: str) -> None:
        self.manager.basic_enter_room(sid, NSP, room)

    def leave(self, sid: str, room: str) -> None:
        self.manager.basic_leave_room(sid, NSP, room)

    def disconnect(self, sid: str) -> None:
        self.manager.basic_disconnect(sid, NSP)

    def recipients(self, rooms: list[str] | None, skip_sid: str | None) -> list[str]:
        # the selection loop of AsyncManager.emit, without its send tasks
        room: Any = rooms if rooms is None or len(rooms) > 1 else rooms[0]
        skip = [skip_sid]
        return [
            eio_sid
            for sid, eio_sid in self.manager.get_participants(NSP, room)
            if sid not in skip
        ]


MAKERS: list[Any] = [pytest.param(lambda: Ours(_fastpath_py), id="py")]
if COMPILED is not None:  # benchmarks compare what is there
    MAKERS.insert(0, pytest.param(lambda: Ours(COMPILED), id="c"))  # type: ignore[arg-type]
MAKERS.append(pytest.param(PythonSocketio, id="python-socketio"))

_populated: dict[tuple[str, int], Any] = {}


@pytest.fixture(params=MAKERS)
def make(request: pytest.FixtureRequest) -> tuple[str, Callable[[], Any]]:
    return request.node.callspec.id.split("-")[0], request.param


def populated(name: str, maker: Callable[[], Any], size: int) -> Any:
    """``size`` sockets, laid out by ``_population.fill``."""
    key = (name, size)
    rooms = _populated.get(key)
    if rooms is None:
        rooms = _populated[key] = fill(maker(), size)
    return rooms


SELECTIONS = {
    "one room": (["r1"], None),
    "two rooms": (["r1", "t11"], None),
    "everyone but the sender": (None, "sid-00000003"),
}


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("what", list(SELECTIONS))
def test_recipients(benchmark: Any, make: Any, size: int, what: str) -> None:
    benchmark.group = f"emit recipients, {what}, {size} sockets"
    rooms, skip_sid = SELECTIONS[what]
    subject = populated(make[0], make[1], size)
    result = benchmark(subject.recipients, rooms, skip_sid)
    expected = size - 1 if rooms is None else size // 10
    assert len(result) == expected


def test_join_leave(benchmark: Any, make: Any) -> None:
    """One socket joins then leaves a shared room, 100k sockets around."""
    benchmark.group = "enter+leave room, 100000 sockets"
    subject = populated(make[0], make[1], 100_000)

    def cycle() -> None:
        subject.join("sid-00000042", "r7")
        subject.leave("sid-00000042", "r7")

    benchmark(cycle)


def test_connect_disconnect(benchmark: Any, make: Any) -> None:
    """A socket connects, enters three rooms and disconnects, 100k sockets around.

    python-socketio's ``basic_disconnect`` looks through every room of the
    namespace; our index keeps each socket's rooms.
    """
    benchmark.group = "connect+enter 3 rooms+disconnect, 100000 sockets"
    subject = populated(make[0], make[1], 100_000)
    benchmark.pedantic(newcomer_cycle, (subject,), rounds=20, warmup_rounds=1)
    assert len(subject.recipients(None, None)) == 100_000
