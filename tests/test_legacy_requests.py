"""The legacy requests Node 8.3 still answers: SOCKETS and the by-sid join/leave/disconnect."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from tests.support.redis_server import RedisServer
from tests.support.sio_cluster import Client, PyServer


class Requester:
    """A raw Redis client that sends requests and reads the shared response channel."""

    def __init__(self, url: str, key: str) -> None:
        self.redis = aioredis.Redis.from_url(url)
        self.pubsub = self.redis.pubsub()
        self.key = key
        self.seen: list[dict[str, Any]] = []

    async def start(self) -> None:
        await self.pubsub.subscribe(f"{self.key}-response#/#")

    async def request(self, body: dict[str, Any]) -> None:
        await self.redis.publish(f"{self.key}-request#/#", json.dumps(body))

    async def response(self, request_id: str, timeout: float = 5.0) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            message = await self.pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2)
            if message is not None:
                body: dict[str, Any] = json.loads(message["data"])
                self.seen.append(body)
                if body.get("requestId") == request_id:
                    return body
        raise AssertionError(f"no response to {request_id}")

    async def close(self) -> None:
        await self.pubsub.aclose()
        await self.redis.aclose()


@pytest.fixture
async def setup(
    redis_server: RedisServer,
) -> AsyncIterator[tuple[PyServer, Client, Requester]]:
    key = f"legacy-{uuid.uuid4().hex[:8]}"
    server = await PyServer.start(redis_server.url, key=key)
    client = await Client.connect(server.url, rooms=["r"])
    requester = Requester(redis_server.url, key)
    await requester.start()
    try:
        yield server, client, requester
    finally:
        await requester.close()
        await client.close()
        await server.stop()


async def test_sockets_request_is_answered(setup: tuple[PyServer, Client, Requester]) -> None:
    server, client, requester = setup
    await requester.request({"uid": "legacy", "requestId": "q1", "type": 0, "rooms": ["r"]})
    assert await requester.response("q1") == {"requestId": "q1", "sockets": [client.sid()]}
    await requester.request({"uid": "legacy", "requestId": "q2", "type": 0, "rooms": ["none"]})
    assert await requester.response("q2") == {"requestId": "q2", "sockets": []}


async def test_by_sid_join_leave_and_disconnect(
    setup: tuple[PyServer, Client, Requester],
) -> None:
    server, client, requester = setup
    sid = client.sid()
    await requester.request(
        {"uid": "legacy", "requestId": "j1", "type": 2, "sid": sid, "room": "joined"}
    )
    assert await requester.response("j1") == {"requestId": "j1"}
    assert "joined" in server.sio.rooms(sid)
    await requester.request(
        {"uid": "legacy", "requestId": "l1", "type": 3, "sid": sid, "room": "joined"}
    )
    assert await requester.response("l1") == {"requestId": "l1"}
    assert "joined" not in server.sio.rooms(sid)
    await requester.request(
        {"uid": "legacy", "requestId": "d1", "type": 4, "sid": sid, "close": False}
    )
    assert await requester.response("d1") == {"requestId": "d1"}
    for _ in range(100):
        if not client.sio.connected:
            break
        await asyncio.sleep(0.02)
    assert not client.sio.connected


async def test_by_sid_request_for_an_unknown_sid_is_not_answered(
    setup: tuple[PyServer, Client, Requester],
) -> None:
    server, client, requester = setup
    await requester.request(
        {"uid": "legacy", "requestId": "u1", "type": 2, "sid": "nobody", "room": "x"}
    )
    await requester.request({"uid": "legacy", "requestId": "q3", "type": 0, "rooms": []})
    # the SOCKETS request sent after it is answered; the unknown-sid one never is
    assert (await requester.response("q3"))["requestId"] == "q3"
    assert [body["requestId"] for body in requester.seen] == ["q3"]
