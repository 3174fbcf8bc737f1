"""Tests of the Node interop rig itself: Node peers (real @socket.io/redis-adapter 8.3.0)
on one real Redis, with python-socketio clients connected to them."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import socketio

from tests.support.node_peer import NodePeer, NodePeerError

pytestmark = pytest.mark.node


class RecordingClient:
    """A python-socketio AsyncClient that records every event it receives."""

    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.received: list[tuple[str, str, list[Any]]] = []  # (namespace, event, args)
        self._changed = asyncio.Event()

    def listen(self, namespace: str) -> None:
        async def on_any(event: str, *args: Any) -> None:
            self.received.append((namespace, event, list(args)))
            self._changed.set()

        self.sio.on("*", on_any, namespace=namespace)

    async def connect(
        self,
        peer: NodePeer,
        *,
        rooms: list[Any] | None = None,
        data: Any = None,
        namespaces: tuple[str, ...] = ("/",),
    ) -> None:
        for nsp in namespaces:
            self.listen(nsp)
        auth: dict[str, Any] = {"rooms": rooms or []}
        if data is not None:
            auth["data"] = data
        await asyncio.wait_for(
            self.sio.connect(
                peer.url,
                transports=["websocket"],
                auth=auth,
                namespaces=list(namespaces),
                wait_timeout=5,
            ),
            10,
        )
        for nsp in namespaces:
            sid = self.sio.get_sid(nsp)
            await peer.wait_event("connection", nsp=nsp, id=sid)

    def events(self, name: str, namespace: str = "/") -> list[list[Any]]:
        return [args for nsp, ev, args in self.received if ev == name and nsp == namespace]

    async def wait_for(self, name: str, namespace: str = "/", timeout: float = 5.0) -> list[Any]:
        async def waiter() -> list[Any]:
            while True:
                found = self.events(name, namespace)
                if found:
                    return found[0]
                self._changed.clear()
                await self._changed.wait()

        return await asyncio.wait_for(waiter(), timeout)

    async def close(self) -> None:
        if self.sio.connected:
            await asyncio.wait_for(self.sio.disconnect(), 5)


@pytest.fixture
async def peers(redis_server: Any) -> AsyncIterator[tuple[NodePeer, NodePeer]]:
    key = f"rig-{uuid.uuid4().hex[:8]}"  # isolates this test on the shared redis-server
    started: list[NodePeer] = []
    try:
        for _ in range(2):
            started.append(
                await NodePeer.start(redis_server.url, key=key, namespaces=("/", "/custom"))
            )
        yield started[0], started[1]
    finally:
        await asyncio.gather(*(p.stop() for p in started), return_exceptions=True)
        for p in started:
            assert p.process.returncode is not None


@pytest.fixture
async def clients() -> AsyncIterator[list[RecordingClient]]:
    made: list[RecordingClient] = []
    try:
        yield made
    finally:
        await asyncio.gather(*(c.close() for c in made), return_exceptions=True)


async def connect(made: list[RecordingClient], peer: NodePeer, **kwargs: Any) -> RecordingClient:
    client = RecordingClient()
    made.append(client)
    await client.connect(peer, **kwargs)
    return client


async def test_server_count_and_ping(peers: tuple[NodePeer, NodePeer]) -> None:
    a, b = peers
    assert await a.command("ping") == "pong"
    assert await a.command("server_count") == 2
    assert await b.command("server_count", nsp="/custom") == 2


async def test_command_errors_are_replies(peers: tuple[NodePeer, NodePeer]) -> None:
    a, _ = peers
    with pytest.raises(NodePeerError, match="unknown command"):
        await a.command("no_such_command")
    with pytest.raises(NodePeerError, match="no local socket"):
        await a.command("join", sid="nope", room="r")
    assert await a.command("ping") == "pong"  # still alive


async def test_broadcast_to_all_reaches_both_peers_with_binary(
    peers: tuple[NodePeer, NodePeer], clients: list[RecordingClient]
) -> None:
    a, b = peers
    c1 = await connect(clients, a)
    c2 = await connect(clients, b)
    await a.command("emit", nsp="/", event="test", args=[1, "2", b"\x03\x04", {"k": [b"\xff"]}])
    for client in (c1, c2):
        args = await client.wait_for("test")
        assert args == [1, "2", b"\x03\x04", {"k": [b"\xff"]}]
        assert isinstance(args[2], bytes)


async def test_broadcast_in_namespace(
    peers: tuple[NodePeer, NodePeer], clients: list[RecordingClient]
) -> None:
    a, b = peers
    c1 = await connect(clients, a, namespaces=("/", "/custom"))
    c2 = await connect(clients, b, namespaces=("/", "/custom"))
    await b.command("emit", nsp="/custom", event="hello", args=["c"])
    await a.command("emit", nsp="/", event="marker")
    for client in (c1, c2):
        assert await client.wait_for("hello", "/custom") == ["c"]
        await client.wait_for("marker", "/")
        assert client.events("hello", "/") == []


async def test_room_broadcast_only_reaches_members(
    peers: tuple[NodePeer, NodePeer], clients: list[RecordingClient]
) -> None:
    a, b = peers
    member_a = await connect(clients, a, rooms=["room1"])
    other_a = await connect(clients, a, rooms=["room2"])
    member_b = await connect(clients, b, rooms=["room1", 123])
    other_b = await connect(clients, b)

    await a.command("emit", nsp="/", event="r", args=["x"], rooms=["room1"])
    await a.command("emit", nsp="/", event="n", args=[], rooms=[123])
    await a.command("emit", nsp="/", event="e", except_=["room1"])
    # Same publisher, same subscriber connection: the marker arrives after the above.
    await a.command("emit", nsp="/", event="marker")
    everyone = (member_a, other_a, member_b, other_b)
    for client in everyone:
        await client.wait_for("marker")
    assert member_a.events("r") == [["x"]] and member_b.events("r") == [["x"]]
    assert other_a.events("r") == [] and other_b.events("r") == []
    assert member_b.events("n") == [[]]
    assert [c for c in everyone if c.events("n")] == [member_b]
    assert [c for c in everyone if c.events("e")] == [other_a, other_b]


async def test_fetch_sockets_across_both_peers(
    peers: tuple[NodePeer, NodePeer], clients: list[RecordingClient]
) -> None:
    a, b = peers
    c1 = await connect(clients, a, rooms=["r1"], data={"who": "one"})
    c2 = await connect(clients, b, rooms=["r1", "r2"], data="two")
    sid1, sid2 = c1.sio.get_sid("/"), c2.sio.get_sid("/")

    found = await a.command("fetch_sockets", nsp="/")
    by_id = {s["id"]: s for s in found}
    assert set(by_id) == {sid1, sid2}
    assert by_id[sid1]["data"] == {"who": "one"}
    assert by_id[sid2]["data"] == "two"
    assert set(by_id[sid2]["rooms"]) == {sid2, "r1", "r2"}
    assert by_id[sid2]["handshake"]["auth"]["rooms"] == ["r1", "r2"]

    only_r2 = await b.command("fetch_sockets", nsp="/", rooms=["r2"])
    assert [s["id"] for s in only_r2] == [sid2]
    local = await a.command("fetch_sockets", nsp="/", local=True)
    assert [s["id"] for s in local] == [sid1]
    rooms = await b.command("all_rooms", nsp="/")
    assert set(rooms) == {sid1, sid2, "r1", "r2"}


async def test_server_side_emit_with_ack(peers: tuple[NodePeer, NodePeer]) -> None:
    a, b = peers
    await b.command("on_server_side_event", nsp="/", event="ping", reply={"pong": b"\x01"})
    result = await a.command("server_side_emit", nsp="/", event="ping", args=[42], ack=True)
    # The server-side-emit ack is JSON on the wire, so the Buffer reply arrives as
    # Node's Buffer.toJSON() form.
    assert result == {"err": None, "responses": [{"pong": {"type": "Buffer", "data": [1]}}]}
    event = await b.wait_event("server_side_event", name="ping")
    assert event["args"] == [42] and event["ack"] is True


async def test_emit_with_ack_and_client_events(
    peers: tuple[NodePeer, NodePeer], clients: list[RecordingClient]
) -> None:
    a, b = peers
    c1 = await connect(clients, a)
    c2 = await connect(clients, b)
    c1.sio.on("ask", lambda *args: ["a", *args], namespace="/")
    c2.sio.on("ask", lambda *args: b"\x07", namespace="/")
    result = await a.command("emit_with_ack", nsp="/", event="ask", args=[1], timeout=2000)
    assert result["err"] is None
    assert sorted(result["responses"], key=repr) == sorted([["a", 1], b"\x07"], key=repr)

    await b.command("set_ack_reply", value={"ok": b"\x09"})
    reply = await asyncio.wait_for(c2.sio.call("hi", [b"\x01", 2], timeout=5), 6)
    assert reply == {"ok": b"\x09"}
    event = await b.wait_event("client_event", name="hi", id=c2.sio.get_sid("/"))
    assert event["args"] == [[b"\x01", 2]] and event["ack"] is True


async def test_join_leave_and_remote_socket_ops(
    peers: tuple[NodePeer, NodePeer], clients: list[RecordingClient]
) -> None:
    a, b = peers
    c1 = await connect(clients, a)
    c2 = await connect(clients, b)
    sid1, sid2 = c1.sio.get_sid("/"), c2.sio.get_sid("/")
    assert "j" in await a.command("join", sid=sid1, room="j")
    listing = await a.command("sockets")
    assert listing["/"] == [{"id": sid1, "rooms": [sid1, "j"]}] and listing["/custom"] == []

    await a.command("sockets_join", nsp="/", rooms=[sid2], target="remote-room")
    for _ in range(50):
        if "remote-room" in (await b.command("sockets"))["/"][0]["rooms"]:
            break
        await asyncio.sleep(0.05)
    else:
        pytest.fail("sockets_join did not reach the other peer")

    await a.command("disconnect_sockets", nsp="/", rooms=["remote-room"], close=False)
    disconnected = await b.wait_event("disconnect", id=sid2)
    assert disconnected["reason"] == "server namespace disconnect"
    assert await a.command("leave", sid=sid1, room="j") == [sid1]


@pytest.mark.parametrize(
    "options",
    [{"parser": "json"}, {"specific_response_channel": True, "requests_timeout_ms": 2000}],
    ids=["json-parser", "specific-response-channel"],
)
async def test_peer_options(
    redis_server: Any, clients: list[RecordingClient], options: dict[str, Any]
) -> None:
    key = f"rig-{uuid.uuid4().hex[:8]}"
    started: list[NodePeer] = []
    try:
        for _ in range(2):
            started.append(await NodePeer.start(redis_server.url, key=key, **options))
        a, b = started
        c1 = await connect(clients, a)
        c2 = await connect(clients, b)
        await b.command("emit", nsp="/", event="test", args=[1, "2", [3]])
        for client in (c1, c2):
            assert await client.wait_for("test") == [1, "2", [3]]
        found = await a.command("fetch_sockets", nsp="/")
        assert {s["id"] for s in found} == {c1.sio.get_sid("/"), c2.sio.get_sid("/")}
    finally:
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
        await asyncio.gather(*(p.stop() for p in started), return_exceptions=True)
