"""DirectLinks and ``deliver``'s direct writes: frames to idle websocket clients."""

from __future__ import annotations

import asyncio
import itertools
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fastpath.helpers import HYPOTHESIS, FakeSocket

FRAMES = b"\x81\x05hello"


class Transport:
    """Records what is written; ``closing`` and ``fail`` as a test sets them."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
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
    links = impl.DirectLinks()
    clients = [Client(impl, links, f"e{kind}", kind) for kind in kinds(impl)]
    for client in clients:
        await client.wait_like_a_writer()
    cache = impl.DeliveryCache() if cached else None
    for _ in range(2):
        assert deliver(impl, clients, links, ["p"], cache=cache) == 3
    for client in clients:
        assert client.transport.writes == [FRAMES, FRAMES]
        assert client.socket.queue.empty()
        assert client.writer is not None and not client.writer.done()  # nothing woke it
        client.stop()
    assert (links.written, links.queued) == (6, 0)


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
        assert client.transport.writes == []
        assert list(client.socket.queue._queue)[len(before):] == ["p"]  # type: ignore
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


async def test_a_replaced_socket_or_a_failing_transport_gets_the_queue(
        impl: ModuleType) -> None:
    links = impl.DirectLinks()
    client = Client(impl, links, "e1", impl.LINK_UVICORN)
    await client.wait_like_a_writer()
    replacement = Socket()
    sockets = {"e1": replacement}
    assert impl.deliver(sockets, ["e1"], ["p"], None, False, None, links, FRAMES) == 1
    assert client.transport.writes == [] and replacement.drain() == ["p"]
    client.transport.fail = True
    assert deliver(impl, [client], links, ["q"]) == 1
    assert client.transport.writes == []
    assert list(client.socket.queue._queue) == ["q"]  # type: ignore[attr-defined]
    client.stop()


async def test_volatile_goes_to_idle_clients_and_skips_busy_ones(impl: ModuleType) -> None:
    links = impl.DirectLinks()
    idle, busy = Client(impl, links, "idle", 1), Client(impl, links, "busy", 1)
    await idle.wait_like_a_writer()
    busy.socket.queue.put_nowait("earlier")
    assert deliver(impl, [idle, busy], links, ["p"], volatile=True) == 1
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
@given(steps=st.lists(st.sampled_from(["deliver", "writer takes", "writer sends",
                                       "pause", "resume"]), max_size=40))
def test_any_interleaving_keeps_the_order(impl: ModuleType, steps: list[str]) -> None:
    """A writer that takes packets and sends them later, deliveries in between: the
    client's byte stream always has every delivery once, in order."""

    async def run() -> None:
        links = impl.DirectLinks()
        client = Client(impl, links, "e1", impl.LINK_AIOHTTP)
        counter = itertools.count()
        in_hand: list[Any] = []
        queue = client.socket.queue
        # the wire: frames written directly, and packets the writer sends
        wire = client.transport.writes
        expected: list[bytes] = []
        for step in [*steps, "writer takes", "writer sends"]:
            if step == "deliver":
                n = next(counter)
                frame = b"f%d" % n
                expected.append(frame)
                sockets = {"e1": client.socket}
                impl.deliver(sockets, ["e1"], [frame], None, False, None, links, frame)
            elif step == "writer takes":
                if client.writer is not None and client.writer.done():
                    in_hand.append(client.writer.result())
                    client.writer = None
                while not queue.empty():
                    in_hand.append(queue.get_nowait())
            elif step == "writer sends":
                wire.extend(in_hand)
                in_hand.clear()
                if client.writer is None:
                    await client.wait_like_a_writer()
            elif step == "pause":
                client.flow._paused = True
            else:
                client.flow._paused = False
            await asyncio.sleep(0)
        if client.writer is not None and client.writer.done():
            wire.append(client.writer.result())
            client.writer = None
        wire.extend(in_hand)
        while not queue.empty():
            wire.append(queue.get_nowait())
        client.stop()
        assert wire == expected

    asyncio.run(run())
