"""The Node adapter's own test-suite contract, in a mixed cluster.

Every case of ``@socket.io/redis-adapter`` 8.3's ``test/index.ts`` (common),
``test/specifics.ts`` and ``test/custom-parser.ts`` (see section 7 of
``node-redis-adapter-protocol.md``), reproduced with one real Node server
(``requestsTimeout: 1000``) and two python-socketio servers with our adapter
(``requests_timeout=1.0``) on one key, one client on each:

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
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

import pytest
import redis.asyncio as aioredis
import socketio

from socketio_redis_adapter import AsyncRedisAdapter
from socketio_redis_adapter.core.waiters import RequestTimeoutError
from tests.support.mixed import emit_from
from tests.support.node_peer import NodePeer
from tests.support.redis_server import RedisServer
from tests.support.sio_cluster import Client, PyServer

pytestmark = pytest.mark.node

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


@pytest.fixture
async def make_cluster(redis_server: RedisServer) -> AsyncIterator[ClusterFactory]:
    """Build clusters on a fresh key; everything is stopped at teardown."""
    built: list[tuple[NodePeer, list[PyServer], list[Client], asyncio.Event]] = []

    async def make(
        *,
        rooms: list[list[Any]] = BROADCAST_ROOMS,
        namespaces: tuple[str, ...] = NAMESPACES,
        parser: str = "msgpack",
        specific: bool = False,
    ) -> Cluster:
        key = f"contract-{uuid.uuid4().hex[:8]}"
        node = await NodePeer.start(  # stops itself if it cannot start
            redis_server.url, key=key, namespaces=namespaces, parser=parser,
            requests_timeout_ms=1000, specific_response_channel=specific,
        )
        servers: list[PyServer] = []
        clients: list[Client] = []
        release = asyncio.Event()
        built.append((node, servers, clients, release))  # torn down even if a step fails
        for _ in range(2):
            servers.append(await PyServer.start(
                redis_server.url, key=key, parser=parser, requests_timeout=1.0,
                publish_on_specific_response_channel=specific,
            ))
        urls = [node.url, servers[0].url, servers[1].url]
        for number, (url, client_rooms) in enumerate(zip(urls, rooms, strict=True)):
            clients.append(await Client.connect(
                url, rooms=client_rooms, namespaces=namespaces, data=f"test-{number}"
            ))
        for nsp in namespaces:
            await node.wait_event("connection", nsp=nsp, id=clients[0].sid(nsp))
        for server in servers:  # namespaces other than "/" subscribe with their first client
            await asyncio.wait_for(server.adapter.start(), 5)
        return Cluster(redis_server.url, key, node, servers, clients, release)

    yield make
    for node, servers, clients, release in built:
        release.set()
        for client in clients:
            await asyncio.wait_for(client.close(), 10)
        for server in servers:
            await asyncio.wait_for(server.stop(), 10)
        await node.stop()


@pytest.fixture
async def cluster(make_cluster: ClusterFactory) -> Cluster:
    return await make_cluster()


# ---------------------------------------------------------------- broadcast


@pytest.mark.parametrize("requester", REQUESTERS)
async def test_broadcasts_to_all_clients(cluster: Cluster, requester: str) -> None:
    await cluster.emit(requester, "test", [1, "2", b"\x03\x04"])
    await cluster.check(requester, "test", {n: [1, "2", b"\x03\x04"] for n in range(3)})


@pytest.mark.parametrize("requester", REQUESTERS)
async def test_broadcasts_to_all_clients_in_a_namespace(cluster: Cluster, requester: str) -> None:
    await cluster.emit(requester, "test", [], nsp="/custom")
    await cluster.check(requester, "test", {0: [], 1: [], 2: []}, nsp="/custom")
    await cluster.check(requester, "test", {})  # nothing in "/"


@pytest.mark.parametrize("requester", REQUESTERS)
async def test_broadcasts_to_all_clients_in_a_room(cluster: Cluster, requester: str) -> None:
    await cluster.emit(requester, "test", [], rooms=["room3"])
    await cluster.check(requester, "test", {2: []})


@pytest.mark.parametrize("requester", REQUESTERS)
async def test_broadcasts_to_all_clients_except_in_room(cluster: Cluster, requester: str) -> None:
    await cluster.emit(requester, "test", [], except_rooms=["room1"])
    await cluster.check(requester, "test", {2: []})


@pytest.mark.parametrize("requester", REQUESTERS)
async def test_broadcasts_to_all_clients_once(cluster: Cluster, requester: str) -> None:
    # client 1 is in room1 and room2; client 2 (room3) is excluded
    await cluster.emit(requester, "test", [], rooms=["room1", "room2"], except_rooms=["room3"])
    await cluster.check(requester, "test", {0: [], 1: []})


@pytest.mark.parametrize("requester", REQUESTERS)
async def test_broadcasts_to_local_clients_only(cluster: Cluster, requester: str) -> None:
    await cluster.emit(requester, "test", [], local=True)
    await cluster.check(requester, "test", {0 if requester == "node" else 1: []})


@pytest.mark.parametrize("requester", REQUESTERS)
async def test_broadcasts_to_a_single_client(cluster: Cluster, requester: str) -> None:
    target = 2 if requester == "node" else 0
    await cluster.emit(requester, "test", [], rooms=[cluster.clients[target].sid()])
    await cluster.check(requester, "test", {target: []})


@pytest.mark.parametrize("requester", REQUESTERS)
async def test_broadcasts_to_a_numeric_room(cluster: Cluster, requester: str) -> None:
    await cluster.emit(requester, "test", [], rooms=[123])
    await cluster.check(requester, "test", {0: []})


# ----------------------------------------------- broadcast with acknowledgements


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


@pytest.mark.parametrize("requester", REQUESTERS)
async def test_broadcasts_with_multiple_acknowledgements(
    cluster: Cluster, requester: str
) -> None:
    for number, client in enumerate(cluster.clients):
        client.ack_reply = number + 1
    err, responses = await emit_with_ack(cluster, requester, "test")
    assert err is None
    assert counted(responses) == counted([1, 2, 3])
    for client in cluster.clients:
        assert client.named("test") == [[1, "2"]]
    await ack_registry_empty(cluster, requester)


@pytest.mark.parametrize("requester", REQUESTERS)
async def test_broadcasts_with_multiple_acknowledgements_binary_content(
    cluster: Cluster, requester: str
) -> None:
    for number, client in enumerate(cluster.clients):
        client.ack_reply = bytes([number, 0xFF])
    err, responses = await emit_with_ack(cluster, requester, "test")
    assert err is None
    assert all(isinstance(r, bytes) for r in responses), responses
    assert sorted(responses) == [b"\x00\xff", b"\x01\xff", b"\x02\xff"]
    await ack_registry_empty(cluster, requester)


@pytest.mark.parametrize("requester", REQUESTERS)
async def test_broadcasts_with_multiple_acknowledgements_no_client(
    cluster: Cluster, requester: str
) -> None:
    err, responses = await emit_with_ack(cluster, requester, "test", to="abc")
    assert (err, responses) == (None, [])
    await ack_registry_empty(cluster, requester)


@pytest.mark.parametrize("requester", REQUESTERS)
async def test_broadcasts_with_multiple_acknowledgements_timeout(
    cluster: Cluster, requester: str
) -> None:
    for number, client in enumerate(cluster.clients):
        client.ack_reply = number + 1
    silent = 2 if requester == "node" else 0  # on the other side of the requester
    cluster.never_ack(silent, "test")
    if requester == "py":
        with pytest.raises(RequestTimeoutError) as info:
            await cluster.py.emit_with_ack("test", (1, "2"), timeout=0.5)
        responses = info.value.responses
    else:
        err, responses = await emit_with_ack(cluster, requester, "test")
        assert err == "operation has timed out"
    expected = [n + 1 for n in range(3) if n != silent]
    assert counted(responses) == counted(expected)
    await ack_registry_empty(cluster, requester)


# ------------------------------------------------------ socketsJoin / Leave


async def sockets_op(
    cluster: Cluster, requester: str, op: str, target: str, rooms: list[Any] | None = None
) -> None:
    """``io.in(rooms).socketsJoin(target)`` (op "join") or ``socketsLeave`` ("leave")."""
    if requester == "node":
        await cluster.node.command(f"sockets_{op}", nsp="/", rooms=rooms or [], target=target)
    elif op == "join":
        await cluster.py.sockets_join(target, rooms=rooms)
    else:
        await cluster.py.sockets_leave(target, rooms=rooms)


@pytest.fixture
async def join_cluster(make_cluster: ClusterFactory) -> Cluster:
    return await make_cluster(rooms=JOIN_ROOMS, namespaces=("/",))


@pytest.mark.parametrize("requester", REQUESTERS)
async def test_sockets_join_all(join_cluster: Cluster, requester: str) -> None:
    await sockets_op(join_cluster, requester, "join", "room4")
    await join_cluster.expect_rooms(
        [{"a", "b", "room4"}, {"a", "room4"}, {"a", "b", "room4"}], requester
    )


@pytest.mark.parametrize("requester", REQUESTERS)
async def test_sockets_join_matching(join_cluster: Cluster, requester: str) -> None:
    await sockets_op(join_cluster, requester, "join", "room4", rooms=["b"])
    await join_cluster.expect_rooms([{"a", "b", "room4"}, {"a"}, {"a", "b", "room4"}], requester)


@pytest.mark.parametrize("requester", REQUESTERS)
async def test_sockets_join_given_socket(join_cluster: Cluster, requester: str) -> None:
    target = 2 if requester == "node" else 0
    await sockets_op(
        join_cluster, requester, "join", "room4", rooms=[join_cluster.clients[target].sid()]
    )
    expected = [{"a", "b"}, {"a"}, {"a", "b"}]
    expected[target].add("room4")
    await join_cluster.expect_rooms(expected, requester)


@pytest.mark.parametrize("requester", REQUESTERS)
async def test_sockets_leave_all(join_cluster: Cluster, requester: str) -> None:
    await sockets_op(join_cluster, requester, "leave", "a")
    await join_cluster.expect_rooms([{"b"}, set(), {"b"}], requester)


@pytest.mark.parametrize("requester", REQUESTERS)
async def test_sockets_leave_matching(join_cluster: Cluster, requester: str) -> None:
    await sockets_op(join_cluster, requester, "leave", "a", rooms=["b"])
    await join_cluster.expect_rooms([{"b"}, {"a"}, {"b"}], requester)


@pytest.mark.parametrize("requester", REQUESTERS)
async def test_sockets_leave_given_socket(join_cluster: Cluster, requester: str) -> None:
    target = 2 if requester == "node" else 0
    await sockets_op(
        join_cluster, requester, "leave", "a", rooms=[join_cluster.clients[target].sid()]
    )
    expected = [{"a", "b"}, {"a"}, {"a", "b"}]
    expected[target].discard("a")
    await join_cluster.expect_rooms(expected, requester)


# ---------------------------------------------------------- disconnectSockets


@pytest.mark.parametrize("requester", REQUESTERS)
async def test_disconnect_sockets_all(make_cluster: ClusterFactory, requester: str) -> None:
    cluster = await make_cluster(rooms=NO_ROOMS, namespaces=("/",))
    reasons: list[list[Any]] = [[], [], []]
    gone = [asyncio.Event() for _ in range(3)]
    for number, client in enumerate(cluster.clients):
        def on_disconnect(reason: Any = None, number: int = number) -> None:
            reasons[number].append(reason)
            gone[number].set()

        client.sio.on("disconnect", on_disconnect)
    if requester == "node":
        await cluster.node.command("disconnect_sockets", nsp="/")
    else:
        await cluster.py.disconnect_sockets()
    await asyncio.wait_for(asyncio.gather(*(event.wait() for event in gone)), 5)
    # python-socketio's name for Socket.IO's "io server disconnect"
    assert reasons == [[SERVER_DISCONNECT]] * 3
    assert (await cluster.node.command("sockets"))["/"] == []
    for server in cluster.servers:
        assert await server.adapter.fetch_sockets(local=True) == []


# -------------------------------------------------------------- fetchSockets


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


@pytest.fixture
async def bare_cluster(make_cluster: ClusterFactory) -> Cluster:
    return await make_cluster(rooms=NO_ROOMS, namespaces=("/",))


@pytest.mark.parametrize("requester", REQUESTERS)
async def test_fetch_sockets_returns_all(bare_cluster: Cluster, requester: str) -> None:
    sockets = await fetch(bare_cluster, requester)
    assert sorted(s["id"] for s in sockets) == sorted(bare_cluster.sids())
    assert sorted(s["data"] for s in sockets) == ["test-0", "test-1", "test-2"]
    await no_pending_requests(bare_cluster, requester)


@pytest.mark.parametrize("requester", REQUESTERS)
async def test_fetch_sockets_returns_a_single_socket(
    bare_cluster: Cluster, requester: str
) -> None:
    target = 2 if requester == "node" else 0
    sid = bare_cluster.clients[target].sid()
    [socket] = await fetch(bare_cluster, requester, rooms=[sid])
    assert socket["id"] == sid
    assert socket["data"] == f"test-{target}"
    assert socket["rooms"] == {sid}  # rooms.size === 1
    handshake = socket["handshake"]
    if requester == "py":
        # the Node socket, as the Node server itself describes it
        [own] = await bare_cluster.node.command("fetch_sockets", nsp="/", rooms=[sid], local=True)
        assert handshake == own["handshake"]
        assert handshake["auth"] == {"rooms": [], "data": "test-0"}
    else:
        # the Python socket, as its own server describes it
        [own] = await bare_cluster.servers[1].adapter.fetch_sockets(sid, local=True)
        assert handshake == own.handshake
        assert set(handshake) == {
            "headers", "time", "address", "xdomain", "secure", "issued", "url", "query", "auth"
        }
        assert handshake["address"] == "127.0.0.1"
        assert handshake["query"]["EIO"] == "4"
        assert handshake["query"]["transport"] == "websocket"
        assert handshake["url"].startswith("/socket.io/?")
        assert "transport=websocket" in handshake["url"]
        assert handshake["headers"]["host"] == f"127.0.0.1:{bare_cluster.servers[1].port}"
        assert handshake["secure"] is False
        assert abs(handshake["issued"] - time.time() * 1000) < 60_000
        assert handshake["time"].endswith("GMT+0000 (Coordinated Universal Time)")
    await no_pending_requests(bare_cluster, requester)


@pytest.mark.parametrize("requester", REQUESTERS)
async def test_fetch_sockets_returns_only_local(bare_cluster: Cluster, requester: str) -> None:
    sockets = await fetch(bare_cluster, requester, local=True)
    local = 0 if requester == "node" else 1
    assert [s["id"] for s in sockets] == [bare_cluster.clients[local].sid()]
    await no_pending_requests(bare_cluster, requester)


# ------------------------------------------------------------ serverSideEmit


def record(server: PyServer, event: str, reply: Any = None) -> list[list[Any]]:
    """Register a server-side handler on a Python server; return its call log."""
    calls: list[list[Any]] = []

    def handler(*args: Any) -> Any:
        calls.append(list(args))
        return reply

    server.adapter.on_server_side_event(event, handler)
    return calls


@pytest.mark.parametrize("requester", REQUESTERS)
async def test_server_side_emit_to_other_servers(cluster: Cluster, requester: str) -> None:
    await cluster.node.command("on_server_side_event", nsp="/", event="hello", no_reply=True)
    await cluster.node.command("on_server_side_event", nsp="/", event="marker", no_reply=True)
    hello = [record(server, "hello") for server in cluster.servers]
    marker = [record(server, "marker") for server in cluster.servers]
    if requester == "node":
        await cluster.node.command(
            "server_side_emit", nsp="/", event="hello", args=["world", 1, "2"]
        )
        receivers, sender = [hello[0], hello[1]], None
    else:
        await cluster.py.server_side_emit("hello", "world", 1, "2")
        node_event = await cluster.node.wait_event("server_side_event", name="hello")
        assert node_event["args"] == ["world", 1, "2"]
        receivers, sender = [hello[1]], hello[0]

    async def received() -> bool:
        return all(calls for calls in receivers)

    await eventually(received, "the other servers got the event")
    assert all(calls == [["world", 1, "2"]] for calls in receivers)
    # a marker from another server: the sender handles its messages in order
    if requester == "node":
        await cluster.servers[0].adapter.server_side_emit("marker")
        await cluster.node.wait_event("server_side_event", name="marker")
        assert [e for e in cluster.node.events if e.get("name") == "hello"] == []
    else:
        await cluster.servers[1].adapter.server_side_emit("marker")

        async def sender_got_marker() -> bool:
            return bool(marker[0])

        await eventually(sender_got_marker, "servers[0] got the marker")
        assert sender == []


@pytest.mark.parametrize("requester", REQUESTERS)
async def test_server_side_emit_with_responses(cluster: Cluster, requester: str) -> None:
    if requester == "node":
        record(cluster.servers[0], "hello", 2)
        record(cluster.servers[1], "hello", "3")
        result = await cluster.node.command(
            "server_side_emit", nsp="/", event="hello", args=["world"], ack=True
        )
        assert result["err"] is None
        responses = result["responses"]
    else:
        await cluster.node.command("on_server_side_event", nsp="/", event="hello", reply=2)
        record(cluster.servers[1], "hello", "3")
        responses = await cluster.py.server_side_call("hello", "world")
    assert counted(responses) == counted([2, "3"])
    await no_pending_requests(cluster, requester)


@pytest.mark.parametrize("requester", REQUESTERS)
async def test_server_side_emit_timeout_if_one_server_does_not_respond(
    cluster: Cluster, requester: str
) -> None:
    if requester == "node":
        record(cluster.servers[0], "hello", 2)  # servers[1] has no handler
        result = await cluster.node.command(
            "server_side_emit", nsp="/", event="hello", args=["world"], ack=True
        )
        message, responses = result["err"], result["responses"]
    else:
        # Node's handler never calls back
        await cluster.node.command("on_server_side_event", nsp="/", event="hello", no_reply=True)
        record(cluster.servers[1], "hello", 2)
        with pytest.raises(RequestTimeoutError) as info:
            await cluster.py.server_side_call("hello", "world")
        message, responses = str(info.value), info.value.responses
    assert message == "timeout reached: only 1 responses received out of 2"
    assert responses == [2]
    await no_pending_requests(cluster, requester)


# ------------------------------------------------------------------ allRooms


@pytest.mark.parametrize("requester", REQUESTERS)
async def test_all_rooms_across_several_nodes(bare_cluster: Cluster, requester: str) -> None:
    sids = bare_cluster.sids()
    if requester == "node":  # a socket on the other side joins woot1
        await bare_cluster.servers[1].sio.enter_room(sids[2], "woot1")
        rooms = await bare_cluster.node.command("all_rooms", nsp="/")
        assert len(rooms) == 4
        rooms = set(rooms)
    else:
        await bare_cluster.node.command("join", sid=sids[0], nsp="/", room="woot1")
        rooms = await bare_cluster.py.all_rooms()
    assert rooms == {*sids, "woot1"}
    await no_pending_requests(bare_cluster, requester)


# ------------------------------------------------------- unknown channels


async def test_ignores_messages_from_unknown_channels(cluster: Cluster) -> None:
    key = cluster.key
    garbage = b"\x01not a message\xff\x00"
    redis = aioredis.Redis.from_url(cluster.redis_url)
    try:
        for channel in (
            f"{key}#/#nope",  # matches every "/" pattern; not <key>#<nsp>#<room>#
            f"{key}#/#nope#",  # a room nobody is in
            f"{key}#/unknown#",  # a namespace nobody serves
            f"{key}-request#/#",  # undecodable request
            "foo",  # unrelated (Node's test: PSUBSCRIBE f?o)
            "woot",
        ):
            await redis.publish(channel, garbage)
    finally:
        await redis.aclose()
    for requester in REQUESTERS:
        await cluster.emit(requester, f"after-{requester}", ["ok"])
        await cluster.check(requester, f"after-{requester}", {n: ["ok"] for n in range(3)})
    assert cluster.node.running
    assert [e for e in cluster.node.events if e.get("event") == "error"] == []
    assert await cluster.node.command("server_count", nsp="/") == 3


# ------------------------------------------------------------- custom parser


@pytest.mark.parametrize("requester", REQUESTERS)
async def test_custom_parser_broadcasts(make_cluster: ClusterFactory, requester: str) -> None:
    cluster = await make_cluster(parser="json", namespaces=("/",))
    await cluster.emit(requester, "test", [1, "2", [3]])
    await cluster.check(requester, "test", {n: [1, "2", [3]] for n in range(3)})


# ------------------------------------------- specific response channel


@pytest.mark.parametrize("requester", REQUESTERS)
async def test_specific_response_channel(make_cluster: ClusterFactory, requester: str) -> None:
    """publishOnSpecificResponseChannel on every member: requests still complete."""
    cluster = await make_cluster(rooms=NO_ROOMS, namespaces=("/",), specific=True)
    sockets = await fetch(cluster, requester)
    assert sorted(s["id"] for s in sockets) == sorted(cluster.sids())
    for number, client in enumerate(cluster.clients):
        client.ack_reply = number + 1
    err, responses = await emit_with_ack(cluster, requester, "test")
    assert err is None
    assert counted(responses) == counted([1, 2, 3])
    await no_pending_requests(cluster, requester)
    await ack_registry_empty(cluster, requester)
