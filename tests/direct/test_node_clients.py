"""Direct frames with Node's socket.io-client: websocket clients with and without
permessage-deflate negotiated, long-polling clients and clients upgrading from
long-polling in one room while every source sends; acks of per-client emits."""

from __future__ import annotations

import pytest

from tests.direct.rig import (
    expected_sequences,
    send_every_source,
    sequences,
    server_and_peer,
    wait_until,
)
from tests.support.node_clients import NodeClients
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.node


@pytest.mark.parametrize("direct", [True, False], ids=["direct", "queue-only"])
@pytest.mark.parametrize("web_server", ["aiohttp", "uvicorn-websockets-sansio",
                                        "uvicorn-wsproto", "uvicorn-websockets"])
async def test_node_clients_get_every_source_in_order(
    redis_server: RedisServer, web_server: str, direct: bool,
) -> None:
    server, peer = await server_and_peer(redis_server.url, web_server, direct_frames=direct)
    groups: dict[str, NodeClients] = {}
    count = 150
    try:
        groups["deflate"] = await NodeClients.start(server.url, 2, rooms=["r"], deflate=True)
        groups["plain"] = await NodeClients.start(server.url, 2, rooms=["r"], deflate=False)
        for report in groups["deflate"].connected.values():
            assert report["extensions"].startswith("permessage-deflate"), report
        for report in groups["plain"].connected.values():
            assert report["extensions"] == "", report
        # the upgrade happens while the sources send (not waited for)
        groups["upgrading"] = await NodeClients.start(
            server.url, 1, rooms=["r"], transports=("polling", "websocket"))
        groups["polling"] = await NodeClients.start(
            server.url, 1, rooms=["r"], transports=("polling",))
        await wait_until(lambda: len(list(server.adapter.get_participants("/", "r"))) == 6,
                         "six clients in the room")
        await send_every_source(server, peer, "r", count)
        for name, group in groups.items():
            for event in ("remote", "local", "queued"):
                await group.wait_for(event, count, timeout=30)
            await group.wait_for("bin", count // 5, timeout=30)
            for i in range(group.count):
                assert sequences(lambda event, i=i, g=group: g.named(i, event)) == \
                    expected_sequences(count), (name, i)
        assert groups["upgrading"].connected[0]["transport"] == "websocket"
        stats = server.adapter.stats
        if direct:
            assert stats["direct_frames"] > 0, stats
        else:
            assert stats["direct_frames"] == 0, stats
    finally:
        for group in groups.values():
            await group.stop()
        await peer.stop()
        await server.stop()


@pytest.mark.parametrize("web_server", ["aiohttp", "uvicorn-websockets-sansio"])
async def test_per_client_emits_with_acks(redis_server: RedisServer, web_server: str) -> None:
    """Each recipient's packet has its own ack id (frames made per recipient)."""
    server, peer = await server_and_peer(redis_server.url, web_server)
    clients = None
    try:
        clients = await NodeClients.start(server.url, 3, rooms=["r"])
        sids = [sid for sid, _ in server.adapter.get_participants("/", "r")]
        before = server.adapter.stats["direct_frames"]
        for n in range(10):
            for sid in sids:
                reply = await server.sio.call("ask", n, to=sid, timeout=5)
                assert reply[0] == "node-ack", reply
        assert server.adapter.stats["direct_frames"] - before == 30
        for i in range(3):
            assert [args[0] for args in clients.named(i, "ask")] == list(range(10))
    finally:
        if clients is not None:
            await clients.stop()
        await peer.stop()
        await server.stop()
