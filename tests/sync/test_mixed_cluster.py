"""A sync server (threading, gevent or eventlet; Flask-SocketIO or plain), an asyncio server
and a Node 8.3 server on one Redis: broadcasts and cross-server calls in every direction.

The sync server runs in its own process (``tests/support/sync_peer.py``), as gevent and
eventlet patch the whole process; the Node server is ``tests/node/peer.js`` with the real
``@socket.io/redis-adapter``; every client is a real Socket.IO client over websocket.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.support.node_peer import NodePeer
from tests.support.redis_server import RedisServer
from tests.support.sio_cluster import Client, PyServer, settle
from tests.support.sync_process import SyncPeer

pytestmark = pytest.mark.node

#: (async mode, framework) of the sync server
MODES = [("threading", "flask"), ("gevent", "flask"), ("eventlet", "plain")]


class Mixed:
    def __init__(self, sync: SyncPeer, py: PyServer, node: NodePeer) -> None:
        self.sync, self.py, self.node = sync, py, node
        self.clients: list[Client] = []

    async def client(self, url: str, rooms: list[str]) -> Client:
        client = await Client.connect(url, rooms=rooms)
        self.clients.append(client)
        return client


@pytest.fixture(params=MODES, ids=[f"{m}-{f}" for m, f in MODES])
async def mixed(request: pytest.FixtureRequest, redis_server: RedisServer
                ) -> AsyncIterator[Mixed]:
    mode, framework = request.param
    key = f"mixed-{uuid.uuid4().hex[:8]}"
    sync = await SyncPeer.start(mode, framework, redis_server.url, key)
    py = node = None
    rig = None
    try:
        py = await PyServer.start(redis_server.url, key=key, requests_timeout=2.0)
        node = await NodePeer.start(redis_server.url, key=key, requests_timeout_ms=2000)
        rig = Mixed(sync, py, node)
        yield rig
    finally:
        if rig is not None:
            for client in rig.clients:
                await client.close()
        if node is not None:
            await node.stop()
        if py is not None:
            await py.stop()
        await sync.stop()


async def test_broadcasts_in_every_direction(mixed: Mixed) -> None:
    on_sync = await mixed.client(mixed.sync.url, ["room"])
    on_py = await mixed.client(mixed.py.url, ["room"])
    on_node = await mixed.client(mixed.node.url, ["room"])
    everyone = (on_sync, on_py, on_node)
    assert await mixed.sync.command("server_count") == 3

    await mixed.sync.command("emit", event="from-sync", args=[{"n": 1}], to="room")
    await mixed.py.sio.emit("from-py", [2], to="room")
    await mixed.node.command("emit", event="from-node", args=["three"], rooms=["room"])
    for client in everyone:
        assert await client.wait_for("from-sync") == [[{"n": 1}]]
        assert await client.wait_for("from-py") == [[[2]]]
        assert await client.wait_for("from-node") == [["three"]]
    # except-rooms and a single sid on another server, from the sync server
    await mixed.sync.command("emit", event="direct", args=[4], to=on_node.sid())
    assert await on_node.wait_for("direct") == [[4]]
    vip = await mixed.client(mixed.py.url, ["room", "vip"])
    await mixed.sync.command("emit", event="not-vip", args=[5], to="room",
                             except_rooms=["vip"])
    for client in everyone:
        await client.wait_for("not-vip")
    await settle()
    assert vip.named("not-vip") == []
    assert on_sync.named("direct") == [] and on_py.named("direct") == []


async def test_cross_server_calls_in_every_direction(mixed: Mixed) -> None:
    on_sync = await mixed.client(mixed.sync.url, ["r"])
    on_py = await mixed.client(mixed.py.url, ["r"])
    on_node = await mixed.client(mixed.node.url, ["r"])
    sids = {on_sync.sid(), on_py.sid(), on_node.sid()}

    # the sync server asks the others
    fetched = await mixed.sync.command("fetch_sockets", rooms="r")
    assert {x["id"] for x in fetched} == sids
    rooms = set(await mixed.sync.command("all_rooms"))
    assert {"r"} | sids <= rooms
    # the others ask the sync server (the async one, and Node's fetchSockets / allRooms)
    assert {x.id for x in await mixed.py.adapter.fetch_sockets("r")} == sids
    node_fetched = await mixed.node.command("fetch_sockets", rooms=["r"])
    assert {x["id"] for x in node_fetched} == sids
    assert on_sync.sid() in set(await mixed.node.command("all_rooms"))

    # server-side events with replies
    await mixed.sync.command("on_server_side_event", event="hi", reply="sync-reply")
    mixed.py.adapter.on_server_side_event("hi", lambda *args: "py-reply")
    await mixed.node.command("on_server_side_event", event="hi", reply="node-reply")
    result = await mixed.sync.command("server_side_call", event="hi", args=[1])
    assert sorted(result["responses"]) == ["node-reply", "py-reply"]
    assert sorted(await mixed.py.adapter.server_side_call("hi", 2)) == [
        "node-reply", "sync-reply"]
    node_result = await mixed.node.command("server_side_emit", event="hi", args=[3], ack=True)
    assert node_result["err"] is None
    assert sorted(node_result["responses"]) == ["py-reply", "sync-reply"]
    events = [e for e in mixed.sync.events if e.get("event") == "server_side_event"]
    assert [e["args"] for e in events] == [[2], [3]]

    # joins by selector from the sync server reach every server's sockets
    await mixed.sync.command("sockets_join", join="joined", rooms="r")
    # a join by selector is not answered (Node's protocol): wait until every server applied
    # it (Node's own view, asked of all three) before Node emits to the room
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while True:
        joined = await mixed.node.command("fetch_sockets", rooms=["joined"])
        if {x["id"] for x in joined} == sids:
            break
        assert loop.time() < deadline, f"the join did not reach every server: {joined}"
        await asyncio.sleep(0.05)
    await mixed.node.command("emit", event="to-joined", args=[1], rooms=["joined"])
    try:
        for client in (on_sync, on_py, on_node):
            await client.wait_for("to-joined", timeout=10)
    except AssertionError as exc:  # seen twice in CI on Python 3.10 before the wait above
        joined = await mixed.sync.command("fetch_sockets", rooms="joined")
        raise AssertionError(
            f"{exc}; in 'joined' (fetched by the sync server): {[x['id'] for x in joined]} "
            f"(on_sync is {on_sync.sid()}); its stats: {await stats_of(mixed.sync)}; "
            f"on_py got {on_py.events}, on_node got {on_node.events}"
        ) from None

    # broadcasts with acks from the sync server, and from Node to the sync server's client
    acks = await mixed.sync.command("emit_with_ack", event="ack?", args=[1], to="r", timeout=5)
    assert len(acks) == 3
    node_acks = await mixed.node.command("emit_with_ack", event="ack?", args=[2],
                                         rooms=[on_sync.sid()], timeout=3000)
    assert node_acks["err"] is None and node_acks["responses"] == ["client-ack"]


async def stats_of(peer: SyncPeer) -> dict[str, Any]:
    result: dict[str, Any] = await peer.command("stats")
    return result


async def test_the_sync_server_leaves_nothing_behind(mixed: Mixed) -> None:
    await mixed.client(mixed.sync.url, ["r"])
    await mixed.client(mixed.node.url, ["r"])
    for _ in range(3):
        await mixed.sync.command("fetch_sockets", rooms="r")
        await mixed.sync.command("emit_with_ack", event="ack?", args=[1], to="r", timeout=5)
    await asyncio.sleep(0.2)
    tables = (await stats_of(mixed.sync))["tables"]
    assert tables["pending_requests"] == 0 and tables["pending_acks"] == 0
    assert tables["background_tasks"] <= 1  # at most the stats command itself
