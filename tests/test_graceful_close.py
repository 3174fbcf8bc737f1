"""``close()`` with requests, acknowledgements and held broadcasts pending:
each ends with a clear error or is published, nothing hangs, nothing is left;
right after a burst of emits, it waits for Redis to confirm them and logs nothing."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import pytest
import redis.asyncio as aioredis

from socketio_redis_adapter import (
    AdapterClosedError,
    AsyncRedisAdapter,
    AsyncShardedRedisAdapter,
    RedisPubSub,
)
from tests.support.redis_server import RedisServer
from tests.support.sio_cluster import Client, PyServer

PENDING_TABLES = ("pending_requests", "pending_acks", "background_tasks", "offline_queue")


def _adapter_tasks() -> list[asyncio.Task[Any]]:
    """Tasks still running code of the adapter's package."""
    found = []
    for task in asyncio.all_tasks():
        code = getattr(task.get_coro(), "cr_code", None)
        if code is not None and "socketio_redis_adapter" in code.co_filename.replace(
                "src/adapter", "socketio_redis_adapter") and not task.done():
            found.append(task)
    return found


def _options(flavour: str) -> dict[str, Any]:
    prefix = f"close-{uuid.uuid4().hex[:8]}"
    if flavour == "classic":
        return {"key": prefix, "requests_timeout": 30.0}
    return {"adapter_class": AsyncShardedRedisAdapter, "channel_prefix": prefix,
            "subscription_mode": "dynamic", "requests_timeout": 30.0}


@pytest.mark.parametrize("flavour", ["classic", "sharded"])
async def test_close_ends_requests_and_acks_with_a_clear_error_and_drops_nothing_silently(
    own_redis: RedisServer, flavour: str
) -> None:
    server = await PyServer.start(own_redis.url, **_options(flavour))
    client = await Client.connect(server.url, rooms=["room"])
    silent = aioredis.Redis.from_url(own_redis.url)
    pubsub = silent.pubsub()
    adapter = server.adapter
    try:
        if isinstance(adapter, AsyncShardedRedisAdapter):
            await pubsub.execute_command("SSUBSCRIBE", adapter.channels.main("/"))
        else:
            await pubsub.subscribe(adapter.channels.request("/"))
        assert await adapter.server_count() == 2  # the silent one counts
        fetch = asyncio.ensure_future(adapter.fetch_sockets())
        acks = asyncio.ensure_future(adapter.emit_with_ack("question", 1, timeout=30))
        await asyncio.sleep(0.3)
        sizes = adapter.table_sizes()
        assert sizes["pending_requests"] == 1 and sizes["pending_acks"] == 1
        own_redis.kill()
        held = 0
        for attempt in range(50):  # the first ones may go to the dying connection
            await adapter.emit("held", attempt, to="room")
            await asyncio.sleep(0.01)
            held = adapter.table_sizes()["offline_queue"]
            if held >= 5:
                break
        assert held >= 5
        await asyncio.wait_for(adapter.close(), 5)
        for pending in (fetch, acks):
            with pytest.raises(AdapterClosedError):
                await asyncio.wait_for(pending, 1)
        with pytest.raises(AdapterClosedError):
            await adapter.emit("after", 1, to="room")
        assert all(adapter.table_sizes()[name] == 0 for name in PENDING_TABLES)
        assert adapter.stats["offline_dropped"] >= held
        assert not _adapter_tasks()
    finally:
        await client.close()
        await server.stop()
        await silent.aclose()


@pytest.mark.parametrize("flavour", ["classic", "sharded"])
async def test_close_publishes_held_broadcasts_when_redis_answers(
    own_redis: RedisServer, flavour: str
) -> None:
    options = _options(flavour)
    publisher = await PyServer.start(own_redis.url, **options)
    receiver = await PyServer.start(own_redis.url, **options)
    client = await Client.connect(receiver.url, rooms=["room"])
    try:
        # the outage guarantee is about the servers known before it: the publisher
        # counts them every second, so wait until its count includes the receiver
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while publisher.adapter.publisher.known_servers < 2:
            assert loop.time() < deadline, "the publisher never counted 2 servers"
            await asyncio.sleep(0.02)
        own_redis.kill()
        for seq in range(20):
            await publisher.sio.emit("held", seq, to="room")
        await asyncio.to_thread(own_redis.start)
        # the receiver is subscribed again (every channel, its room's too in the sharded
        # flavour, confirmed by Redis); the publisher closes before its own recovery ran
        await receiver.adapter.start()
        deadline = loop.time() + 10
        while not receiver.adapter.connection.connected:
            assert loop.time() < deadline, "the receiver is not subscribed again"
            await asyncio.sleep(0.01)
        await asyncio.wait_for(publisher.adapter.close(), 5)
        got = await client.wait_for("held", 20, timeout=5)
        assert [args[0] for args in got] == list(range(20))
        assert publisher.adapter.stats["offline_dropped"] == 0
        assert publisher.adapter.table_sizes()["offline_queue"] == 0
    finally:
        await client.close()
        for server in (publisher, receiver):
            await server.stop()


BURST = 300


def _package_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records
            if record.name.startswith("socketio_redis_adapter")
            and record.levelno >= logging.WARNING]


@pytest.mark.parametrize("transport", ["classic", "classic-redis-py", "sharded"])
async def test_close_right_after_a_burst_logs_nothing_and_every_emit_arrives(
    own_redis: RedisServer, transport: str, caplog: pytest.LogCaptureFixture
) -> None:
    """An adapter that only emits (no server, as a worker would) closed right after a
    burst: ``close()`` waits for Redis to confirm what was posted, the other server's
    client gets every emit, and nothing is logged, neither during ``close()`` nor
    after it returned (no false "may be lost")."""
    caplog.set_level(logging.INFO, logger="socketio_redis_adapter")
    options = _options("sharded" if transport == "sharded" else "classic")
    receiver = await PyServer.start(own_redis.url, **options)
    client = await Client.connect(receiver.url, rooms=["room"])
    adapter_class = options.pop("adapter_class", AsyncRedisAdapter)
    if transport == "classic-redis-py":
        options["connection"] = RedisPubSub.from_url(own_redis.url)
    sender = adapter_class(own_redis.url, **options)
    try:
        await receiver.adapter.start()
        for seq in range(BURST):
            await sender.emit("burst", seq, to="room")
        await asyncio.wait_for(sender.close(), 5)
        got = await client.wait_for("burst", BURST, timeout=10)
        assert [args[0] for args in got] == list(range(BURST))
        await asyncio.sleep(0.5)  # what the closed adapter would still log
        assert _package_warnings(caplog) == []
        assert sender.stats["publish_failures"] == 0
    finally:
        await client.close()
        await receiver.stop()
        await sender.close()


@pytest.mark.parametrize("flavour", ["classic", "sharded"])
async def test_close_counts_and_logs_what_redis_left_unconfirmed_before_it_returns(
    own_redis: RedisServer, flavour: str, caplog: pytest.LogCaptureFixture
) -> None:
    """With Redis paused past ``close_timeout``, the publishes posted meanwhile are
    counted in ``publish_failures`` and logged once, before ``close()`` returns."""
    caplog.set_level(logging.WARNING, logger="socketio_redis_adapter")
    options = _options(flavour)
    adapter_class = options.pop("adapter_class", AsyncRedisAdapter)
    sender = adapter_class(own_redis.url, **options)
    sender.connection.close_timeout = 0.5
    pauser = aioredis.Redis.from_url(own_redis.url)
    try:
        await sender.emit("first", 0, to="room")
        await asyncio.sleep(0.1)  # answered
        await pauser.execute_command("CLIENT", "PAUSE", "3000", "ALL")
        for seq in range(3):
            await sender.emit("paused", seq, to="room")
        started = asyncio.get_running_loop().time()
        await asyncio.wait_for(sender.close(), 5)
        assert asyncio.get_running_loop().time() - started < 2.5
        lost = [r.getMessage() for r in caplog.records if "may be lost" in r.getMessage()]
        assert lost == ["3 publishes may be lost: Redis had not confirmed them when the "
                        "connection was closed"]
        assert sender.stats["publish_failures"] == 3
    finally:
        await pauser.execute_command("CLIENT", "UNPAUSE")
        await pauser.aclose()
        await sender.close()
