"""The Node peer running Node's sharded adapter (``createShardedAdapter``) in each
subscription mode on a standalone Redis 7, and both adapters on a Redis Cluster.

The raw-traffic tests prove that the peer really runs the sharded adapter in the mode asked
for: they read the shard channels it subscribes (``PUBSUB SHARDCHANNELS``) and the channel a
room broadcast is SPUBLISHed on (a plain redis-py client SSUBSCRIBEd to it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis
import socketio

from tests.support.node_peer import NodePeer, NodePeerError
from tests.support.redis_server import RedisServer
from tests.support.shard_listener import ShardListener, shard_listener
from tests.support.topologies import apply_acl

pytestmark = pytest.mark.node

MODES = ("static", "dynamic", "dynamic-private")


class SioClient:
    """A python-socketio AsyncClient connected to one Node peer; records what it gets."""

    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.received: list[tuple[str, list[Any]]] = []
        self._changed = asyncio.Event()

        async def on_any(event: str, *args: Any) -> None:
            self.received.append((event, list(args)))
            self._changed.set()

        self.sio.on("*", on_any, namespace="/")

    async def connect(self, peer: NodePeer, rooms: list[str] | None = None) -> SioClient:
        await asyncio.wait_for(
            self.sio.connect(
                peer.url,
                transports=["websocket"],
                auth={"rooms": rooms or []},
                wait_timeout=5,
            ),
            10,
        )
        # The peer joins the auth rooms in its connection handler, before this event.
        await peer.wait_event("connection", nsp="/", id=self.sid)
        return self

    @property
    def sid(self) -> str:
        sid = self.sio.get_sid("/")
        assert sid is not None
        return str(sid)

    def events(self, name: str) -> list[list[Any]]:
        return [args for event, args in self.received if event == name]

    async def wait_for(self, name: str, timeout: float = 5.0) -> list[Any]:
        async def waiter() -> list[Any]:
            while not self.events(name):
                self._changed.clear()
                await self._changed.wait()
            return self.events(name)[0]

        try:
            return await asyncio.wait_for(waiter(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(f"no {name!r} within {timeout}s; got {self.received}") from None

    async def close(self) -> None:
        if self.sio.connected:
            await asyncio.wait_for(self.sio.disconnect(), 5)


@pytest.fixture
async def clients() -> AsyncIterator[list[SioClient]]:
    made: list[SioClient] = []
    try:
        yield made
    finally:
        await asyncio.gather(*(c.close() for c in made), return_exceptions=True)


async def connect(
    made: list[SioClient], peer: NodePeer, rooms: list[str] | None = None
) -> SioClient:
    client = SioClient()
    made.append(client)
    return await client.connect(peer, rooms)


@contextlib.asynccontextmanager
async def started_peers(count: int = 2, **options: Any) -> AsyncIterator[list[NodePeer]]:
    peers: list[NodePeer] = []
    try:
        for _ in range(count):
            peers.append(await NodePeer.start(**options))
        yield peers
    finally:
        await asyncio.gather(*(p.stop() for p in peers), return_exceptions=True)
        for peer in peers:
            assert peer.process.returncode is not None


class Sharded:
    """Two Node peers with the sharded adapter on one fresh channel prefix."""

    def __init__(self, redis_url: str, mode: str, prefix: str, a: NodePeer, b: NodePeer) -> None:
        self.redis_url = redis_url
        self.mode = mode
        self.prefix = prefix
        self.a = a
        self.b = b

    def channel(self, suffix: str = "") -> str:
        """The shard channel ``prefix#/#`` (+ ``suffix#`` for a room or a uid)."""
        return f"{self.prefix}#/#" + (f"{suffix}#" if suffix else "")


@pytest.fixture(params=MODES)
async def sharded(request: pytest.FixtureRequest, redis_server: Any) -> AsyncIterator[Sharded]:
    mode: str = request.param
    prefix = f"shard-{uuid.uuid4().hex[:10]}"  # isolates this test on the shared server
    async with started_peers(
        redis_url=redis_server.url, adapter="sharded", subscription_mode=mode, channel_prefix=prefix
    ) as (a, b):
        assert a.ready_info["adapter"] == b.ready_info["adapter"] == "sharded"
        yield Sharded(redis_server.url, mode, prefix, a, b)


# ------------------------------------------------------------------ standalone Redis 7


async def test_broadcast_to_all_reaches_the_other_peer(
    sharded: Sharded, clients: list[SioClient]
) -> None:
    c1 = await connect(clients, sharded.a)
    c2 = await connect(clients, sharded.b)
    await sharded.a.command("emit", nsp="/", event="hello", args=[1, "2", b"\x03", {"k": [4]}])
    for client in (c1, c2):
        args = await client.wait_for("hello")
        assert args == [1, "2", b"\x03", {"k": [4]}]


async def test_room_broadcast_reaches_a_remote_member_only(
    sharded: Sharded, clients: list[SioClient]
) -> None:
    a, b = sharded.a, sharded.b
    other_a = await connect(clients, a)
    member_b = await connect(clients, b)
    other_b = await connect(clients, b)
    assert "room-b" in await b.command("join", sid=member_b.sid, room="room-b")
    # dynamic modes: join() created the room, whose SSUBSCRIBE is not awaited by Node
    await b.wait_subscriptions()

    await a.command("emit", nsp="/", event="to-room", args=["r"], rooms=["room-b"])
    assert await member_b.wait_for("to-room") == ["r"]
    # Standalone Redis, one publisher, one subscriber connection per peer: the marker
    # comes after the room broadcast whatever shard channel each one used.
    await a.command("emit", nsp="/", event="marker")
    for client in (other_a, member_b, other_b):
        await client.wait_for("marker")
    assert other_a.events("to-room") == [] and other_b.events("to-room") == []
    assert member_b.events("to-room") == [["r"]]


async def test_server_count_fetch_sockets_and_acks(
    sharded: Sharded, clients: list[SioClient]
) -> None:
    a, b = sharded.a, sharded.b
    assert await a.command("server_count", nsp="/") == 2
    assert await b.command("server_count", nsp="/") == 2
    c1 = await connect(clients, a, rooms=["r1"])
    c2 = await connect(clients, b, rooms=["r2"])
    await b.wait_subscriptions()

    found = {s["id"]: s for s in await a.command("fetch_sockets", nsp="/")}
    assert set(found) == {c1.sid, c2.sid}
    assert set(found[c2.sid]["rooms"]) == {c2.sid, "r2"}
    only_r2 = await a.command("fetch_sockets", nsp="/", rooms=["r2"])
    assert [s["id"] for s in only_r2] == [c2.sid]

    c1.sio.on("ask", lambda *args: ["a", *args], namespace="/")
    c2.sio.on("ask", lambda *args: ["b", *args], namespace="/")
    result = await a.command("emit_with_ack", nsp="/", event="ask", args=[7])
    assert result["err"] is None
    assert sorted(result["responses"]) == [["a", 7], ["b", 7]]

    await b.command("on_server_side_event", nsp="/", event="ping", reply={"pong": 1})
    reply = await a.command("server_side_emit", nsp="/", event="ping", args=[42], ack=True)
    assert reply == {"err": None, "responses": [{"pong": 1}]}


async def shard_channels(redis_url: str, prefix: str) -> set[str]:
    conn = aioredis.Redis.from_url(redis_url)
    try:
        listed = await asyncio.wait_for(
            conn.execute_command("PUBSUB", "SHARDCHANNELS", f"{prefix}#*"), 5
        )
    finally:
        await conn.aclose()
    return {c.decode() if isinstance(c, bytes) else c for c in listed}


async def channel_of(listener: ShardListener, event: str, timeout: float = 5.0) -> str:
    """The shard channel on which the BROADCAST of ``event`` arrives."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (remaining := deadline - loop.time()) > 0:
        channel, data = await listener.next(remaining)
        assert data[:1] == b"{", data  # no binary in these packets: JSON
        decoded = json.loads(data)
        if decoded["type"] == 3 and decoded["data"]["packet"]["data"][0] == event:
            assert decoded["nsp"] == "/"
            return channel
    raise AssertionError(f"no BROADCAST of {event!r} within {timeout}s")


async def test_shard_channels_and_publish_channel_match_the_mode(
    sharded: Sharded, clients: list[SioClient]
) -> None:
    a, b = sharded.a, sharded.b
    c1 = await connect(clients, a)
    c2 = await connect(clients, b)
    await b.command("join", sid=c2.sid, room="room-b")
    await a.wait_subscriptions()
    await b.wait_subscriptions()

    uids = [(await peer.command("adapter_state", nsp="/"))["uid"] for peer in (a, b)]
    state = await b.command("adapter_state", nsp="/")
    assert state["subscriptionMode"] == sharded.mode
    assert state["channel"] == sharded.channel()
    base = {sharded.channel(), *(sharded.channel(uid) for uid in uids)}
    sid_channels = {sharded.channel(c1.sid), sharded.channel(c2.sid)}
    room_channel = sharded.channel("room-b")
    expected = {
        "static": base,
        "dynamic": base | {room_channel},
        "dynamic-private": base | {room_channel} | sid_channels,
    }[sharded.mode]
    assert await shard_channels(sharded.redis_url, sharded.prefix) == expected

    # Where A publishes a broadcast to one room: the room's own channel in the dynamic
    # modes; a socket-id room (20 characters) only in dynamic-private.
    listen = [sharded.channel(), room_channel, sharded.channel(c2.sid)]
    host, port = sharded.redis_url.split("//")[1].split("/")[0].split(":")
    async with shard_listener(host, int(port), listen) as pubsub:
        await a.command("emit", nsp="/", event="to-room", args=["r"], rooms=["room-b"])
        room_used = await channel_of(pubsub, "to-room")
        await a.command("emit", nsp="/", event="to-sid", args=["s"], rooms=[c2.sid])
        sid_used = await channel_of(pubsub, "to-sid")
        await a.command("emit", nsp="/", event="to-all", args=["x"])
        all_used = await channel_of(pubsub, "to-all")
    assert all_used == sharded.channel()
    if sharded.mode == "static":
        assert (room_used, sid_used) == (sharded.channel(), sharded.channel())
    elif sharded.mode == "dynamic":
        assert (room_used, sid_used) == (room_channel, sharded.channel())
    else:
        assert (room_used, sid_used) == (room_channel, sharded.channel(c2.sid))
    assert await c2.wait_for("to-room") == ["r"]
    assert await c2.wait_for("to-sid") == ["s"]

    # The last member leaving deletes the room: SUNSUBSCRIBE, tracked like SSUBSCRIBE.
    assert await b.command("leave", sid=c2.sid, room="room-b") == [c2.sid]
    await b.wait_subscriptions()
    left = expected - {room_channel}
    assert await shard_channels(sharded.redis_url, sharded.prefix) == left


async def test_all_rooms_is_not_supported_by_the_sharded_adapter(sharded: Sharded) -> None:
    # socket.io-adapter's ClusterAdapter (base of the sharded adapter) has no allRooms().
    with pytest.raises(NodePeerError, match=r"allRooms\(\) is not supported by the sharded"):
        await sharded.a.command("all_rooms", nsp="/")
    state = await sharded.a.command("adapter_state", nsp="/")
    assert state["requests"] == 0 and state["ackRequests"] == 0


@pytest.mark.needs_tls
async def test_tls_and_acl_user_on_standalone_redis(clients: list[SioClient]) -> None:
    server = RedisServer(tls=True)  # TLS only: a plain connection could not get through
    server.start()
    try:
        ca = server.tls_files["ca"]
        admin = aioredis.Redis(host="127.0.0.1", port=server.port, ssl=True, ssl_ca_certs=ca)
        try:
            await asyncio.wait_for(
                admin.execute_command(
                    "ACL",
                    "SETUSER",
                    "sio",
                    "on",
                    ">s3cret",
                    "resetchannels",
                    "&tls-ok*",
                    "~*",
                    "+@all",
                ),
                5,
            )
        finally:
            await admin.aclose()
        options = {
            "redis_url": f"redis://127.0.0.1:{server.port}/0",  # made rediss:// by tls_ca
            "adapter": "sharded",
            "tls_ca": ca,
            "username": "sio",
            "password": "s3cret",
        }
        async with started_peers(key="tls-ok", **options) as (a, b):
            c1 = await connect(clients, a)
            c2 = await connect(clients, b, rooms=["r"])
            await b.wait_subscriptions()
            assert await a.command("server_count", nsp="/") == 2
            await a.command("emit", nsp="/", event="to-room", args=[1], rooms=["r"])
            assert await c2.wait_for("to-room") == [1]
            await b.command("emit", nsp="/", event="to-all", args=[2])
            assert await c1.wait_for("to-all") == [2]
        # the peer really logs in as "sio": its channels outside &tls-ok* are refused
        with pytest.raises(NodePeerError, match="NOPERM"):
            await NodePeer.start(key="elsewhere", **options)
    finally:
        server.stop()


async def test_peer_option_errors(redis_server: Any) -> None:
    with pytest.raises(ValueError, match="adapter='sharded'"):
        await NodePeer.start(redis_server.url, subscription_mode="static")
    with pytest.raises(NodePeerError, match="unknown SUBSCRIPTION_MODE"):
        await NodePeer.start(redis_server.url, adapter="sharded", subscription_mode="nope")


# ------------------------------------------------------------------------ Redis Cluster


async def shard_channels_on_nodes(nodes: list[tuple[str, int]], prefix: str) -> list[set[str]]:
    found = []
    for host, port in nodes:
        conn = aioredis.Redis(host=host, port=port)
        try:
            listed = await asyncio.wait_for(
                conn.execute_command("PUBSUB", "SHARDCHANNELS", f"{prefix}#*"), 5
            )
        finally:
            await conn.aclose()
        found.append({c.decode() for c in listed})
    return found


@pytest.mark.parametrize(
    ("adapter", "mode"),
    [("sharded", "dynamic"), ("sharded", "dynamic-private"), ("sharded", "static"),
     ("classic", None)],
    ids=["sharded-dynamic", "sharded-dynamic-private", "sharded-static", "classic"],
)
async def test_on_redis_cluster(
    redis_cluster: Any, clients: list[SioClient], adapter: str, mode: str | None
) -> None:
    prefix = f"cl-{uuid.uuid4().hex[:10]}"
    nodes = [(str(host), int(port)) for host, port in redis_cluster.startup_nodes]
    options: dict[str, Any] = {"adapter": adapter, "key": prefix, "cluster_nodes": nodes}
    if mode is not None:
        options["subscription_mode"] = mode
    async with started_peers(redis_url="redis://unused.invalid:1/0", **options) as (a, b):
        assert a.ready_info["cluster"] is True
        assert a.ready_info["server_counts"] == {"/": 1}  # itself, before b started
        assert await a.command("server_count", nsp="/") == 2
        assert await b.command("server_count", nsp="/") == 2

        c1 = await connect(clients, a)
        c2 = await connect(clients, b)
        await a.command("emit", nsp="/", event="hello", args=[1, b"\x02"])
        for client in (c1, c2):
            assert await client.wait_for("hello") == [1, b"\x02"]

        await b.command("join", sid=c2.sid, room="room-b")
        await b.wait_subscriptions()
        await a.command("emit", nsp="/", event="to-room", args=["r"], rooms=["room-b"])
        assert await c2.wait_for("to-room") == ["r"]

        found = await a.command("fetch_sockets", nsp="/")
        assert {s["id"] for s in found} == {c1.sid, c2.sid}

        if adapter == "sharded":
            # Each shard channel lives on the master that owns its slot, nowhere else.
            per_node = await shard_channels_on_nodes(nodes, prefix)
            listed = [ch for node in per_node for ch in node]
            assert len(listed) == len(set(listed))
            uids = [(await p.command("adapter_state", nsp="/"))["uid"] for p in (a, b)]
            expected = {f"{prefix}#/#", *(f"{prefix}#/#{uid}#" for uid in uids)}
            if mode in ("dynamic", "dynamic-private"):
                expected.add(f"{prefix}#/#room-b#")
            if mode == "dynamic-private":  # each socket's own room too
                expected |= {f"{prefix}#/#{c1.sid}#", f"{prefix}#/#{c2.sid}#"}
            assert set(listed) == expected
        else:
            assert set(await b.command("all_rooms", nsp="/")) == {c1.sid, c2.sid, "room-b"}


@pytest.mark.needs_tls
async def test_sharded_on_a_tls_cluster_with_an_acl_user(
    tls_cluster: Any, clients: list[SioClient]
) -> None:
    prefix = f"tls-{uuid.uuid4().hex[:10]}"
    apply_acl(
        tls_cluster, "sio", "on", ">s3cret", "resetchannels", f"&{prefix}*", "~*", "+@all"
    )
    options = {
        "adapter": "sharded",
        "key": prefix,
        "cluster_nodes": tls_cluster.startup_nodes,
        "tls_ca": tls_cluster.ca_file,
        "username": "sio",
        "password": "s3cret",
    }
    async with started_peers(redis_url="redis://unused.invalid:1/0", **options) as (a, b):
        assert await b.command("server_count", nsp="/") == 2
        c1 = await connect(clients, a)
        c2 = await connect(clients, b, rooms=["room-b"])
        await b.wait_subscriptions()
        await a.command("emit", nsp="/", event="to-room", args=["r"], rooms=["room-b"])
        assert await c2.wait_for("to-room") == ["r"]
        await b.command("emit", nsp="/", event="to-all", args=[b"\x01"])
        assert await c1.wait_for("to-all") == [b"\x01"]
