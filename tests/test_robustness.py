"""Malformed input, Redis restarts, failed publishes, bad data, and no task per recipient."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError

from socketio_redis_adapter import AsyncRedisAdapter, OfflineQueueFull, RedisPubSub
from socketio_redis_adapter.transport.raw import RawPubSub
from tests.support.ports import free_port
from tests.support.redis_server import RedisServer
from tests.support.sio_cluster import Client, PyServer, close_all


@pytest.fixture
async def pair(redis_server: RedisServer) -> AsyncIterator[tuple[list[PyServer], list[Client]]]:
    key = f"robust-{uuid.uuid4().hex[:8]}"
    servers = [await PyServer.start(redis_server.url, key=key) for _ in range(2)]
    clients = [await Client.connect(server.url, rooms=["r"]) for server in servers]
    try:
        yield servers, clients
    finally:
        await close_all(clients, servers)


GARBAGE = [
    b"",
    b"\x00",
    b"not msgpack at all",
    b"\xc1",  # never used in msgpack
    b"\x93\x01",  # truncated array
    b"\x81\xa1a\x01",  # a map, not [uid, packet, opts]
    b"\x93\xa3uid\x01\x02",  # packet and opts are not maps
    b"\x93\xa3uid\x81\xa4data\x90\x80",  # empty data
    b"\x93\xa3uid\x81\xa4data\x91\x01\x80",  # event name is not a string
    b"\x93\xa3uid\x82\xa4data\x91\xa1e\xa3nsp\x01\x80",  # nsp is a number
    b"\x93\xa3uid\x81\xa4data\x91\xa1e\x81\xa5rooms\x91\x90",  # a room is a list
    b"\x93\xa3uid\x81\xa4data\x91\xa1e\x81\xa5flags\x01",  # flags is not a map
    b"\x93\xa3uid\x81\xa4data\x91\xa1e\x81\x01\x02",  # an int map key
    b"\xd6\x05\x00\x00\x00\x00",  # an unknown extension type
    b"{not json",
    b'{"type": 2, "opts": 5}',
    b'{"type": 7, "requestId": "x", "packet": 3}',
    b"[1, 2, 3]",
]


async def test_malformed_messages_are_counted_and_never_stop_the_listener(
    pair: tuple[list[PyServer], list[Client]], redis_server: RedisServer
) -> None:
    servers, clients = pair
    adapter = servers[1].adapter
    channels = adapter.channels
    targets = [
        channels.broadcast("/"),
        channels.room("/", "r"),
        channels.request("/"),
        channels.response("/"),
        channels.specific_response("/", adapter.uid),
    ]
    publisher = aioredis.Redis.from_url(redis_server.url)
    try:
        for channel in targets:
            for payload in GARBAGE:
                await publisher.publish(channel, payload)
        # channels outside our protocol but under our pattern
        await publisher.publish(adapter.key + "#/", b"\x93")
        await publisher.publish(adapter.key + "#/#unknown-room#", b"\xc1")
    finally:
        await publisher.aclose()
    await servers[0].sio.emit("after", 1)
    assert await clients[1].wait_for("after") == [[1]]
    assert adapter.stats["malformed"] >= len(GARBAGE) * 2
    assert adapter.connection.handler_errors == 0  # type: ignore[attr-defined]


CONNECTIONS = {
    "raw": lambda url: RawPubSub(url),
    "redis-py": lambda url: RedisPubSub.from_url(url),
}


@pytest.mark.parametrize("kind", list(CONNECTIONS))
async def test_listener_survives_redis_restart(own_redis: RedisServer, kind: str) -> None:
    key = f"restart-{uuid.uuid4().hex[:8]}"
    servers = [
        await PyServer.start(own_redis.url, key=key, connection=CONNECTIONS[kind](own_redis.url))
        for _ in range(2)
    ]
    clients = [await Client.connect(server.url) for server in servers]
    try:
        await servers[0].sio.emit("before", 1)
        assert await clients[1].wait_for("before") == [[1]]
        await asyncio.to_thread(own_redis.restart, 0.5)
        # the subscriber reconnects by itself; wait (bounded) until it is back
        adapter = servers[1].adapter
        deadline = asyncio.get_running_loop().time() + 10
        for attempt in range(200):
            try:
                await servers[0].sio.emit("after", attempt)
            except RedisConnectionError:
                pass
            if clients[1].named("after"):
                break
            assert asyncio.get_running_loop().time() < deadline, "still deaf after 10 s"
            await asyncio.sleep(0.05)
        assert clients[1].named("after")
        assert adapter.connection.reconnects >= 1  # type: ignore[attr-defined]
    finally:
        await close_all(clients, servers)


@pytest.mark.parametrize("kind", list(CONNECTIONS))
async def test_publish_failure_raises_without_offline_queue(own_redis: RedisServer, kind: str
                                                            ) -> None:
    adapter = AsyncRedisAdapter(
        key=f"pubfail-{uuid.uuid4().hex[:8]}", connection=CONNECTIONS[kind](own_redis.url),
        offline_queue=None,
    )
    try:
        await adapter.start()
        own_redis.stop()
        # the first emit may be written to the connection before its loss is seen
        with pytest.raises(OfflineQueueFull):
            for attempt in range(20):
                await adapter.emit("lost", attempt, "/")
                await asyncio.sleep(0.05)
        assert adapter.stats["offline_rejected"] >= 1
    finally:
        await adapter.close()


class NotSerializable:
    pass


async def test_non_serializable_data_raises_type_error_and_delivers_nothing(
    pair: tuple[list[PyServer], list[Client]],
) -> None:
    servers, clients = pair
    with pytest.raises(TypeError, match="NotSerializable"):
        await servers[0].sio.emit("bad", {"x": NotSerializable()})
    await servers[0].sio.emit("good", 1)
    for client in clients:
        assert await client.wait_for("good") == [[1]]
        assert client.named("bad") == []


async def test_binary_broadcast_reaches_polling_and_websocket_clients(
    pair: tuple[list[PyServer], list[Client]],
) -> None:
    servers, clients = pair
    polling = await Client.connect(servers[1].url, transports=["polling"])
    try:
        for sender in servers:
            await sender.sio.emit("bin", (b"\x00\x01\xff", {"n": [b"x"]}))
        for client in [*clients, polling]:
            assert await client.wait_for("bin", count=2) == [[b"\x00\x01\xff", {"n": [b"x"]}]] * 2
    finally:
        await polling.close()


def _count_tasks(loop: asyncio.AbstractEventLoop, created: list[Any]) -> None:
    default = asyncio.tasks.Task

    def factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
        created.append(coro)
        return default(coro, loop=loop, **kwargs)

    loop.set_task_factory(factory)  # type: ignore[arg-type]


async def test_fan_out_creates_no_task_per_recipient(redis_server: RedisServer) -> None:
    server = await PyServer.start(redis_server.url, key=f"tasks-{uuid.uuid4().hex[:8]}")
    clients = [await Client.connect(server.url, rooms=["all"]) for _ in range(20)]
    loop = asyncio.get_running_loop()
    created: list[Any] = []
    try:
        _count_tasks(loop, created)
        # local emit: no await happens inside, so every task would be ours
        await server.adapter.emit("local", "x", "/", to="all", ignore_queue=True)
        # a message from Redis, handled synchronously by the listener callback
        message = server.adapter.parser.encode(
            ["other", {"type": 2, "data": ["remote", b"\x01"], "nsp": "/"},
             {"rooms": ["all"], "except": [], "flags": {}}]
        )
        server.adapter.receiver.on_message(b"*", server.adapter.channels.room("/", "all"), message)
        assert created == []
        loop.set_task_factory(None)
        for client in clients:
            assert await client.wait_for("local") == [["x"]]
            assert await client.wait_for("remote") == [[b"\x01"]]
    finally:
        loop.set_task_factory(None)
        for client in clients:
            await client.close()
        await server.stop()


@pytest.mark.parametrize("kind", list(CONNECTIONS))
async def test_start_raises_when_redis_is_unreachable(kind: str) -> None:
    adapter = AsyncRedisAdapter(
        connection=CONNECTIONS[kind](f"redis://127.0.0.1:{free_port()}/0")
    )
    adapter.connection.confirm_timeout = 0.5  # type: ignore[attr-defined]
    try:
        with pytest.raises((TimeoutError, asyncio.TimeoutError, OSError)):
            await adapter.start()
    finally:
        await adapter.close()


@pytest.mark.parametrize("kind", list(CONNECTIONS))
async def test_start_succeeds_once_redis_is_back(own_redis: RedisServer, kind: str) -> None:
    own_redis.stop()
    adapter = AsyncRedisAdapter(connection=CONNECTIONS[kind](own_redis.url))
    adapter.connection.confirm_timeout = 0.3  # type: ignore[attr-defined]
    try:
        with pytest.raises((TimeoutError, asyncio.TimeoutError, OSError)):
            await adapter.start()
        own_redis.start()
        adapter.connection.confirm_timeout = 5  # type: ignore[attr-defined]
        await adapter.start()
        assert adapter.connection.connected  # type: ignore[attr-defined]
    finally:
        await adapter.close()
