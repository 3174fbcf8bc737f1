"""Broadcasts between real Node.js servers (@socket.io/redis-adapter 8.3.0) and
python-socketio servers with our adapter, on one Redis, in both directions."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.support.mixed import emit_from
from tests.support.node_peer import NodePeer
from tests.support.redis_server import RedisServer
from tests.support.sio_cluster import Client, PyServer, close_all

pytestmark = pytest.mark.node

NAMESPACES = ("/", "/custom")


class Mixed:
    """One Node server and two Python servers; client 0 is on Node.

    Rooms: client 0 in room1 and 123, client 1 in room1 and room2, client 2
    in room3.
    """

    def __init__(self, node: NodePeer, servers: list[PyServer], clients: list[Client]) -> None:
        self.node = node
        self.servers = servers
        self.clients = clients

    async def emit(self, sender: str, event: str, args: list[Any], **options: Any) -> None:
        """``emit_from`` this rig's Node peer or Python adapter (same options)."""
        await emit_from(sender, self.node, self.servers[0].adapter, event, args, **options)

    async def check(
        self, sender: str, event: str, expected: dict[int, list[Any]], nsp: str = "/"
    ) -> None:
        """Each client in ``expected`` got the args once; the others nothing.

        A marker broadcast to everyone from the same server follows the event,
        so a client that got the marker would have got the event before it.
        """
        marker = f"marker-{uuid.uuid4().hex[:6]}"
        await self.emit(sender, marker, [], nsp=nsp)
        for number, client in enumerate(self.clients):
            await client.wait_for(marker, namespace=nsp)
            got = client.named(event, nsp)
            if number in expected:
                assert got == [expected[number]], f"client {number} got {got}"
            else:
                assert got == [], f"client {number} should not get {event}: {got}"


@pytest.fixture
async def mixed(redis_server: RedisServer) -> AsyncIterator[Mixed]:
    key = f"mixed-{uuid.uuid4().hex[:8]}"
    node = await NodePeer.start(redis_server.url, key=key, namespaces=NAMESPACES)
    servers: list[PyServer] = []
    clients: list[Client] = []
    try:
        servers = [await PyServer.start(redis_server.url, key=key) for _ in range(2)]
        urls = [node.url, servers[0].url, servers[1].url]
        rooms: list[list[Any]] = [["room1", 123], ["room1", "room2"], ["room3"]]
        for url, client_rooms in zip(urls, rooms, strict=True):
            clients.append(await Client.connect(url, rooms=client_rooms, namespaces=NAMESPACES))
        for nsp in NAMESPACES:
            await node.wait_event("connection", nsp=nsp, id=clients[0].sid(nsp))
        yield Mixed(node, servers, clients)
    finally:
        await close_all(clients, servers)
        await node.stop()


SENDERS = ["node", "py"]


@pytest.mark.parametrize("sender", SENDERS)
async def test_to_all_with_binary(mixed: Mixed, sender: str) -> None:
    args = [1, "2", b"\x03\x04", {"nested": [b"\x05"]}]
    await mixed.emit(sender, "test", args)
    await mixed.check(sender, "test", {0: args, 1: args, 2: args})


@pytest.mark.parametrize("sender", SENDERS)
async def test_to_namespace(mixed: Mixed, sender: str) -> None:
    await mixed.emit(sender, "c", ["x"], nsp="/custom")
    await mixed.check(sender, "c", {0: ["x"], 1: ["x"], 2: ["x"]}, nsp="/custom")
    for client in mixed.clients:
        assert client.named("c") == []


@pytest.mark.parametrize("sender", SENDERS)
async def test_to_room(mixed: Mixed, sender: str) -> None:
    await mixed.emit(sender, "r", [{"a": 1}], rooms=["room1"])
    await mixed.check(sender, "r", {0: [{"a": 1}], 1: [{"a": 1}]})


@pytest.mark.parametrize("sender", SENDERS)
async def test_to_numeric_room(mixed: Mixed, sender: str) -> None:
    await mixed.emit(sender, "num", [7], rooms=[123])
    await mixed.check(sender, "num", {0: [7]})


@pytest.mark.parametrize("sender", SENDERS)
async def test_to_several_rooms_once_each_except_room(mixed: Mixed, sender: str) -> None:
    await mixed.emit(
        sender, "once", ["o"], rooms=["room1", "room2", "room3"], except_rooms=["room3"]
    )
    await mixed.check(sender, "once", {0: ["o"], 1: ["o"]})


@pytest.mark.parametrize("sender", SENDERS)
async def test_except_room(mixed: Mixed, sender: str) -> None:
    await mixed.emit(sender, "ex", [], except_rooms=["room1"])
    await mixed.check(sender, "ex", {2: []})


@pytest.mark.parametrize("sender", SENDERS)
async def test_to_single_socket_on_the_other_side(mixed: Mixed, sender: str) -> None:
    target = 2 if sender == "node" else 0
    await mixed.emit(sender, "single", ["s"], rooms=[mixed.clients[target].sid()])
    await mixed.check(sender, "single", {target: ["s"]})


@pytest.mark.parametrize("sender", SENDERS)
async def test_local_only(mixed: Mixed, sender: str) -> None:
    await mixed.emit(sender, "loc", [1], local=True)
    await mixed.check(sender, "loc", {0 if sender == "node" else 1: [1]})


async def test_node_socket_broadcast_skips_the_sender(mixed: Mixed) -> None:
    await mixed.node.command(
        "socket_emit", sid=mixed.clients[0].sid(), nsp="/", event="b", args=["y"], broadcast=True
    )
    await mixed.check("node", "b", {1: ["y"], 2: ["y"]})


async def test_python_skip_sid_reaches_node(mixed: Mixed) -> None:
    await mixed.servers[1].sio.emit("skip", "z", skip_sid=mixed.clients[0].sid())
    await mixed.clients[1].wait_for("skip")
    await mixed.check("py", "skip", {1: ["z"], 2: ["z"]})


async def test_python_enter_room_for_a_node_socket(mixed: Mixed) -> None:
    node_sid = mixed.clients[0].sid()
    await mixed.servers[0].sio.enter_room(node_sid, "late")
    for _ in range(50):  # the join travels through Redis: poll, bounded
        sockets = await mixed.node.command("sockets")
        if any(s["id"] == node_sid and "late" in s["rooms"] for s in sockets["/"]):
            break
        await asyncio.sleep(0.02)
    else:
        raise AssertionError(f"the Node socket never joined 'late': {sockets}")
    await mixed.emit("py", "late-news", [1], rooms=["late"])
    await mixed.check("py", "late-news", {0: [1]})


async def test_json_parser_cluster_both_ways(redis_server: RedisServer) -> None:
    """Node's ``parser: JSON`` option and ours interoperate (binary becomes Buffer JSON)."""
    key = f"json-{uuid.uuid4().hex[:8]}"
    node = await NodePeer.start(redis_server.url, key=key, parser="json")
    server = await PyServer.start(redis_server.url, key=key, parser="json")
    clients: list[Client] = []
    try:
        clients = [await Client.connect(url, rooms=["r"]) for url in (node.url, server.url)]
        await node.wait_event("connection", nsp="/", id=clients[0].sid())
        await node.command("emit", nsp="/", event="from-node", args=[1, "2", [3]], rooms=["r"])
        await server.adapter.emit("from-py", (1, "2", [3], b"\x04"), "/", to="r")
        assert await clients[1].wait_for("from-node") == [[1, "2", [3]]]
        assert await clients[0].wait_for("from-py") == [
            [1, "2", [3], {"type": "Buffer", "data": [4]}]
        ]
    finally:
        for client in clients:
            await client.close()
        await server.stop()
        await node.stop()
