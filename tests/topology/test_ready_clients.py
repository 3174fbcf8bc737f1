"""Both flavours on a ready redis-py client instead of a URL.

A ``redis.asyncio.RedisCluster`` gives its nodes and credentials (the adapter opens its own
connections, one reader per node); a ``redis.asyncio.Redis`` works for the sharded flavour
as for the classic one.  Two servers, a client each: broadcasts to everyone and to a room,
the server count and fetch_sockets across them.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode

from socketio_redis_adapter import AsyncRedisAdapter, AsyncShardedRedisAdapter
from tests.support.redis_server import RedisServer
from tests.support.sio_cluster import Client, PyServer
from tests.support.topologies import RedisCluster

FLAVOURS = ("classic", "sharded")


def options(flavour: str) -> dict[str, Any]:
    prefix = f"ready-{uuid.uuid4().hex[:10]}"
    if flavour == "classic":
        return {"adapter_class": AsyncRedisAdapter, "key": prefix, "requests_timeout": 3.0}
    return {"adapter_class": AsyncShardedRedisAdapter, "channel_prefix": prefix,
            "requests_timeout": 3.0}


async def exercise(make_client: Any, flavour: str) -> None:
    """Two servers on clients from ``make_client()``: broadcast, room, count, fetch."""
    settings = options(flavour)
    redis_clients = [make_client() for _ in range(2)]
    servers: list[PyServer] = []
    clients: list[Client] = []
    try:
        for redis_client in redis_clients:
            servers.append(await PyServer.start(redis_client, **settings))
        clients.append(await Client.connect(servers[0].url))
        clients.append(await Client.connect(servers[1].url, rooms=["r1"]))
        if flavour == "sharded":  # the room's channel is confirmed before it is used
            adapter = servers[1].adapter
            for channel in list(adapter.flavour.subscriptions.rooms.values()):
                await adapter.connection.ssubscribe(channel)
        await servers[0].sio.emit("all", [1, b"\x02"])
        for client in clients:
            assert await client.wait_for("all") == [[[1, b"\x02"]]]
        await servers[0].sio.emit("room", "r", to="r1")
        assert await clients[1].wait_for("room") == [["r"]]
        for server in servers:
            assert await server.adapter.server_count() == 2
        found = await servers[0].adapter.fetch_sockets()
        assert {socket.id for socket in found} == {client.sid() for client in clients}
        assert clients[0].named("room") == []
    finally:
        for client in clients:
            await client.close()
        for server in servers:
            await server.stop()
        for redis_client in redis_clients:
            await redis_client.aclose()


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_a_ready_redis_cluster_client(redis_cluster: RedisCluster, flavour: str) -> None:
    nodes = [ClusterNode(host, port) for host, port in redis_cluster.startup_nodes]
    await exercise(lambda: aioredis.RedisCluster(startup_nodes=nodes), flavour)


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_a_ready_redis_client(redis_server: RedisServer, flavour: str) -> None:
    await exercise(lambda: aioredis.Redis.from_url(redis_server.url), flavour)
