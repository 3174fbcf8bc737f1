"""Broadcasts across three python-socketio servers with real clients."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from socketio_redis_adapter import MsgpackParser, RawPubSub, RedisPubSub
from socketio_redis_adapter.protocol import notepack
from socketio_redis_adapter.protocol.broadcast import broadcast_value, decode_broadcast
from tests.support.redis_server import RedisServer
from tests.support.sio_cluster import Client, PyServer, close_all, settle


class Cluster:
    def __init__(self, servers: list[PyServer], clients: list[Client]) -> None:
        self.servers = servers
        self.clients = clients


@pytest.fixture
async def cluster(redis_server: RedisServer) -> AsyncIterator[Cluster]:
    """Three servers on one key; client i is on server i, in room ``room<i+1>``.

    Client 0 is also in room 123 (a number); client 2 is in room3 and "room1"
    is joined by clients 0 and 1.
    """
    key = f"test-{uuid.uuid4().hex[:8]}"
    servers = [await PyServer.start(redis_server.url, key=key) for _ in range(3)]
    rooms: list[list[Any]] = [["room1", 123], ["room1", "room2"], ["room3"]]
    clients = []
    try:
        for server, client_rooms in zip(servers, rooms, strict=True):
            clients.append(
                await Client.connect(server.url, rooms=client_rooms, namespaces=["/", "/custom"])
            )
        yield Cluster(servers, clients)
    finally:
        await close_all(clients, servers)


async def test_broadcast_to_all_with_binary(cluster: Cluster) -> None:
    await cluster.servers[0].sio.emit("test", (1, "2", b"\x03\x04"))
    for client in cluster.clients:
        assert await client.wait_for("test") == [[1, "2", b"\x03\x04"]]


async def test_broadcast_to_namespace(cluster: Cluster) -> None:
    await cluster.servers[1].sio.emit("hi", {"a": 1}, namespace="/custom")
    for client in cluster.clients:
        assert await client.wait_for("hi", namespace="/custom") == [[{"a": 1}]]
        assert client.named("hi") == []


async def test_broadcast_to_room(cluster: Cluster) -> None:
    await cluster.servers[2].sio.emit("r", "x", to="room1")
    assert await cluster.clients[0].wait_for("r") == [["x"]]
    assert await cluster.clients[1].wait_for("r") == [["x"]]
    await settle()
    assert cluster.clients[2].named("r") == []


async def test_broadcast_to_numeric_room(cluster: Cluster) -> None:
    await cluster.servers[1].sio.emit("n", 5, to=123)
    assert await cluster.clients[0].wait_for("n") == [[5]]
    await settle()
    assert cluster.clients[1].named("n") == [] and cluster.clients[2].named("n") == []


async def test_broadcast_to_several_rooms_once_each_except_room(cluster: Cluster) -> None:
    await cluster.servers[0].adapter.emit(
        "once", None, "/", to=["room1", "room2", "room3"], except_rooms=["room3"]
    )
    await cluster.clients[0].wait_for("once")
    await cluster.clients[1].wait_for("once")
    await settle()
    assert cluster.clients[0].named("once") == [[]]
    assert cluster.clients[1].named("once") == [[]]
    assert cluster.clients[2].named("once") == []


async def test_broadcast_except_room(cluster: Cluster) -> None:
    await cluster.servers[1].adapter.emit("ex", 1, "/", except_rooms="room1")
    assert await cluster.clients[2].wait_for("ex") == [[1]]
    await settle()
    assert cluster.clients[0].named("ex") == [] and cluster.clients[1].named("ex") == []


async def test_broadcast_skip_sid_on_another_server(cluster: Cluster) -> None:
    await cluster.servers[0].sio.emit("sk", 1, skip_sid=cluster.clients[1].sid())
    await cluster.clients[0].wait_for("sk")
    await cluster.clients[2].wait_for("sk")
    await settle()
    assert cluster.clients[1].named("sk") == []


async def test_broadcast_to_single_socket_on_another_server(cluster: Cluster) -> None:
    target = cluster.clients[2].sid()
    await cluster.servers[0].sio.emit("single", "s", to=target)
    assert await cluster.clients[2].wait_for("single") == [["s"]]
    await settle()
    assert cluster.clients[0].named("single") == [] and cluster.clients[1].named("single") == []


async def test_local_only_broadcast(cluster: Cluster) -> None:
    await cluster.servers[1].adapter.emit("loc", 1, "/", ignore_queue=True)
    assert await cluster.clients[1].wait_for("loc") == [[1]]
    await settle()
    assert cluster.clients[0].named("loc") == [] and cluster.clients[2].named("loc") == []


@pytest.mark.parametrize("kind", ["raw", "redis-py"])
async def test_broadcast_over_a_unix_socket(kind: str) -> None:
    """``unix://`` URLs work with both connection layers."""
    server = RedisServer(unix_socket=True)
    server.start()
    servers: list[PyServer] = []
    clients: list[Client] = []
    try:
        url = server.unix_url
        options: dict[str, Any] = {"key": f"unix-{uuid.uuid4().hex[:8]}"}
        if kind == "redis-py":
            options["redis_options"] = {"socket_connect_timeout": 5}
        servers = [await PyServer.start(url, **options) for _ in range(2)]
        expected = RawPubSub if kind == "raw" else RedisPubSub
        assert all(type(s.adapter.connection) is expected for s in servers)
        clients = [await Client.connect(s.url) for s in servers]
        await servers[0].sio.emit("over-unix", b"\x01")
        assert await clients[1].wait_for("over-unix") == [[b"\x01"]]
    finally:
        await close_all(clients, servers)
        server.stop()


async def test_a_ready_redis_client_is_accepted(redis_server: RedisServer) -> None:
    """``AsyncRedisAdapter(redis.asyncio.Redis(...))``: publishes and subscribes on it."""
    key = f"client-{uuid.uuid4().hex[:8]}"
    redis_client = aioredis.Redis.from_url(redis_server.url)
    servers: list[PyServer] = []
    clients: list[Client] = []
    try:
        servers = [
            await PyServer.start(redis_client, key=key),
            await PyServer.start(redis_server.url, key=key),
        ]
        assert type(servers[0].adapter.connection) is RedisPubSub
        clients = [await Client.connect(s.url, rooms=["r"]) for s in servers]
        await servers[0].sio.emit("from-client", 1, to="r")
        await servers[1].sio.emit("to-client", 2, to="r")
        assert await clients[1].wait_for("from-client") == [[1]]
        assert await clients[0].wait_for("to-client") == [[2]]
        assert await servers[1].adapter.server_count() == 2
    finally:
        await close_all(clients, servers)
        assert await redis_client.ping()  # a client the user passed in is left open
        await redis_client.aclose()


@pytest.mark.needs_tls
async def test_broadcast_over_tls() -> None:
    """``rediss://`` URLs (redis-py's connection layer, certificate verified)."""
    server = RedisServer(tls=True)
    server.start()
    servers: list[PyServer] = []
    clients: list[Client] = []
    try:
        key = f"tls-{uuid.uuid4().hex[:8]}"
        servers = [await PyServer.start(server.tls_url, key=key) for _ in range(2)]
        assert all(type(s.adapter.connection) is RedisPubSub for s in servers)
        clients = [await Client.connect(s.url) for s in servers]
        await servers[1].sio.emit("over-tls", {"secure": True})
        assert await clients[0].wait_for("over-tls") == [[{"secure": True}]]
    finally:
        await close_all(clients, servers)
        server.stop()


class CountingParser(MsgpackParser):
    """A parser of the user's: the adapter must call it, not its own msgpack path."""

    def __init__(self) -> None:
        self.encoded: list[Any] = []
        self.decoded: list[Any] = []

    def encode(self, value: Any) -> bytes:
        self.encoded.append(value)
        return super().encode(value)

    def decode(self, data: bytes) -> Any:
        value = super().decode(data)
        self.decoded.append(value)
        return value


async def test_msgpack_parser_subclass_is_called(redis_server: RedisServer) -> None:
    key = f"test-{uuid.uuid4().hex[:8]}"
    parsers = [CountingParser(), CountingParser()]
    servers = [await PyServer.start(redis_server.url, key=key, parser=p) for p in parsers]
    client = None
    try:
        client = await Client.connect(servers[1].url)
        await servers[0].sio.emit("counted", {"a": [1, 2.5]})
        assert await client.wait_for("counted") == [[{"a": [1, 2.5]}]]
        assert parsers[0].encoded[-1][1]["data"] == ["counted", {"a": [1, 2.5]}]
        assert parsers[1].decoded[-1][1]["data"] == ["counted", {"a": [1, 2.5]}]
    finally:
        if client is not None:
            await client.close()
        for server in servers:
            await server.stop()


async def test_published_bytes_with_datetimes_and_number_keys(redis_server: RedisServer) -> None:
    """What the default parser publishes: notepack.packb's bytes, decoded back."""
    key = f"test-{uuid.uuid4().hex[:8]}"
    server = await PyServer.start(redis_server.url, key=key)
    watcher = aioredis.Redis.from_url(redis_server.url)
    pubsub = watcher.pubsub()
    try:
        await pubsub.psubscribe(f"{key}#*")
        when = datetime.datetime(1969, 7, 20, 20, 17, 40, 123456)
        data = {"at": when, 2.5: [when], None: b"\x00", 7: "seven"}
        await server.adapter.emit("dated", data, "/", to="room", skip_sid="sid")
        message = None
        while message is None or message["type"] != "pmessage":
            message = await pubsub.get_message(timeout=5)
        assert message["channel"] == f"{key}#/#room#".encode()
        assert message["data"] == notepack.packb(broadcast_value(
            server.adapter.uid, "/", ["dated", data], ["room"], ["sid"], {}
        ))
        decoded = decode_broadcast(MsgpackParser(), message["data"])
        assert decoded.data == ["dated", {
            "at": when.replace(tzinfo=datetime.timezone.utc),
            "2.5": [when.replace(tzinfo=datetime.timezone.utc)],
            "null": b"\x00",
            "7": "seven",
        }]
    finally:
        await pubsub.aclose()
        await watcher.aclose()
        await server.stop()


async def test_disconnect_drops_the_delivery_record(redis_server: RedisServer) -> None:
    """``deliver``'s per-socket records follow connects, transports and disconnects."""
    server = await PyServer.start(redis_server.url, key=f"test-{uuid.uuid4().hex[:8]}")
    cache = server.adapter.fanout.cache
    clients: list[Client] = []
    try:
        clients = [
            await Client.connect(server.url, namespaces=["/", "/custom"]),
            await Client.connect(server.url, transports=["polling"]),
        ]
        eio_sids = [str(server.sio.manager.eio_sid_from_sid(c.sid(), "/")) for c in clients]
        for round_ in range(2):
            await server.sio.emit("bin", (round_, b"\x01\x02"))
            await server.sio.emit("text", round_)
            for client in clients:
                assert await client.wait_for("bin", round_ + 1) == [
                    [i, b"\x01\x02"] for i in range(round_ + 1)
                ]
                assert await client.wait_for("text", round_ + 1) == [
                    [i] for i in range(round_ + 1)
                ]
        assert len(cache) <= 2
        await clients[0].close()
        await settle()
        assert eio_sids[0] not in cache
        await server.sio.emit("after", 1)
        assert await clients[1].wait_for("after") == [[1]]
        assert clients[0].named("after") == []
        assert len(cache) <= 1
        # a new client: a new Engine.IO socket, a new record
        clients.append(await Client.connect(server.url))
        await server.sio.emit("again", 2)
        for client in clients[1:]:
            assert await client.wait_for("again") == [[2]]
    finally:
        for client in clients:
            await client.close()
        await server.stop()
    assert len(cache) == 0
