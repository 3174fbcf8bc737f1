"""The rig of the manager API tests: servers, an optional Node peer and clients on one key.

Absence is proven with a marker (:func:`check`): after the event under test
the same server broadcasts a marker to everyone, and a client that got the
marker would have got the event before it (one publisher, one subscriber
connection per server).
"""

from __future__ import annotations

import asyncio
import inspect
import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import redis.asyncio as aioredis

from tests.support.node_peer import NodePeer
from tests.support.sio_cluster import Client, PyServer

NAMESPACES = ("/", "/custom")


async def until(
    predicate: Callable[[], Any], what: str, timeout: float = 5.0, interval: float = 0.02
) -> Any:
    """Poll ``predicate`` (sync or async) until it returns a truthy value."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if loop.time() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)


class Rig:
    """Servers, an optional Node peer and clients on one fresh key."""

    def __init__(self, redis_url: str) -> None:
        self.redis_url = redis_url
        self.key = f"mgr-{uuid.uuid4().hex[:10]}"
        self.servers: list[PyServer] = []
        self.node: NodePeer | None = None
        self.clients: list[Client] = []
        self.redis = aioredis.Redis.from_url(redis_url)

    async def server(self, **options: Any) -> PyServer:
        server = await PyServer.start(self.redis_url, key=self.key, **options)
        self.servers.append(server)
        return server

    async def peer(self, namespaces: Iterable[str] = NAMESPACES) -> NodePeer:
        assert self.node is None
        self.node = await NodePeer.start(self.redis_url, key=self.key, namespaces=namespaces)
        return self.node

    async def client(
        self, url: str, *, rooms: Iterable[Any] = (), namespaces: Iterable[str] = ("/",)
    ) -> Client:
        namespaces = list(namespaces)
        client = await Client.connect(url, rooms=rooms, namespaces=namespaces)
        self.clients.append(client)

        # a catch-all namespace handler: one on "/" would hide Client's "*" handlers
        def record(nsp: str, reason: Any = None) -> None:
            client.disconnects.append((nsp, reason))

        client.sio.on("disconnect", record, namespace="*")
        if self.node is not None and url == self.node.url:
            for nsp in namespaces:
                await self.node.wait_event("connection", nsp=nsp, id=client.sid(nsp))
        return client

    async def numsub(self, channel: str) -> int:
        reply = await self.redis.pubsub_numsub(channel)
        return int(reply[0][1])

    async def channels(self) -> set[str]:
        return {c.decode() for c in await self.redis.pubsub_channels(f"{self.key}*")}

    async def subscribers(self) -> dict[str, tuple[int, int]]:
        """``{client id: (psub, sub)}`` of every Redis connection that subscribes."""
        return {
            entry["id"]: (int(entry["psub"]), int(entry["sub"]))
            for entry in await self.redis.client_list()
            if int(entry["psub"]) or int(entry["sub"])
        }

    async def aclose(self) -> None:
        for client in self.clients:
            await client.close()
        for server in self.servers:
            await server.stop()
        if self.node is not None:
            await self.node.stop()
        await self.redis.aclose()



async def check(
    marker_from: Callable[[str], Awaitable[Any]],
    clients: list[Client],
    event: str,
    expected: dict[int, list[Any]],
    nsp: str = "/",
) -> None:
    """Clients in ``expected`` got ``event`` once with those args, the others never.

    ``marker_from(name)`` broadcasts a marker to everyone from the server that
    sent ``event``.
    """
    marker = f"marker-{uuid.uuid4().hex[:6]}"
    await marker_from(marker)
    for number, client in enumerate(clients):
        await client.wait_for(marker, namespace=nsp)
        got = client.named(event, nsp)
        if number in expected:
            assert got == [expected[number]], f"client {number} got {got}"
        else:
            assert got == [], f"client {number} should not get {event!r}: {got}"


def py_marker(server: PyServer, nsp: str = "/") -> Callable[[str], Awaitable[Any]]:
    return lambda marker: server.sio.emit(marker, namespace=nsp)


def node_marker(node: NodePeer, nsp: str = "/") -> Callable[[str], Awaitable[Any]]:
    return lambda marker: node.command("emit", nsp=nsp, event=marker, args=[])


async def node_rooms(node: NodePeer, sid: str, nsp: str = "/") -> list[Any] | None:
    """The rooms of a Node socket, None if the Node server has no such socket."""
    sockets = await node.command("sockets")
    for entry in sockets.get(nsp, []):
        if entry["id"] == sid:
            return list(entry["rooms"])
    return None


def local_rooms(server: PyServer, nsp: str = "/") -> dict[Any, dict[str, str]]:
    return server.adapter.rooms.get(nsp, {None: {}})
