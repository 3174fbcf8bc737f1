"""Two applications on one Redis never see each other's traffic (issue 12, item 5).

Application A and application B each run two real python-socketio servers with a
client on each, on one redis-server, with keys (classic) or channel prefixes
(sharded) of which one begins with the other (``iso-x`` and ``iso-x2``: the closest two
keys can be without sharing a channel).  Everything A does (broadcasts to all and to a
room, server-side emits and calls, requests: server counts, fetch_sockets, rooms,
sockets_join, disconnect_sockets, emit_with_ack) reaches A's servers and clients only,
and B, doing the same at the same time, sees only its own.

Absence is shown by B's own traffic: after A's events, B sends a marker on the same
channels and B's clients and servers get the marker and nothing of A's; a short settle
covers channels the marker does not share.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from socketio_redis_adapter import AsyncShardedRedisAdapter
from tests.support.redis_server import RedisServer
from tests.support.sio_cluster import Client, PyServer, close_all, settle

pytestmark = pytest.mark.parametrize("flavour", ["classic", "sharded"])


class App:
    """Two servers of one application (one key / prefix), a client on each in room ``r``."""

    def __init__(self, name: str, prefix: str) -> None:
        self.name = name
        self.prefix = prefix
        self.servers: list[PyServer] = []
        self.clients: list[Client] = []
        #: server-side events received: (server number, event, args)
        self.server_events: list[tuple[int, str, list[Any]]] = []

    async def start(self, url: str, flavour: str) -> None:
        for number in range(2):
            if flavour == "classic":
                server = await PyServer.start(url, key=self.prefix, requests_timeout=2.0)
            else:
                server = await PyServer.start(
                    url, adapter_class=AsyncShardedRedisAdapter, channel_prefix=self.prefix,
                    subscription_mode="dynamic", requests_timeout=2.0,
                )
            self.servers.append(server)
            for event in ("hello", "marker"):
                server.adapter.on_server_side_event(event, self._recorder(number, event))
            self.clients.append(await Client.connect(server.url, rooms=["r"],
                                                     data=f"{self.name}-{number}"))
        if flavour == "sharded":  # the room channels are subscribed in the background
            for server in self.servers:
                for channel in list(server.adapter.flavour.subscriptions.rooms.values()):
                    await server.adapter.connection.ssubscribe(channel)

    def _recorder(self, number: int, event: str) -> Any:
        def record(*args: Any) -> str:
            self.server_events.append((number, event, list(args)))
            return f"{self.name}-{number}"
        return record

    def events(self) -> list[tuple[str, str]]:
        """Every (client data, event name) its clients got."""
        return [(f"{self.name}-{number}", event)
                for number, client in enumerate(self.clients)
                for _, event, _ in client.events]

    async def marker(self) -> None:
        """A broadcast and a server-side emit from server 1, awaited where they land."""
        tag = f"marker-{uuid.uuid4().hex[:6]}"
        await self.servers[1].sio.emit(tag)
        await self.servers[1].sio.emit(tag, room="r")
        await self.servers[1].adapter.server_side_emit("marker", tag)
        for client in self.clients:
            await client.wait_for(tag, count=2)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5
        while not any(event == "marker" and args == [tag]
                      for _, event, args in self.server_events):
            assert loop.time() < deadline, self.server_events
            await asyncio.sleep(0.02)

    async def close(self) -> None:
        await close_all(self.clients, self.servers)


async def test_two_applications_on_one_redis_never_see_each_other(
    redis_server: RedisServer, flavour: str,
) -> None:
    base = f"iso-{uuid.uuid4().hex[:6]}"
    a, b = App("a", base), App("b", base + "2")
    try:
        await a.start(redis_server.url, flavour)
        await b.start(redis_server.url, flavour)
        a0 = a.servers[0].adapter
        b0 = b.servers[0].adapter

        # requests: each application counts and finds its own servers and sockets only
        assert await a0.server_count() == 2
        assert await b0.server_count() == 2
        sockets = await a0.fetch_sockets()
        assert sorted(socket.data for socket in sockets) == ["a-0", "a-1"]
        assert sorted(s.data for s in await b0.fetch_sockets("r")) == ["b-0", "b-1"]
        assert await a0.all_rooms() >= {"r"}

        # A's traffic: broadcasts (all, room, binary), server-side emit and call, joins,
        # acknowledgements, at the same time as B's own broadcast
        await asyncio.gather(
            a.servers[0].sio.emit("a-all", {"x": 1}),
            a.servers[0].sio.emit("a-room", b"\x01\x02", room="r"),
            b.servers[0].sio.emit("b-all", 2),
        )
        await a0.server_side_emit("hello", "from-a")
        assert await a0.server_side_call("hello", "call-a") == ["a-1"]
        await a0.sockets_join("joined-a", rooms="r")
        acks = await a0.emit_with_ack("a-ask", "q", timeout=3)
        assert sorted(acks) == ["client-ack", "client-ack"]
        for client in a.clients:
            await client.wait_for("a-all")
            await client.wait_for("a-room")
        for client in b.clients:
            await client.wait_for("b-all")
        assert sorted(s.data for s in await a0.fetch_sockets("joined-a")) == ["a-0", "a-1"]
        assert await b0.fetch_sockets("joined-a") == []

        # B's markers pass where A's traffic went; B saw none of it
        await b.marker()
        await settle(0.3)
        assert all(event == "b-all" or event.startswith("marker-")
                   for _, event in b.events()), b.events()
        assert [e for e in b.server_events if e[1] != "marker"] == [], b.server_events
        # A got its own, B's broadcast never
        assert not any(event == "b-all" for _, event in a.events()), a.events()
        assert sorted((n, e, args) for n, e, args in a.server_events) == [
            (1, "hello", ["call-a"]), (1, "hello", ["from-a"])
        ]

        # disconnect_sockets in A disconnects A's clients only
        await a0.disconnect_sockets(rooms="r")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5
        while any(client.sio.connected for client in a.clients):
            assert loop.time() < deadline, "A's clients were not disconnected"
            await asyncio.sleep(0.05)
        await b.marker()
        assert all(client.sio.connected for client in b.clients)
        assert await b0.server_count() == 2
        assert sorted(s.data for s in await b0.fetch_sockets()) == ["b-0", "b-1"]
    finally:
        await a.close()
        await b.close()
