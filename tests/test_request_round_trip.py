"""Requests to the other servers in one round trip: the request goes out with the
PUBSUB NUMSUB that counts the servers, and the waiter learns how many answers to
wait for afterwards (answers that came first count)."""

from __future__ import annotations

import json
import uuid

import pytest
import redis.asyncio as aioredis

from socketio_redis_adapter import RawPubSub, RedisPubSub
from socketio_redis_adapter.core.clock import AsyncioClock
from socketio_redis_adapter.core.waiters import RequestTimeoutError, ResponseWaiter
from socketio_redis_adapter.protocol.requests import RequestType
from tests.support.redis_server import RedisServer
from tests.support.sio_cluster import Client, PyServer


def _waiter(registry: dict[str, object], timeout: float = 5.0) -> ResponseWaiter:
    return ResponseWaiter(registry, "r1", 5, None, timeout,
                          lambda got, want: f"{got} of {want}", AsyncioClock())


async def test_answers_before_the_count_are_kept() -> None:
    registry: dict[str, object] = {}
    waiter = _waiter(registry)
    registry["r1"] = waiter
    waiter.add("a")
    waiter.add("b")
    assert not waiter.done  # how many to wait for is not known yet
    waiter.expect(2)
    assert await waiter.wait() == ["a", "b"]
    assert registry == {}


async def test_the_count_first_then_the_answers() -> None:
    waiter = _waiter({})
    waiter.expect(2)
    waiter.add("a")
    assert not waiter.done
    waiter.add("b")
    assert await waiter.wait() == ["a", "b"]


async def test_no_other_server_ends_it_at_once() -> None:
    waiter = _waiter({})
    waiter.expect(0)
    assert await waiter.wait() == []


async def test_a_count_that_never_comes_times_out() -> None:
    waiter = _waiter({}, timeout=0.05)
    waiter.add("a")
    with pytest.raises(RequestTimeoutError, match="1 of 0") as raised:
        await waiter.wait()
    assert raised.value.responses == ["a"]


#: the transports that count and publish in one round trip: the lean connections, and
#: redis-py's (``redis_options`` given) in one pipeline
TRANSPORTS = {
    "raw": ({}, RawPubSub),
    "redis-py": ({"redis_options": {"socket_keepalive": True}}, RedisPubSub),
}


@pytest.fixture(params=sorted(TRANSPORTS))
def transport(request: pytest.FixtureRequest) -> tuple[dict[str, object], type]:
    return TRANSPORTS[request.param]


async def test_a_server_alone_gets_its_answers_without_waiting(
    redis_server: RedisServer, transport: tuple[dict[str, object], type]
) -> None:
    """Alone, the request reaches no other server: the count says so and nothing is
    waited for (a wrong count would raise RequestTimeoutError after 5 s)."""
    options, transport_class = transport
    key = f"rt-{uuid.uuid4().hex[:8]}"
    server = await PyServer.start(redis_server.url, key=key, requests_timeout=5.0, **options)
    client = await Client.connect(server.url, rooms=["r"])
    # a pattern subscriber is not counted by PUBSUB NUMSUB: it sees what was published
    watcher = aioredis.Redis.from_url(redis_server.url)
    watch = watcher.pubsub()
    await watch.psubscribe(f"{key}-request#*")
    try:
        assert isinstance(server.adapter.connection, transport_class)
        assert [s.id for s in await server.adapter.fetch_sockets("r")] == [client.sid()]
        assert "r" in await server.adapter.all_rooms()
        assert await server.adapter.server_side_call("ping") == []
        # the requests went out with the count (in two round trips nothing would be sent)
        seen = []
        for _ in range(50):
            message = await watch.get_message(ignore_subscribe_messages=True, timeout=0.1)
            if message is not None:
                seen.append(json.loads(message["data"])["type"])
            if len(seen) == 3:
                break
        assert sorted(seen) == sorted([
            RequestType.REMOTE_FETCH, RequestType.ALL_ROOMS, RequestType.SERVER_SIDE_EMIT,
        ])
    finally:
        await watch.aclose()
        await watcher.aclose()
        await client.close()
        await server.stop()


async def test_answers_from_every_server(
    redis_server: RedisServer, transport: tuple[dict[str, object], type]
) -> None:
    options, transport_class = transport
    key = f"rt-{uuid.uuid4().hex[:8]}"
    servers = [await PyServer.start(redis_server.url, key=key, **options) for _ in range(3)]
    clients = [await Client.connect(server.url, rooms=["r"]) for server in servers]
    try:
        for server in servers[1:]:
            server.adapter.on_server_side_event("ping", lambda: "pong")
        asker = servers[0].adapter
        assert isinstance(asker.connection, transport_class)
        for _ in range(20):
            fetched = await asker.fetch_sockets("r")
            assert sorted(s.id for s in fetched) == sorted(c.sid() for c in clients)
            assert await asker.server_side_call("ping") == ["pong", "pong"]
    finally:
        for client in clients:
            await client.close()
        for server in servers:
            await server.stop()
