"""``RedisAdapter`` on a Redis Cluster and behind Sentinel, beside ``AsyncRedisAdapter``.

Real topologies started by the suite on loopback ports (``tests/support/topologies.py``):
a 3-master cluster, and a master with a replica watched by 3 sentinels whose master is
killed (SIGKILL) while the servers run.  The sync server is ``socketio.Server`` in
threading mode (Werkzeug), its clients real Socket.IO clients.
"""

from __future__ import annotations

import asyncio
import time
import uuid

from tests.support.sio_cluster import Client, PyServer
from tests.support.sync_server import SyncServer
from tests.support.topologies import RedisCluster, RedisSentinelSet


async def _pair(url: str) -> tuple[SyncServer, PyServer]:
    key = f"sync-topo-{uuid.uuid4().hex[:8]}"
    sync = await asyncio.to_thread(SyncServer.start, url, key=key, requests_timeout=3.0)
    try:
        py = await PyServer.start(url, key=key, requests_timeout=3.0)
    except BaseException:
        await asyncio.to_thread(sync.stop)
        raise
    return sync, py


async def test_on_a_redis_cluster(redis_cluster: RedisCluster) -> None:
    sync, py = await _pair(redis_cluster.url)
    clients: list[Client] = []
    try:
        on_sync = await Client.connect(sync.url, rooms=["r"])
        on_py = await Client.connect(py.url, rooms=["r"])
        clients += [on_sync, on_py]
        # subscribers on different nodes are counted on every node: the sum is 2
        assert await sync.call(sync.adapter.server_count) == 2
        await sync.call(sync.sio.emit, "from-sync", 1, to="r")
        await py.sio.emit("from-py", 2, to="r")
        for client in clients:
            assert await client.wait_for("from-sync") == [[1]]
            assert await client.wait_for("from-py") == [[2]]
        sockets = await sync.call(sync.adapter.fetch_sockets, "r")
        assert {s.id for s in sockets} == {on_sync.sid(), on_py.sid()}
    finally:
        for client in clients:
            await client.close()
        await py.stop()
        await asyncio.to_thread(sync.stop)


async def test_behind_sentinel_through_a_failover(sentinel_set: RedisSentinelSet) -> None:
    """The master is killed: the sync server learns the new one from the sentinels, its
    listener subscribes there (every channel and pattern again, each counted once in
    ``stats["resubscribed"]``), and broadcasts flow both ways again."""
    sync, py = await _pair(sentinel_set.url)
    clients: list[Client] = []
    try:
        assert sync.adapter.connection.topology.primary().port == sentinel_set.master.port
        on_sync = await Client.connect(sync.url, rooms=["r"])
        on_py = await Client.connect(py.url, rooms=["r"])
        clients += [on_sync, on_py]
        await py.sio.emit("before", 0, to="r")
        await on_sync.wait_for("before")

        connection = sync.adapter.connection
        held = len(connection.channels) + len(connection.patterns)
        resubscribed = sync.adapter.stats["resubscribed"]
        killed = sentinel_set.kill_master()
        started = time.monotonic()
        new_master = await asyncio.to_thread(sentinel_set.wait_new_master, 25.0)
        assert new_master.port != killed.port
        seq = 0
        while not on_sync.named("after"):  # from the async server to the sync server's client
            assert time.monotonic() - started < 30, "no broadcast reached the sync server"
            seq += 1
            try:
                await py.sio.emit("after", seq, to="r")
            except Exception:  # noqa: S110 - the async server may still be failing over
                pass
            await asyncio.sleep(0.1)
        deadline = time.monotonic() + 15
        while not on_py.named("from-sync"):  # and from the sync server to the async one's
            assert time.monotonic() < deadline, "the sync server's broadcasts do not arrive"
            try:
                await sync.call(sync.sio.emit, "from-sync", 1, to="r")
            except (ConnectionError, OSError):
                pass  # its publisher is still reconnecting
            await asyncio.sleep(0.1)
        assert sync.adapter.connection.topology.primary().port == new_master.port
        assert await sync.call(sync.adapter.server_count) == 2
        deadline = time.monotonic() + 10
        while not connection.connected:  # Redis confirmed every subscription again
            assert time.monotonic() < deadline, "the sync server's listener is not back"
            await asyncio.sleep(0.05)
        assert held >= 3 and sync.adapter.stats["resubscribed"] - resubscribed == held
        print(f"sync server behind sentinel: broadcasts both ways "
              f"{time.monotonic() - started:.1f} s after the master was killed")
    finally:
        for client in clients:
            await client.close()
        await py.stop()
        await asyncio.to_thread(sync.stop)
