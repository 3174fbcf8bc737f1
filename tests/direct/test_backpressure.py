"""Direct frames under pressure: a client that stops reading (its transport above the
high-water mark gets the queue; every frame arrives whole and in order once it reads
again, and the other clients are not held up); clients that vanish mid-fan-out."""

from __future__ import annotations

import asyncio
import logging

import pytest

from tests.direct.rig import WEB_SERVERS, server_and_peer, wait_until
from tests.support.node_clients import NodeClients
from tests.support.redis_server import RedisServer
from tests.support.sio_cluster import Client
from tests.support.stalled_client import StalledClient


@pytest.mark.parametrize("web_server", WEB_SERVERS)
async def test_a_client_that_stops_reading_gets_every_frame_whole_and_in_order(
    redis_server: RedisServer, web_server: str,
) -> None:
    server, peer = await server_and_peer(redis_server.url, web_server)
    stalled = await asyncio.to_thread(StalledClient, server.port, ["r"])
    reader = await Client.connect(server.url, rooms=["r"])
    count = 120
    try:
        filler = "x" * 50_000
        for n in range(count):
            await peer.sio.emit("big", {"n": n, "filler": filler}, to="r")
        await reader.wait_for("big", count, timeout=30)  # the other client is not held up
        stats = server.adapter.stats
        # the stalled client's transport went above its high-water mark: queued since
        assert stats["direct_frames_queued"] >= 1, stats
        assert stats["direct_frames"] > 0, stats

        def read_all() -> list[int]:
            events = stalled.read_events(count)
            assert all(event == "big" and data["filler"] == filler for event, data in events)
            return [data["n"] for _, data in events]

        assert await asyncio.to_thread(read_all) == list(range(count))
    finally:
        stalled.close()
        await reader.close()
        await peer.stop()
        await server.stop()


@pytest.mark.node
@pytest.mark.parametrize("web_server", ["aiohttp", "uvicorn-websockets-sansio"])
async def test_clients_that_vanish_mid_fan_out(
    redis_server: RedisServer, web_server: str, caplog: pytest.LogCaptureFixture,
) -> None:
    """Ten clients' connections drop at once (their process killed) while broadcasts
    flow: the client that stays gets everything in order, nothing is logged as an
    error, and the ten are forgotten."""
    caplog.set_level(logging.ERROR)
    server, peer = await server_and_peer(redis_server.url, web_server)
    vanishing = await NodeClients.start(server.url, 10, rooms=["r"])
    staying = await Client.connect(server.url, rooms=["r"])
    count = 300
    try:
        assert server.adapter.table_sizes()["direct_clients"] == 11

        async def broadcasts() -> None:
            for n in range(count):
                await peer.sio.emit("remote", n, to="r")
                await server.sio.emit("local", n, to="r")
                if n % 10 == 0:
                    await asyncio.sleep(0.001)

        sending = asyncio.ensure_future(broadcasts())
        await staying.wait_for("local", count // 3, timeout=20)
        await vanishing.kill()
        await asyncio.wait_for(sending, 30)
        for event in ("remote", "local"):
            got = await staying.wait_for(event, count, timeout=30)
            assert [args[0] for args in got] == list(range(count)), event
        await wait_until(lambda: server.adapter.table_sizes()["direct_clients"] == 1,
                         "the vanished clients forgotten", timeout=20)
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert not errors, [r.getMessage() for r in errors]
    finally:
        await vanishing.stop()
        await staying.close()
        await peer.stop()
        await server.stop()
