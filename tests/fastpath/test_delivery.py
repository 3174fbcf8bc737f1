"""deliver: packets queued on Engine.IO sockets."""

from __future__ import annotations

import asyncio
from types import ModuleType
from typing import Any

import pytest

from tests.fastpath.helpers import CountingQueue, FakeSocket


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
