"""deliver with a DeliveryCache."""

from __future__ import annotations

import asyncio
import gc
import random
import tracemalloc
import types
import weakref
from types import ModuleType
from typing import Any

import pytest
from engineio.async_socket import AsyncSocket

from socketio_redis_adapter import _fastpath_py
from tests.fastpath.helpers import CountingQueue, FakeSocket

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
