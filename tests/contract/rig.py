"""The mixed cluster of the Node adapter's test-suite contract.

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
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import socketio

from socketio_redis_adapter import AsyncRedisAdapter
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
        clients: list[Client], release: asyncio.Event,
    ) -> None:
        self.redis_url = redis_url
        self.key = key
        self.node = node
        self.servers = servers
        self.clients = clients
        self.release = release  # set at teardown: frees the handlers that never ack

    @property
    def py(self) -> AsyncRedisAdapter:
        """The Python requester."""
        return self.servers[0].adapter

    def sids(self) -> list[str]:
        return [client.sid() for client in self.clients]

    async def emit(self, requester: str, event: str, args: list[Any], **options: Any) -> None:
        """``emit_from`` this rig's Node peer or Python adapter (same options)."""
        await emit_from(requester, self.node, self.py, event, args, **options)

    async def check(
        self, requester: str, event: str, expected: dict[int, list[Any]], nsp: str = "/"
    ) -> None:
        """The clients in ``expected`` got ``event`` once with those args, the others never.

        A marker broadcast to everyone from the same server follows: a client
        that got the marker would have got the event before it.
        """
        marker = f"marker-{uuid.uuid4().hex[:6]}"
        await self.emit(requester, marker, [], nsp=nsp)
        for number, client in enumerate(self.clients):
            await client.wait_for(marker, namespace=nsp)
            got = client.named(event, nsp)
            assert got == ([expected[number]] if number in expected else []), (
                f"client {number} got {got}"
            )

    async def rooms_of(self, number: int) -> set[Any]:
        """The rooms of client ``number``'s socket on its own server (sid room left out)."""
        sid = self.clients[number].sid()
        if number == 0:
            sockets = await self.node.command("sockets")
            rooms = next(s["rooms"] for s in sockets["/"] if s["id"] == sid)
        else:
            rooms = self.servers[number - 1].sio.rooms(sid, namespace="/")
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

        self.clients[number].sio.on(event, hold)

    async def node_state(self) -> dict[str, Any]:
        state: dict[str, Any] = await self.node.command("adapter_state", nsp="/")
        return state


ClusterFactory = Callable[..., Awaitable[Cluster]]


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
