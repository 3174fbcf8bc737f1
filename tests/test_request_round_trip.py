"""Requests to the other servers in one round trip: the request goes out with the
PUBSUB NUMSUB that counts the servers, and the waiter learns how many answers to
wait for afterwards (answers that came first count)."""

from __future__ import annotations

import uuid

import pytest

from socketio_redis_adapter import RawPubSub
from socketio_redis_adapter.core.clock import AsyncioClock
from socketio_redis_adapter.core.waiters import RequestTimeoutError, ResponseWaiter
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


async def test_a_server_alone_gets_its_answers_without_waiting(redis_server: RedisServer
                                                               ) -> None:
    """Alone, the request reaches no other server: the count says so and nothing is
    waited for (a wrong count would raise RequestTimeoutError after 5 s)."""
    server = await PyServer.start(redis_server.url, key=f"rt-{uuid.uuid4().hex[:8]}",
                                  requests_timeout=5.0)
    client = await Client.connect(server.url, rooms=["r"])
    try:
        assert isinstance(server.adapter.connection, RawPubSub)
        assert [s.id for s in await server.adapter.fetch_sockets("r")] == [client.sid()]
        assert "r" in await server.adapter.all_rooms()
        assert await server.adapter.server_side_call("ping") == []
    finally:
        await client.close()
        await server.stop()


async def test_answers_from_every_server(redis_server: RedisServer) -> None:
    key = f"rt-{uuid.uuid4().hex[:8]}"
    servers = [await PyServer.start(redis_server.url, key=key) for _ in range(3)]
    clients = [await Client.connect(server.url, rooms=["r"]) for server in servers]
    try:
        for server in servers[1:]:
            server.adapter.on_server_side_event("ping", lambda: "pong")
        asker = servers[0].adapter
        for _ in range(20):
            fetched = await asker.fetch_sockets("r")
            assert sorted(s.id for s in fetched) == sorted(c.sid() for c in clients)
            assert await asker.server_side_call("ping") == ["pong", "pong"]
    finally:
        for client in clients:
            await client.close()
        for server in servers:
            await server.stop()
