"""The rig of the sharded flavour's tests: Python servers with ``AsyncShardedRedisAdapter``.

Servers, their clients and a Redis client for looking at the sharded
channels, on one fresh channel prefix.  Absence of a delivery is proven with
a marker broadcast after the event (one publisher connection per server,
and each channel read in order), as in the manager tests.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

import redis.asyncio as aioredis

from socketio_redis_adapter import AsyncShardedRedisAdapter
from tests.support.sio_cluster import Client, PyServer

MODES = ("static", "dynamic", "dynamic-private")


class ShardedRig:
    """Sharded Python servers and clients on one prefix (see the module doc).

    :param redis_url: the adapter's URL (standalone or ``redis+cluster://``).
    :param mode: the subscription mode of every server.
    :param admin_url: a plain ``redis://`` URL of one node, for looking at channels.
    """

    def __init__(self, redis_url: str, mode: str, admin_url: str | None = None) -> None:
        self.redis_url = redis_url
        self.mode = mode
        self.prefix = f"shd-{uuid.uuid4().hex[:10]}"
        self.servers: list[PyServer] = []
        self.clients: list[Client] = []
        self.admin = aioredis.Redis.from_url(admin_url) if admin_url else None

    async def server(self, **options: Any) -> PyServer:
        server = await PyServer.start(
            self.redis_url, adapter_class=AsyncShardedRedisAdapter, channel_prefix=self.prefix,
            subscription_mode=self.mode, requests_timeout=options.pop("requests_timeout", 2.0),
            **options,
        )
        self.servers.append(server)
        return server

    async def client(self, server: PyServer, rooms: Iterable[Any] = (), data: Any = None,
                     namespaces: Iterable[str] = ("/",)) -> Client:
        client = await Client.connect(server.url, rooms=rooms, data=data, namespaces=namespaces)
        self.clients.append(client)
        return client

    async def settled(self) -> None:
        """Wait until every server's room channels are confirmed by Redis."""
        for server in self.servers:
            adapter = server.adapter
            for channel in list(adapter._subscriptions.rooms.values()):
                await adapter.connection.ssubscribe(channel)

    async def shard_channels(self) -> set[str]:
        """The sharded channels of this prefix that have subscribers (one node)."""
        assert self.admin is not None
        found = await self.admin.execute_command("PUBSUB", "SHARDCHANNELS", f"{self.prefix}#*")
        return {channel.decode() for channel in found}

    async def aclose(self) -> None:
        for client in self.clients:
            await client.close()
        for server in self.servers:
            await server.stop()
        if self.admin is not None:
            await self.admin.aclose()


__all__ = ["MODES", "ShardedRig"]
