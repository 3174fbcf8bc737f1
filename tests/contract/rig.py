"""The mixed cluster of the Node adapter's test-suite contract (and its flavours).

Every case of ``@socket.io/redis-adapter`` 8.3's ``test/index.ts`` (common),
``test/specifics.ts`` and ``test/custom-parser.ts``, reproduced with one real
Node server (``requestsTimeout: 1000``) and two python-socketio servers with
our adapter (``requests_timeout=1.0``) on one key, one client on each:

* client 0 is connected to the Node server,
* client 1 to ``servers[0]`` (a Python server),
* client 2 to ``servers[1]`` (a Python server).

A case that makes a request runs twice: the requester is ``servers[0]``
(``requester="py"``) or the Node server (``requester="node"``).  Targets are
picked on the other side of the language boundary where that matters.

:func:`build_cluster` builds the same layout in another flavour (Node's
``createShardedAdapter`` with our ``AsyncShardedRedisAdapter``, in one
subscription mode, on one channel prefix) and on a Redis Cluster (the Node
peer with a node-redis cluster client, our servers with ``redis+cluster://``);
``tests/test_interop_sharded.py`` uses it.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import socketio

from socketio_redis_adapter import AsyncRedisAdapter, AsyncShardedRedisAdapter
from tests.support.mixed import emit_from
from tests.support.node_peer import NodePeer
from tests.support.sio_cluster import Client, PyServer

NAMESPACES = ("/", "/custom")
REQUESTERS = ["py", "node"]
BROADCAST_ROOMS: list[list[Any]] = [["room1", 123], ["room1", "room2"], ["room3"]]
NO_ROOMS: list[list[Any]] = [[], [], []]
# join/leave: "a" everywhere, "b" on clients 0 and 2
JOIN_ROOMS: list[list[Any]] = [["a", "b"], ["a"], ["a", "b"]]
SERVER_DISCONNECT = socketio.AsyncClient.reason.SERVER_DISCONNECT  # "server disconnect"
#: "classic", or a subscription mode of the sharded flavour
FLAVOURS = ("classic", "static", "dynamic", "dynamic-private")


async def eventually(
    check: Callable[[], Awaitable[bool]], what: str, timeout: float = 3.0
) -> None:
    """Poll ``check`` until it holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        await asyncio.sleep(0.02)


def counted(values: Iterable[Any]) -> list[str]:
    """An order-free, type-preserving view of a list (2 and "2" differ)."""
    return sorted(repr(v) for v in values)


class Cluster:
    """One Node server, two Python servers, one client on each (see the module doc)."""

    def __init__(
        self, redis_url: str, key: str, node: NodePeer, servers: list[PyServer],
        clients: list[Client], release: asyncio.Event, flavour: str = "classic",
    ) -> None:
        self.redis_url = redis_url
        self.key = key  # the classic key, or the sharded channel prefix
        self.node = node
        self.servers = servers
        self.clients = clients
        self.release = release  # set at teardown: frees the handlers that never ack
        self.flavour = flavour

    @property
    def sharded(self) -> bool:
        return self.flavour != "classic"

    @property
    def py(self) -> AsyncRedisAdapter | AsyncShardedRedisAdapter:
        """The Python requester."""
        adapter: AsyncRedisAdapter | AsyncShardedRedisAdapter = self.servers[0].adapter
        return adapter

    async def settled(self) -> None:
        """Wait until Redis confirmed every subscription of every server.

        The sharded flavour in the dynamic modes subscribes a room's channel when the
        room gets its first local socket, without waiting (Node and us): call this after
        joins and before another server broadcasts to the room.  Node: the peer's
        ``wait_subscriptions``; Python: each room channel is SSUBSCRIBEd again, which
        returns once Redis confirmed it (as ``tests/flavours/rig.py`` does).
        """
        await self.node.wait_subscriptions()
        if not self.sharded:
            return
        for server in self.servers:
            adapter = server.adapter
            for channel in list(adapter.flavour.subscriptions.rooms.values()):
                await asyncio.wait_for(adapter.connection.ssubscribe(channel), 5)

    def sids(self) -> list[str]:
        return [client.sid() for client in self.clients]

    async def emit(self, requester: str, event: str, args: list[Any], **options: Any) -> None:
        """``emit_from`` this rig's Node peer or Python adapter (same options)."""
        await emit_from(requester, self.node, self.py, event, args, **options)

    async def check(
        self, requester: str, event: str, expected: dict[int, list[Any]], nsp: str = "/",
        rooms: Iterable[Any] = (),
    ) -> None:
        """The clients in ``expected`` got ``event`` once with those args, the others never.

        A marker broadcast to everyone from the same server follows: a client
        that got the marker would have got the event before it (the clients in
        ``expected`` also wait for the event itself).  ``rooms``: the
        event's rooms, when it went to one room (a room's own channel in the
        sharded dynamic modes, a channel of its own on a Redis Cluster, which
        may sit on another node than the marker's): a marker to each of them
        follows too, on the same channel, and the clients in the room wait for it.
        """
        marker = f"marker-{uuid.uuid4().hex[:6]}"
        room_markers = {room: f"{marker}-{number}" for number, room in enumerate(rooms)}
        await self.emit(requester, marker, [], nsp=nsp)
        for room, name in room_markers.items():
            await self.emit(requester, name, [], nsp=nsp, rooms=[room])
        members = [
            {client.sid(nsp), *(await self.rooms_of(number, nsp))}
            for number, client in enumerate(self.clients)
        ] if room_markers else [set() for _ in self.clients]
        for number, client in enumerate(self.clients):
            if number in expected:
                # on a Redis Cluster, Node's classic adapter publishes each message through
                # a node of its choice, so the marker may overtake the event
                await client.wait_for(event, namespace=nsp)
            await client.wait_for(marker, namespace=nsp)
            for room, name in room_markers.items():
                if room in members[number]:
                    await client.wait_for(name, namespace=nsp)
            got = client.named(event, nsp)
            assert got == ([expected[number]] if number in expected else []), (
                f"client {number} got {got}"
            )

    async def rooms_of(self, number: int, nsp: str = "/") -> set[Any]:
        """The rooms of client ``number``'s socket on its own server (sid room left out)."""
        sid = self.clients[number].sid(nsp)
        if number == 0:
            sockets = await self.node.command("sockets")
            rooms = next(s["rooms"] for s in sockets[nsp] if s["id"] == sid)
        else:
            rooms = self.servers[number - 1].sio.rooms(sid, namespace=nsp)
        return {room for room in rooms if room != sid}

    async def all_rooms_of(self) -> list[set[Any]]:
        return [await self.rooms_of(number) for number in range(3)]

    async def expect_rooms(self, expected: list[set[Any]], requester: str) -> None:
        """Every socket ends in exactly ``expected`` rooms, and stays there."""
        async def matches() -> bool:
            return await self.all_rooms_of() == expected

        await eventually(matches, f"rooms {expected}")
        # requests and broadcasts of one server reach each subscriber in order
        await self.check(requester, "nothing", {})
        assert await self.all_rooms_of() == expected

    def never_ack(self, number: int, event: str) -> None:
        """Client ``number`` receives ``event`` but does not acknowledge it (until teardown)."""
        release = self.release

        async def hold(*args: Any) -> Any:
            await release.wait()
            return None

        # Under the "*" namespace, as the client's catch-all: a handler under "/" would
        # hide the catch-all from every other event of "/" (python-socketio's lookup).
        self.clients[number].sio.on(event, hold, namespace="*")

    async def node_state(self) -> dict[str, Any]:
        state: dict[str, Any] = await self.node.command("adapter_state", nsp="/")
        return state


ClusterFactory = Callable[..., Awaitable[Cluster]]


async def build_cluster(
    redis_url: str,
    built: list[Cluster],
    *,
    flavour: str = "classic",
    cluster_nodes: Iterable[tuple[str, int]] | None = None,
    rooms: list[list[Any]] = BROADCAST_ROOMS,
    namespaces: tuple[str, ...] = NAMESPACES,
    parser: str = "msgpack",
    specific: bool = False,
) -> Cluster:
    """One Node server, two Python servers and a client on each, on a fresh key.

    :param redis_url: our servers' URL (``redis+cluster://...`` on a cluster).
    :param built: the cluster is appended before anything can fail, for
                  :func:`tear_down`.
    :param flavour: ``"classic"`` (``createAdapter`` and ``AsyncRedisAdapter`` on the
                    key) or a subscription mode (``createShardedAdapter`` and
                    ``AsyncShardedRedisAdapter`` on the channel prefix).
    :param cluster_nodes: a Redis Cluster's nodes, for the Node peer's cluster client.
    :param parser, specific: the classic flavour's parser and
                             ``publishOnSpecificResponseChannel``.

    Requests time out after 1 s (the sharded Node adapter has no such option: 5 s).
    """
    if flavour not in FLAVOURS:
        raise ValueError(f"unknown flavour {flavour!r}")
    sharded = flavour != "classic"
    key = f"{'shmix' if sharded else 'contract'}-{uuid.uuid4().hex[:8]}"
    nodes = list(cluster_nodes) if cluster_nodes is not None else None
    node_options: dict[str, Any] = {
        "key": key, "namespaces": namespaces, "parser": parser, "requests_timeout_ms": 1000,
        "specific_response_channel": specific, "cluster_nodes": nodes,
    }
    py_options: dict[str, Any] = {"requests_timeout": 1.0}
    if sharded:
        node_options.update(adapter="sharded", subscription_mode=flavour, channel_prefix=key)
        py_options.update(adapter_class=AsyncShardedRedisAdapter, channel_prefix=key,
                          subscription_mode=flavour)
    else:
        py_options.update(key=key, parser=parser, publish_on_specific_response_channel=specific)
    # with cluster_nodes the peer does not use its URL
    node_url = redis_url if nodes is None else "redis://unused.invalid:1/0"
    node = await NodePeer.start(node_url, **node_options)  # stops itself if it cannot start
    cluster = Cluster(redis_url, key, node, [], [], asyncio.Event(), flavour)
    built.append(cluster)  # torn down even if a step fails
    for _ in range(2):
        cluster.servers.append(await PyServer.start(redis_url, **py_options))
    urls = [node.url, cluster.servers[0].url, cluster.servers[1].url]
    for number, (url, client_rooms) in enumerate(zip(urls, rooms, strict=True)):
        cluster.clients.append(await Client.connect(
            url, rooms=client_rooms, namespaces=namespaces, data=f"test-{number}"
        ))
    for nsp in namespaces:
        await node.wait_event("connection", nsp=nsp, id=cluster.clients[0].sid(nsp))
    for server in cluster.servers:  # namespaces other than "/" subscribe with their first client
        await asyncio.wait_for(server.adapter.start(), 5)
    await cluster.settled()
    return cluster


async def tear_down(built: list[Cluster]) -> None:
    """Close the clients, stop the servers and the Node peers of ``built``."""
    for cluster in built:
        cluster.release.set()
        for client in cluster.clients:
            await asyncio.wait_for(client.close(), 10)
        for server in cluster.servers:
            await asyncio.wait_for(server.stop(), 10)
        await cluster.node.stop()


async def emit_with_ack(
    cluster: Cluster, requester: str, event: str, *, to: Any = None, timeout: float = 0.5
) -> tuple[str | None, list[Any]]:
    """Broadcast with acks; return (error message or None, responses)."""
    if requester == "node":
        result = await cluster.node.command(
            "emit_with_ack", nsp="/", event=event, args=[1, "2"],
            rooms=[] if to is None else [to], timeout_=int(timeout * 1000),
        )
        return result["err"], result["responses"]
    try:
        responses = await cluster.py.emit_with_ack(event, (1, "2"), to=to, timeout=timeout)
    except Exception as exc:  # RequestTimeoutError, checked by the caller
        return str(exc), list(getattr(exc, "responses", None) or [])
    return None, responses


async def ack_registry_empty(cluster: Cluster, requester: str) -> None:
    if requester == "node":
        async def empty() -> bool:  # Node deletes the entry flags.timeout after the emit
            return bool((await cluster.node_state())["ackRequests"] == 0)

        await eventually(empty, "Node's ackRequests is empty")
    else:
        assert cluster.py.engine.pending.acks == {}


async def fetch(
    cluster: Cluster, requester: str, rooms: list[Any] | None = None, local: bool = False
) -> list[dict[str, Any]]:
    """fetchSockets as plain dicts {id, rooms (set), data, handshake}."""
    if requester == "node":
        sockets = await cluster.node.command(
            "fetch_sockets", nsp="/", rooms=rooms or [], local=local
        )
        return [{**s, "rooms": set(s["rooms"])} for s in sockets]
    return [
        {"id": s.id, "rooms": s.rooms, "data": s.data, "handshake": s.handshake}
        for s in await cluster.py.fetch_sockets(rooms, local=local)
    ]


async def no_pending_requests(cluster: Cluster, requester: str) -> None:
    if requester == "node":
        assert (await cluster.node_state())["requests"] == 0
    else:
        assert cluster.py.engine.pending.requests == {}
