"""No callback entry outlives a broadcast with acknowledgements, on either side."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from socketio_redis_adapter import RequestTimeoutError
from tests.support.node_peer import NodePeer
from tests.support.redis_server import RedisServer
from tests.support.sio_cluster import Client, PyServer


def _silence(client: Client, event: str, release: asyncio.Event) -> None:
    """Make ``client`` receive ``event`` but never acknowledge it (until released)."""

    async def handler(*args: Any) -> str:
        await release.wait()
        return "late"

    client.sio.on(event, handler)


def _pending(server: PyServer) -> int:
    return sum(len(entries) - 1 for entries in server.adapter.callbacks.values())


async def test_unanswered_local_acks_are_forgotten_after_the_timeout(
    redis_server: RedisServer,
) -> None:
    server = await PyServer.start(redis_server.url, key=f"acks-{uuid.uuid4().hex[:8]}")
    release = asyncio.Event()
    clients = [await Client.connect(server.url) for _ in range(2)]
    try:
        _silence(clients[1], "q", release)
        with pytest.raises(RequestTimeoutError) as caught:
            await server.adapter.emit_with_ack("q", 1, timeout=0.3)
        assert caught.value.responses == ["client-ack"]
        await asyncio.sleep(0.05)
        assert _pending(server) == 0
        assert server.adapter.engine.pending.acks == {}
    finally:
        release.set()
        for client in clients:
            await client.close()
        await server.stop()


@pytest.mark.node
async def test_unanswered_acks_of_a_node_request_are_forgotten(
    redis_server: RedisServer,
) -> None:
    key = f"acks-{uuid.uuid4().hex[:8]}"
    node = await NodePeer.start(redis_server.url, key=key)
    server = await PyServer.start(redis_server.url, key=key)
    release = asyncio.Event()
    client = await Client.connect(server.url)
    try:
        _silence(client, "q", release)
        result = await node.command(
            "emit_with_ack", nsp="/", event="q", args=[1], rooms=[], timeout_=300
        )
        assert result["err"] == "operation has timed out"
        for _ in range(50):  # the responder forgets them at its own copy of the timeout
            if _pending(server) == 0:
                break
            await asyncio.sleep(0.02)
        assert _pending(server) == 0
    finally:
        release.set()
        await client.close()
        await server.stop()
        await node.stop()
