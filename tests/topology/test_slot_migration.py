"""The sharded flavour's subscriptions follow a slot that moves to another cluster master.

A slot moved with ``CLUSTER SETSLOT`` (what ``redis-cli --cluster reshard`` does) takes its
sharded channels with it: the old owner drops their subscribers with an unsolicited
``sunsubscribe`` and answers ``SPUBLISH`` with ``MOVED``.  Both servers must notice by
themselves: the subscriber subscribes again on the new owner, the publisher sends there, and
broadcasts (to everyone on the main channel, to a room on the room's channel) flow again with
no restart.  Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from redis.crc import key_slot

from socketio_redis_adapter import AsyncShardedRedisAdapter
from tests.support.sio_cluster import Client, PyServer
from tests.support.topologies import RedisCluster, RedisNode

#: how long broadcasts may take to flow again after a slot moved (correctness, not speed)
RESUME_WAIT = 10.0
EMIT_EVERY = 0.05


@pytest.fixture
def moving_cluster() -> Iterator[RedisCluster]:
    """3 masters of this test's own, whose slots it moves."""
    with RedisCluster(masters=3) as cluster:
        yield cluster


def shard_channels(node: RedisNode, prefix: str) -> set[str]:
    listed = node.command("PUBSUB", "SHARDCHANNELS", f"{prefix}#*")
    return {c.decode() if isinstance(c, bytes) else str(c) for c in listed}


async def emit_until_received(server: PyServer, client: Client, name: str,
                              to: str | None) -> int:
    """Emit ``name`` with a growing number until ``client`` gets one; returns the failures.

    Emits that raise (a route being relearned) are counted, never fatal; bounded by
    ``RESUME_WAIT`` seconds.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + RESUME_WAIT
    failures = 0
    for number in range(int(RESUME_WAIT / EMIT_EVERY) + 1):
        try:
            await asyncio.wait_for(server.sio.emit(name, number, to=to), 3)
        except Exception:
            failures += 1
        await asyncio.sleep(EMIT_EVERY)
        if client.named(name):
            return failures
        if loop.time() >= deadline:
            break
    raise AssertionError(f"{name!r} did not reach the client within {RESUME_WAIT}s "
                         f"after the slot moved ({failures} emits failed)")


@pytest.mark.timeout(120)
async def test_sharded_subscriptions_and_publishes_follow_a_moved_slot(
    moving_cluster: RedisCluster,
) -> None:
    cluster = moving_cluster
    prefix = f"mig-{uuid.uuid4().hex[:10]}"
    options: dict[str, Any] = {
        "adapter_class": AsyncShardedRedisAdapter, "channel_prefix": prefix,
        "subscription_mode": "dynamic", "requests_timeout": 5.0,
    }
    servers = [await PyServer.start(cluster.url, **options) for _ in range(2)]
    clients: list[Client] = []
    try:
        clients.append(await Client.connect(servers[0].url))
        clients.append(await Client.connect(servers[1].url, rooms=["r1"]))
        receiver = servers[1].adapter
        for channel in list(receiver._subscriptions.rooms.values()):
            await asyncio.wait_for(receiver.connection.ssubscribe(channel), 5)

        main, room = f"{prefix}#/#", f"{prefix}#/#r1#"
        for step, (channel, to) in enumerate(((main, None), (room, "r1"))):
            slot = key_slot(channel.encode())
            owner = cluster.master_for_slot(slot)
            assert channel in shard_channels(owner, prefix)
            target = next(m for m in cluster.masters() if m.port != owner.port)
            await asyncio.to_thread(cluster.move_slot, slot, target)

            await emit_until_received(servers[0], clients[1], f"after-move-{step}", to)
            assert channel in shard_channels(target, prefix)
            assert channel not in shard_channels(owner, prefix)

        # requests go where the channels are now: both servers answer
        assert await servers[0].adapter.server_count() == 2
        assert await servers[1].adapter.server_count() == 2
        found = await servers[0].adapter.fetch_sockets("r1")
        assert [socket.id for socket in found] == [clients[1].sid()]
        # the room's broadcast reaches its member only
        await servers[0].sio.emit("last", 1, to="r1")
        await clients[1].wait_for("last")
        await servers[0].sio.emit("marker", 1)
        await clients[0].wait_for("marker")
        assert clients[0].named("last") == []
    finally:
        for client in clients:
            await client.close()
        for server in servers:
            await server.stop()
