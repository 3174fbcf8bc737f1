"""The rig of the flavour tests: Python servers of one flavour on one topology.

Servers, their clients and (standalone only) a Redis client for looking at
the sharded channels, on one fresh key / channel prefix.  Absence of a
delivery is proven with a marker broadcast after the event (one publisher
connection per server, and each channel read in order), as in the manager
tests.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

import redis.asyncio as aioredis

from socketio_redis_adapter import AsyncRedisAdapter, AsyncShardedRedisAdapter
from tests.support.sio_cluster import Client, PyServer

MODES = ("static", "dynamic", "dynamic-private")
#: "classic", or a sharded subscription mode
FLAVOURS = ("classic", *MODES)


class FlavourRig:
    """Servers of one flavour and their clients on one prefix (see the module doc).

    :param redis_url: the adapter's URL (standalone, ``redis+cluster://``...).
    :param flavour: ``"classic"`` or a sharded subscription mode.
    :param admin_url: a plain ``redis://`` URL of the one server, for looking at channels.
    :param redis_options: the adapter's ``redis_options``.
    """

    def __init__(self, redis_url: str, flavour: str, admin_url: str | None = None,
                 redis_options: dict[str, Any] | None = None) -> None:
        self.redis_url = redis_url
        self.flavour = flavour
        self.mode = flavour
        self.sharded = flavour != "classic"
        self.prefix = f"flv-{uuid.uuid4().hex[:10]}"
        self.redis_options = redis_options
        self.servers: list[PyServer] = []
        self.clients: list[Client] = []
        self.admin = aioredis.Redis.from_url(admin_url) if admin_url else None

    async def server(self, **options: Any) -> PyServer:
        options.setdefault("requests_timeout", 2.0)
        if self.redis_options is not None:
            options.setdefault("redis_options", self.redis_options)
        if self.sharded:
            options.update(adapter_class=AsyncShardedRedisAdapter, channel_prefix=self.prefix,
                           subscription_mode=self.mode)
        else:
            options.update(adapter_class=AsyncRedisAdapter, key=self.prefix)
        server = await PyServer.start(self.redis_url, **options)
        self.servers.append(server)
        return server

    async def client(self, server: PyServer, rooms: Iterable[Any] = (), data: Any = None,
                     namespaces: Iterable[str] = ("/",)) -> Client:
        client = await Client.connect(server.url, rooms=rooms, data=data, namespaces=namespaces)
        self.clients.append(client)
        return client

    async def settled(self) -> None:
        """Wait until every server's room channels are confirmed by Redis (sharded)."""
        if not self.sharded:
            return
        for server in self.servers:
            adapter = server.adapter
            for channel in list(adapter.flavour.subscriptions.rooms.values()):
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


__all__ = ["FLAVOURS", "MODES", "FlavourRig"]
