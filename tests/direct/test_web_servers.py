"""Direct frames on asyncio servers (aiohttp; uvicorn with each websocket library),
with python-socketio's client: used where the versions are known, per-client order
of direct writes and queued packets from every source, the off switch, and the
fall-back to the queue on versions it does not know."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from socketio_redis_adapter.core.direct import async_writer
from tests.direct.rig import (
    WEB_SERVERS,
    expected_sequences,
    send_every_source,
    sequences,
    server_and_peer,
    wait_until,
)
from tests.support.redis_server import RedisServer
from tests.support.sio_cluster import Client


@pytest.mark.parametrize("web_server", WEB_SERVERS)
async def test_direct_frames_serve_each_known_web_server(
    redis_server: RedisServer, web_server: str,
) -> None:
    server, peer = await server_and_peer(redis_server.url, web_server)
    client = None
    try:
        assert server.adapter.direct_frames_off is None
        client = await Client.connect(server.url, rooms=["r"])
        assert server.adapter.table_sizes()["direct_clients"] == 1
        for n in range(30):
            await peer.sio.emit("remote", n, to="r")
            await asyncio.sleep(0.005)  # one at a time: each finds the client idle
        got = await client.wait_for("remote", 30, timeout=10)
        assert [args[0] for args in got] == list(range(30))
        stats = server.adapter.stats
        assert stats["direct_frames"] >= 25, stats
        await client.close()
        client = None
        await wait_until(lambda: server.adapter.table_sizes()["direct_clients"] == 0,
                         "forgotten after the client left")
    finally:
        if client is not None:
            await client.close()
        await peer.stop()
        await server.stop()


@pytest.mark.parametrize("direct", [True, False], ids=["direct", "queue-only"])
@pytest.mark.parametrize("web_server", WEB_SERVERS)
async def test_each_client_gets_every_source_in_order(
    redis_server: RedisServer, web_server: str, direct: bool,
) -> None:
    """Broadcasts through Redis and local emits (direct writes when the client is idle)
    interleaved with packets put on Engine.IO's queue and binary emits, to websocket
    clients with and without permessage-deflate and one upgraded from long-polling."""
    server, peer = await server_and_peer(redis_server.url, web_server, direct_frames=direct)
    clients: list[Client] = []
    count = 200
    try:
        clients = [
            await Client.connect(server.url, rooms=["r"]),
            await Client.connect(server.url, rooms=["r"], deflate=True),
            await Client.connect(server.url, rooms=["r"], transports=["polling", "websocket"]),
        ]
        assert [c.deflate > 0 for c in clients] == [False, True, False]
        # python-engineio's client refuses a poll of more than 16 packets: upgraded first
        await wait_until(lambda: all(s.upgraded for s in server.sio.eio.sockets.values()),
                         "upgraded")
        await send_every_source(server, peer, "r", count)
        for client in clients:
            for event in ("remote", "local", "queued"):
                await client.wait_for(event, count, timeout=30)
            await client.wait_for("bin", count // 5, timeout=30)
            assert sequences(client.named) == expected_sequences(count)
        stats = server.adapter.stats
        if direct:
            assert stats["direct_frames"] > 0 and stats["direct_frames_queued"] > 0, stats
        else:
            assert server.adapter.direct_frames_off == "turned off (direct_frames=False)"
            assert stats["direct_frames"] == stats["direct_frames_queued"] == 0, stats
            assert server.adapter.table_sizes()["direct_clients"] == 0
    finally:
        for client in clients:
            await client.close()
        await peer.stop()
        await server.stop()


@pytest.fixture
def unknown_version(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Make one library's installed version unknown to direct frames."""
    distribution = request.param
    monkeypatch.setitem(async_writer.KNOWN_VERSIONS, distribution, ("0.0.",))
    async_writer._version_reason.cache_clear()
    yield distribution
    async_writer._version_reason.cache_clear()


@pytest.mark.parametrize(
    ("unknown_version", "web_server"),
    [("python-engineio", "aiohttp"), ("aiohttp", "aiohttp"),
     ("uvicorn", "uvicorn-websockets-sansio"), ("websockets", "uvicorn-websockets")],
    indirect=["unknown_version"],
)
async def test_a_version_it_does_not_know_gets_the_queue(
    redis_server: RedisServer, unknown_version: str, web_server: str,
) -> None:
    server, peer = await server_and_peer(redis_server.url, web_server)
    client = None
    try:
        off = server.adapter.direct_frames_off
        if web_server == "aiohttp":
            assert off is not None and unknown_version in off, off
        else:  # ASGI: the server may be anything; each connection is checked
            assert off is None
        client = await Client.connect(server.url, rooms=["r"])
        assert server.adapter.table_sizes()["direct_clients"] == 0
        for n in range(20):
            await peer.sio.emit("remote", n, to="r")
            await server.sio.emit("local", n, to="r")
        assert [a[0] for a in await client.wait_for("remote", 20)] == list(range(20))
        assert [a[0] for a in await client.wait_for("local", 20)] == list(range(20))
        assert server.adapter.stats["direct_frames"] == 0
    finally:
        if client is not None:
            await client.close()
        await peer.stop()
        await server.stop()
