"""Valkey and Unix-socket URLs everywhere a URL is taken.

``valkey://``, ``valkeys://`` (TLS) and ``unix://`` URLs, and the Valkey
spellings of the Cluster and Sentinel schemes, reach a real redis-server
through every public class (AsyncRedisAdapter on both connection layers,
AsyncShardedRedisAdapter, RedisAdapter, Emitter, SyncEmitter), and
``valkey+cluster://`` reaches a real Redis Cluster (``valkey+sentinel://`` is
checked as far as the topology it makes); the URL is mapped once
(``redis_py_url``) for redis-py, TLS kept; any other scheme raises
``ValueError`` naming the accepted ones.
"""

from __future__ import annotations

import asyncio
import types
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from socketio_redis_adapter import (
    AsyncRedisAdapter,
    AsyncShardedRedisAdapter,
    Emitter,
    RawPubSub,
    RedisAdapter,
    RedisPubSub,
    ShardedPubSub,
    SyncEmitter,
)
from socketio_redis_adapter.transport.factory import connect
from socketio_redis_adapter.transport.topology import ClusterTopology, SentinelTopology
from socketio_redis_adapter.transport.urls import (
    ACCEPTED_SCHEMES,
    redis_py_url,
    topology_from_url,
    unix_socket_reason,
)
from tests.support.redis_server import RedisServer, running
from tests.support.sio_cluster import Client, PyServer, close_all
from tests.support.sync_server import SyncServer
from tests.support.topologies import RedisCluster


def _key(what: str) -> str:
    return f"{what}-{uuid.uuid4().hex[:8]}"


def _valkey(url: str) -> str:
    """The same URL with the Valkey spelling of its scheme."""
    scheme, rest = url.split("://", 1)
    return {"redis": "valkey", "rediss": "valkeys"}[scheme] + "://" + rest


@pytest.fixture(scope="module")
def unix_redis() -> Iterator[RedisServer]:
    """A redis-server that also listens on a Unix socket."""
    yield from running(RedisServer(unix_socket=True))


@pytest.fixture(scope="module")
def tls_redis() -> Iterator[RedisServer]:
    """A redis-server that listens with TLS only (test CA in ``tls_files``)."""
    yield from running(RedisServer(tls=True))


# -- the mapping --------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("valkey://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("valkeys://u:p@host:6380/2?ssl_cert_reqs=none",
         "rediss://u:p@host:6380/2?ssl_cert_reqs=none"),
        ("VALKEY://h", "redis://h"),
        ("redis://h:1/0", "redis://h:1/0"),
        ("rediss://h:1/0", "rediss://h:1/0"),
        ("unix:///tmp/redis.sock?db=1", "unix:///tmp/redis.sock?db=1"),
    ],
)
def test_redis_py_url_maps_valkey_schemes_and_keeps_tls(url: str, expected: str) -> None:
    assert redis_py_url(url) == expected


@pytest.mark.parametrize(
    "url", ["http://h:1", "127.0.0.1:6379", "valkey+cluster://a:1,b:2", "redis+sentinel://s:1"]
)
def test_redis_py_url_refuses_what_from_url_cannot_take(url: str) -> None:
    with pytest.raises(ValueError, match="accepted schemes: redis://, rediss://, unix://, "
                                         "valkey://, valkeys://$"):
        redis_py_url(url)


def test_valkey_urls_give_the_same_topology_as_redis_ones() -> None:
    plain = topology_from_url("valkey://u:secret@127.0.0.1:7001/3")
    assert plain.primary() == topology_from_url("redis://127.0.0.1:7001/3").primary()
    assert (plain.settings.username, plain.settings.password, plain.settings.tls) == (
        "u", "secret", None
    )
    tls = topology_from_url("valkeys://127.0.0.1:7001/0?ssl_cert_reqs=none")
    assert tls.settings.tls is not None
    cluster = topology_from_url("valkeys+cluster://a:7000,b:7001")
    assert isinstance(cluster, ClusterTopology) and cluster.settings.tls is not None
    assert isinstance(topology_from_url("valkey+cluster://a:7000"), ClusterTopology)
    sentinel = topology_from_url("valkey+sentinel://s1:26379,s2:26379/0/mymaster")
    assert isinstance(sentinel, SentinelTopology) and sentinel.settings.tls is None
    assert isinstance(topology_from_url("valkeys+sentinel://s1:26379"), SentinelTopology)


def test_each_scheme_picks_the_transport_its_redis_twin_picks() -> None:
    assert type(connect("valkey://127.0.0.1:1/0")) is RawPubSub
    assert type(connect("valkey://127.0.0.1:1/0", socket_connect_timeout=1)) is RedisPubSub
    assert type(connect("valkeys://127.0.0.1:1/0")) is RedisPubSub
    assert type(connect("valkey+cluster://127.0.0.1:1")) is RawPubSub
    assert type(connect("valkey+sentinel://127.0.0.1:1")) is RawPubSub


def test_unix_sockets_are_refused_where_the_platform_has_none() -> None:
    assert unix_socket_reason() is None  # this machine has them
    without = types.ModuleType("socket")
    reason = unix_socket_reason(without, "linux")
    assert reason == "unix:// URLs need Unix domain sockets, which this platform (linux) lacks"
    assert unix_socket_reason(types.ModuleType("socket"), "win32") is not None


@pytest.mark.parametrize("url", ["http://127.0.0.1:6379", "memcached://h:1", "nothing"])
def test_an_unknown_scheme_names_the_accepted_ones_in_every_class(url: str) -> None:
    every = ", ".join(f"{scheme}://" for scheme in ACCEPTED_SCHEMES)
    for cls in (AsyncRedisAdapter, AsyncShardedRedisAdapter, RedisAdapter):
        with pytest.raises(ValueError, match="unsupported Redis URL") as caught:
            cls(url)
        assert str(caught.value).endswith(f"accepted schemes: {every}")
    for emitter_class in (Emitter, SyncEmitter):
        with pytest.raises(ValueError, match="valkey://, valkeys://$"):
            emitter_class(url)


# -- real servers ----------------------------------------------------------------


async def _broadcast_crosses(url: str, other_url: str, *, layer: type[Any] | None = None,
                             **options: Any) -> None:
    """Two asyncio servers, one on ``url`` and one on ``other_url`` (same Redis): a
    broadcast from each reaches the other's client."""
    if "channel_prefix" not in options:
        options.setdefault("key", _key("scheme"))
    servers: list[PyServer] = []
    clients: list[Client] = []
    try:
        servers = [await PyServer.start(url, **options),
                   await PyServer.start(other_url, **options)]
        if layer is not None:
            assert type(servers[0].adapter.connection) is layer
        clients = [await Client.connect(server.url) for server in servers]
        await servers[0].sio.emit("to-other", {"n": 1})
        await servers[1].sio.emit("back", b"\x00\x01")
        assert await clients[1].wait_for("to-other") == [[{"n": 1}]]
        assert await clients[0].wait_for("back") == [[b"\x00\x01"]]
    finally:
        await close_all(clients, servers)


async def test_async_adapter_over_valkey_url_raw(redis_server: RedisServer) -> None:
    await _broadcast_crosses(_valkey(redis_server.url), redis_server.url, layer=RawPubSub)


async def test_async_adapter_over_valkey_url_redis_py(redis_server: RedisServer) -> None:
    await _broadcast_crosses(
        _valkey(redis_server.url), redis_server.url, layer=RedisPubSub,
        redis_options={"socket_connect_timeout": 5},
    )


@pytest.mark.needs_sharded_pubsub
async def test_sharded_adapter_over_valkey_url(redis_server: RedisServer) -> None:
    prefix = _key("sharded-scheme")
    await _broadcast_crosses(
        _valkey(redis_server.url), redis_server.url, layer=ShardedPubSub,
        adapter_class=AsyncShardedRedisAdapter, channel_prefix=prefix,
    )


async def _sync_and_async_cross(url: str, other_url: str) -> None:
    """A RedisAdapter server on ``url``, an asyncio one on ``other_url``: each one's
    broadcast reaches the other's client."""
    key = _key("sync-scheme")
    sync = await asyncio.to_thread(SyncServer.start, url, key=key)
    py = None
    clients: list[Client] = []
    try:
        py = await PyServer.start(other_url, key=key)
        clients = [await Client.connect(sync.url), await Client.connect(py.url)]
        await sync.call(sync.sio.emit, "from-sync", 1)
        await py.sio.emit("from-async", 2)
        assert await clients[1].wait_for("from-sync") == [[1]]
        assert await clients[0].wait_for("from-async") == [[2]]
    finally:
        for client in clients:
            await client.close()
        if py is not None:
            await py.stop()
        await asyncio.to_thread(sync.stop)


async def test_sync_adapter_over_valkey_url(redis_server: RedisServer) -> None:
    await _sync_and_async_cross(_valkey(redis_server.url), redis_server.url)


async def _emitters_reach(emitter_url: str, server_url: str) -> None:
    """Emitter and SyncEmitter made from ``emitter_url`` reach a real client of a server
    on ``server_url``."""
    key = _key("emitter-scheme")
    server = await PyServer.start(server_url, key=key)
    client = None
    try:
        client = await Client.connect(server.url, rooms=["r"])
        async with Emitter(emitter_url, key=key) as emitter:
            await emitter.to("r").emit("from-emitter", {"async": True})

        def sync_emit() -> None:
            with SyncEmitter(emitter_url, key=key) as sync_emitter:
                sync_emitter.to("r").emit("from-sync-emitter", b"\x02")

        await asyncio.to_thread(sync_emit)
        assert await client.wait_for("from-emitter") == [[{"async": True}]]
        assert await client.wait_for("from-sync-emitter") == [[b"\x02"]]
    finally:
        if client is not None:
            await client.close()
        await server.stop()


async def test_emitters_over_valkey_url(redis_server: RedisServer) -> None:
    await _emitters_reach(_valkey(redis_server.url), redis_server.url)


async def test_every_class_over_a_unix_socket(unix_redis: RedisServer) -> None:
    """The async adapters over ``unix://`` are covered in test_broadcast.py; here the
    synchronous adapter and the emitters."""
    await _sync_and_async_cross(unix_redis.unix_url, unix_redis.url)
    await _emitters_reach(unix_redis.unix_url, unix_redis.url)


@pytest.mark.needs_tls
async def test_every_class_over_valkeys_tls(tls_redis: RedisServer) -> None:
    """``valkeys://`` keeps TLS (certificate verified against the test CA) for redis-py
    (AsyncRedisAdapter, emitters), the raw connections (sharded) and the blocking ones
    (RedisAdapter); the server listens with TLS only."""
    url = _valkey(tls_redis.tls_url)
    assert url.startswith("valkeys://")
    await _broadcast_crosses(url, tls_redis.tls_url, layer=RedisPubSub)
    await _broadcast_crosses(
        url, tls_redis.tls_url, layer=ShardedPubSub, adapter_class=AsyncShardedRedisAdapter,
        channel_prefix=_key("tls-sharded"),
    )
    await _sync_and_async_cross(url, tls_redis.tls_url)
    await _emitters_reach(url, tls_redis.tls_url)


def _cluster_urls(cluster: RedisCluster) -> tuple[str, str]:
    hosts = ",".join(f"{host}:{port}" for host, port in cluster.startup_nodes)
    return f"valkey+cluster://{hosts}", f"redis+cluster://{hosts}"


async def test_valkey_cluster_urls_reach_a_real_cluster(redis_cluster: RedisCluster) -> None:
    """``valkey+cluster://`` beside ``redis+cluster://`` on one Redis Cluster, for the
    classic adapters (asyncio and synchronous)."""
    url, other = _cluster_urls(redis_cluster)
    await _broadcast_crosses(url, other, layer=RawPubSub)
    await _sync_and_async_cross(url, other)


@pytest.mark.needs_sharded_pubsub
async def test_valkey_cluster_urls_reach_a_real_cluster_sharded(
    redis_cluster: RedisCluster,
) -> None:
    """The same for the sharded adapter."""
    url, other = _cluster_urls(redis_cluster)
    await _broadcast_crosses(url, other, layer=ShardedPubSub,
                             adapter_class=AsyncShardedRedisAdapter,
                             channel_prefix=_key("cluster-sharded"))
