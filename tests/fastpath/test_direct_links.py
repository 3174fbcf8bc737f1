"""DirectLinks and ``deliver``'s direct writes: frames to idle websocket clients."""

from __future__ import annotations

import asyncio
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fastpath.helpers import HYPOTHESIS, FakeSocket

FRAMES = b"\x81\x05hello"


class Transport:
    """Records what is written; ``closing`` and ``fail`` as a test sets them."""

    def __init__(self, writes: list[bytes] | None = None) -> None:
        self.writes: list[bytes] = [] if writes is None else writes
        self.closing = False
        self.fail = False

    def write(self, data: bytes) -> None:
        if self.fail:
            raise RuntimeError("unable to perform operation: the handler is closed")
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closing


class Socket(FakeSocket):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.upgrading = False
        self.closing = False


class AiohttpResponse:
    _closed = False
    _closing = False


class Flow:
    """A request handler's ``_paused`` (aiohttp, websockets)."""

    _paused = False


class UvicornProtocol:
    handshake_complete = True
    close_sent = False


class LegacyProtocol:
    state = "OPEN"
    _paused = False


class Client:
    """One registered client of each kind, with a writer task waiting on its queue."""

    def __init__(self, impl: ModuleType, links: Any, eio_sid: str, kind: int) -> None:
        self.socket = Socket()
        self.transport = Transport()
        self.kind = kind
        self.eio_sid = eio_sid
        if kind == impl.LINK_AIOHTTP:
            self.state: Any = AiohttpResponse()
            self.flow: Any = Flow()
            links.add(eio_sid, self.socket, kind, self.transport, self.state, self.flow)
        elif kind == impl.LINK_UVICORN:
            self.state = UvicornProtocol()
            self.flow = asyncio.Event()
            self.flow.set()
            links.add(eio_sid, self.socket, kind, self.transport, self.state, self.flow)
        else:
            self.state = self.flow = LegacyProtocol()
            links.add(eio_sid, self.socket, kind, self.transport, self.state, self.flow,
                      "OPEN")
        self.writer: asyncio.Task[Any] | None = None

    async def wait_like_a_writer(self) -> None:
        """A task parked in ``queue.get()``, as python-engineio's writer in ``poll``."""
        self.writer = asyncio.ensure_future(self.socket.queue.get())
        await asyncio.sleep(0)

    def stop(self) -> None:
        if self.writer is not None:
            self.writer.cancel()


def kinds(impl: ModuleType) -> list[int]:
    return [impl.LINK_AIOHTTP, impl.LINK_UVICORN, impl.LINK_WEBSOCKETS]


def deliver(impl: ModuleType, clients: list[Client], links: Any, packets: list[Any],
            volatile: bool = False, cache: Any = None) -> int:
    sockets = {c.eio_sid: c.socket for c in clients}
    return int(impl.deliver(sockets, [c.eio_sid for c in clients], packets, None, volatile,
                            cache, links, FRAMES))


@pytest.mark.parametrize("cached", [False, True])
async def test_idle_clients_get_the_frames_written(impl: ModuleType, cached: bool) -> None:
    """Written at the end of the loop iteration: one write per client for every
    broadcast of the iteration."""
    links = impl.DirectLinks()
    clients = [Client(impl, links, f"e{kind}", kind) for kind in kinds(impl)]
    for client in clients:
        await client.wait_like_a_writer()
    cache = impl.DeliveryCache() if cached else None
    for _ in range(2):
        assert deliver(impl, clients, links, ["p"], cache=cache) == 3
    assert all(client.transport.writes == [] for client in clients)
    await asyncio.sleep(0)
    assert deliver(impl, clients, links, ["p"], cache=cache) == 3
    await asyncio.sleep(0)
    for client in clients:
        assert client.transport.writes == [FRAMES + FRAMES, FRAMES]
        assert client.socket.queue.empty()
        assert client.writer is not None and not client.writer.done()  # nothing woke it
        client.stop()
    assert (links.written, links.queued) == (9, 0)


def test_without_a_running_loop_the_frames_are_written_at_once(impl: ModuleType) -> None:
    links = impl.DirectLinks()
    client = Client(impl, links, "e1", impl.LINK_AIOHTTP)
    loop = asyncio.new_event_loop()
    try:
        # a getter parked on the queue, as a writer's, made in a loop that is not running
        waiting = loop.create_task(client.socket.queue.get())
        loop.run_until_complete(asyncio.sleep(0))
        assert deliver(impl, [client], links, ["p"]) == 1
        assert client.transport.writes == [FRAMES]
        client.transport.fail = True  # uvloop raises on a closed handle: the queue has it
        assert deliver(impl, [client], links, ["q"]) == 1
        assert client.transport.writes == [FRAMES]
        loop.run_until_complete(asyncio.sleep(0))
        assert waiting.done() and waiting.result() == "q"
    finally:
        loop.close()
    assert (links.written, links.queued) == (1, 1)


async def test_a_closing_connection_gets_nothing_deferred(impl: ModuleType) -> None:
    links = impl.DirectLinks()
    clients = [Client(impl, links, f"e{i}", impl.LINK_UVICORN) for i in range(3)]
    for client in clients:
        await client.wait_like_a_writer()
    assert deliver(impl, clients, links, ["p"]) == 3
    clients[0].transport.closing = True
    clients[1].state.close_sent = True
    clients[2].transport.fail = True  # raises: swallowed
    await asyncio.sleep(0)
    assert [c.transport.writes for c in clients] == [[], [], []]
    for client in clients:
        client.stop()


async def test_flush_and_clear_write_what_is_deferred(impl: ModuleType) -> None:
    links = impl.DirectLinks()
    client = Client(impl, links, "e1", impl.LINK_AIOHTTP)
    await client.wait_like_a_writer()
    deliver(impl, [client], links, ["p"])
    links.flush()
    assert client.transport.writes == [FRAMES]
    deliver(impl, [client], links, ["p"])
    links.clear()
    assert client.transport.writes == [FRAMES, FRAMES] and len(links) == 0
    await asyncio.sleep(0)  # the scheduled flush finds nothing left
    assert client.transport.writes == [FRAMES, FRAMES]
    client.stop()


def _make_busy(impl: ModuleType, client: Client, how: str) -> None:
    """Put one reason for the queue path on ``client``."""
    if how == "queued":
        client.socket.queue.put_nowait("earlier")
    elif how == "not upgraded":
        client.socket.upgraded = False
    elif how == "upgrading":
        client.socket.upgrading = True
    elif how == "closing":
        client.socket.closing = True
    elif how == "transport closing":
        client.transport.closing = True
    elif how == "library closing":
        if client.kind == impl.LINK_AIOHTTP:
            client.state._closing = True
        elif client.kind == impl.LINK_UVICORN:
            client.state.close_sent = True
        else:
            client.state.state = "CLOSING"
    elif how == "library closed":
        if client.kind == impl.LINK_AIOHTTP:
            client.state._closed = True
        elif client.kind == impl.LINK_UVICORN:
            client.state.handshake_complete = False
        else:
            client.state.state = "CLOSED"
    elif how == "paused":
        if client.kind == impl.LINK_UVICORN:
            client.flow.clear()
        else:
            client.flow._paused = True
    else:
        raise AssertionError(how)


BUSY = ["queued", "not upgraded", "upgrading", "closing", "transport closing",
        "library closing", "library closed", "paused"]


@pytest.mark.parametrize("how", BUSY)
@pytest.mark.parametrize("cached", [False, True])
async def test_anything_not_idle_gets_the_queue(impl: ModuleType, how: str,
                                                cached: bool) -> None:
    links = impl.DirectLinks()
    cache = impl.DeliveryCache() if cached else None
    for kind in kinds(impl):
        client = Client(impl, links, "e1", kind)
        await client.wait_like_a_writer()
        _make_busy(impl, client, how)
        before = list(client.socket.queue._queue)  # type: ignore[attr-defined]
        if how == "queued":  # the waiting getter took it: keep the queue non-empty
            client.socket.queue.put_nowait("earlier")
            before = list(client.socket.queue._queue)  # type: ignore[attr-defined]
        assert deliver(impl, [client], links, ["p"], cache=cache) == 1
        assert list(client.socket.queue._queue)[len(before):] == ["p"]  # type: ignore
        await asyncio.sleep(0)
        assert client.transport.writes == []
        client.stop()
        if cache is not None:
            cache.clear()
    assert links.written == 0 and links.queued == 3


async def test_no_writer_waiting_gets_the_queue(impl: ModuleType) -> None:
    """A writer that is not parked on the queue may hold packets it has not written."""
    links = impl.DirectLinks()
    client = Client(impl, links, "e1", impl.LINK_AIOHTTP)
    assert deliver(impl, [client], links, ["p"]) == 1
    assert client.transport.writes == [] and client.socket.drain() == ["p"]
    # a getter that was cancelled (wait_for's timeout) does not count either
    await client.wait_like_a_writer()
    assert client.writer is not None
    client.writer.cancel()
    await asyncio.sleep(0)
    assert deliver(impl, [client], links, ["p"]) == 1
    assert client.transport.writes == [] and client.socket.drain() == ["p"]


async def test_a_replaced_socket_gets_the_queue(impl: ModuleType) -> None:
    links = impl.DirectLinks()
    client = Client(impl, links, "e1", impl.LINK_UVICORN)
    await client.wait_like_a_writer()
    replacement = Socket()
    sockets = {"e1": replacement}
    assert impl.deliver(sockets, ["e1"], ["p"], None, False, None, links, FRAMES) == 1
    await asyncio.sleep(0)
    assert client.transport.writes == [] and replacement.drain() == ["p"]
    client.stop()


async def test_volatile_goes_to_idle_clients_and_skips_busy_ones(impl: ModuleType) -> None:
    links = impl.DirectLinks()
    idle, busy = Client(impl, links, "idle", 1), Client(impl, links, "busy", 1)
    await idle.wait_like_a_writer()
    busy.socket.queue.put_nowait("earlier")
    assert deliver(impl, [idle, busy], links, ["p"], volatile=True) == 1
    await asyncio.sleep(0)
    assert idle.transport.writes == [FRAMES]
    assert busy.socket.drain() == ["earlier"]
    idle.stop()


async def test_without_frames_or_links_nothing_is_written(impl: ModuleType) -> None:
    links = impl.DirectLinks()
    client = Client(impl, links, "e1", impl.LINK_AIOHTTP)
    await client.wait_like_a_writer()
    sockets = {"e1": client.socket}
    assert impl.deliver(sockets, ["e1"], ["p"], None, False, None, links, None) == 1
    assert impl.deliver(sockets, ["e1"], ["q"], None, False, None, None, FRAMES) == 1
    await asyncio.sleep(0)
    assert client.transport.writes == []
    client.stop()


def test_registration(impl: ModuleType) -> None:
    links = impl.DirectLinks()
    transport = Transport()
    with pytest.raises(TypeError):
        links.add(b"e1", Socket(), impl.LINK_AIOHTTP, transport, None, None)
    with pytest.raises(ValueError, match="kind"):
        links.add("e1", Socket(), 99, transport, None, None)
    links.add("e1", Socket(), impl.LINK_AIOHTTP, transport, None, None)
    assert "e1" in links and len(links) == 1
    links.forget("e1")
    links.forget("e1")
    assert "e1" not in links and len(links) == 0
    links.add("e2", Socket(), impl.LINK_UVICORN, transport, None, None)
    links.clear()
    assert len(links) == 0
    assert (links.written, links.queued) == (0, 0)


@HYPOTHESIS
@given(steps=st.lists(st.sampled_from(["deliver", "yield", "hold", "release", "pause",
                                       "resume", "queue"]), max_size=60))
def test_any_interleaving_keeps_the_order(impl: ModuleType, steps: list[str]) -> None:
    """A writer task shaped as python-engineio's (it takes every queued packet, then
    sends them one by one, and may be held in between, as by a drain), deliveries
    and packets queued by others in between, loop turns anywhere: the client's byte
    stream always has everything once, in order."""

    async def run() -> None:
        links = impl.DirectLinks()
        wire: list[bytes] = []
        client = Client(impl, links, "e1", impl.LINK_AIOHTTP)
        client.transport = Transport(wire)
        links.add("e1", client.socket, impl.LINK_AIOHTTP, client.transport, client.state,
                  client.flow)
        queue = client.socket.queue
        sending = asyncio.Event()
        sending.set()

        async def writer() -> None:
            while True:
                batch = [await queue.get()]
                while not queue.empty():
                    batch.append(queue.get_nowait())
                for packet in batch:
                    await sending.wait()
                    wire.append(packet)

        task = asyncio.ensure_future(writer())
        expected: list[bytes] = []
        sockets = {"e1": client.socket}
        for n, step in enumerate(steps):
            frame = b"%d;" % n
            if step == "deliver":
                expected.append(frame)
                impl.deliver(sockets, ["e1"], [frame], None, False, None, links, frame)
            elif step == "queue":  # a packet queued by someone else (an ack, a ping)
                expected.append(frame)
                queue.put_nowait(frame)
            elif step == "yield":
                await asyncio.sleep(0)
            elif step == "hold":
                sending.clear()
            elif step == "release":
                sending.set()
            elif step == "pause":
                client.flow._paused = True
            else:
                client.flow._paused = False
        sending.set()
        for _ in range(len(steps) + 5):
            await asyncio.sleep(0)
        task.cancel()
        assert b"".join(wire) == b"".join(expected)

    asyncio.run(run())
