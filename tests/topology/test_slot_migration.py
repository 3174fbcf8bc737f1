"""The sharded flavour's subscriptions follow a slot that moves to another cluster master.

A slot moved with ``CLUSTER SETSLOT`` (what ``redis-cli --cluster reshard`` does) takes its
sharded channels with it: the old owner drops their subscribers with an unsolicited
``sunsubscribe`` and answers ``SPUBLISH`` with ``MOVED``.  Both servers must notice by
themselves: the subscriber subscribes again on the new owner, the publisher sends there, and
broadcasts (to everyone on the main channel, to a room on the room's channel, to a socket on
its own channel) and requests (answered on the requester's own channel) flow again with no
restart.  In each of Node's subscription modes (``static``, ``dynamic``, ``dynamic-private``),
every channel of the moved slot is subscribed again on its new owner, by both servers, and
counted once in their ``stats["resubscribed"]``; no other channel moves.  The slot moves
the way ``redis-cli --cluster reshard`` moves it (``CLUSTER SETSLOT``), and on Valkey 9 also
with its atomic slot migration (``CLUSTER MIGRATESLOTS``).  Every wait is bounded.
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

MODES = ("static", "dynamic", "dynamic-private")
#: how the slot moves: CLUSTER SETSLOT steps, or Valkey 9's CLUSTER MIGRATESLOTS
MOVES = ["setslot", pytest.param("migrateslots", marks=pytest.mark.needs_atomic_slot_migration)]

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


def held_in_slot(server: PyServer, slot: int) -> set[bytes]:
    """The sharded channels ``server`` holds whose hash slot is ``slot``."""
    return {channel for channel in server.adapter.connection.channels
            if key_slot(channel) == slot}


async def wait_resubscribed(servers: list[PyServer], before: list[int],
                            expected: list[int]) -> None:
    """Bounded wait until each server's ``resubscribed`` grew by its expected count; then
    every channel each server holds is subscribed (Redis confirmed it) and it is exactly
    that count: nothing lost, nothing subscribed twice."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + RESUME_WAIT

    def grown() -> list[int]:
        return [server.adapter.stats["resubscribed"] - old
                for server, old in zip(servers, before, strict=True)]

    while any(got < want for got, want in zip(grown(), expected, strict=True)):
        assert loop.time() < deadline, f"resubscribed grew by {grown()}, not {expected}"
        await asyncio.sleep(0.02)
    for server in servers:
        while not server.adapter.connection.connected:
            assert loop.time() < deadline, "a server's channels are not all subscribed again"
            await asyncio.sleep(0.02)
        sizes = server.adapter.table_sizes()
        assert sizes["placed_channels"] == sizes["channels"], sizes
    await asyncio.sleep(0.2)  # a late second subscription would show now
    assert grown() == expected, f"resubscribed grew by {grown()}, not {expected}"


@pytest.mark.timeout(120)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("move", MOVES)
async def test_sharded_subscriptions_and_publishes_follow_a_moved_slot(
    moving_cluster: RedisCluster, move: str, mode: str,
) -> None:
    cluster = moving_cluster
    prefix = f"mig-{uuid.uuid4().hex[:10]}"
    options: dict[str, Any] = {
        "adapter_class": AsyncShardedRedisAdapter, "channel_prefix": prefix,
        "subscription_mode": mode, "requests_timeout": 5.0,
    }
    servers = [await PyServer.start(cluster.url, **options) for _ in range(2)]
    clients: list[Client] = []
    try:
        clients.append(await Client.connect(servers[0].url))
        clients.append(await Client.connect(servers[1].url, rooms=["r1"]))
        receiver = servers[1].adapter
        for channel in list(receiver.flavour.subscriptions.rooms.values()):
            await asyncio.wait_for(receiver.connection.ssubscribe(channel), 5)
        sid = clients[1].sid()

        # the receiver's channels in this mode, and what travels on each: a broadcast to
        # everyone (None) or to a room, or the answers to the receiver's requests (True)
        main, own = f"{prefix}#/#", f"{prefix}#/#{receiver.uid}#"
        steps: list[tuple[str, str | None, bool]] = [(main, None, False), (own, None, True)]
        if mode != "static":
            steps.append((f"{prefix}#/#r1#", "r1", False))
        if mode == "dynamic-private":
            steps.append((f"{prefix}#/#{sid}#", sid, False))
        assert {channel.decode() for channel in receiver.connection.channels} == {
            channel for channel, _, _ in steps
        }

        for step, (channel, to, request) in enumerate(steps):
            slot = key_slot(channel.encode())
            owner = cluster.master_for_slot(slot)
            assert channel in shard_channels(owner, prefix)
            target = next(m for m in cluster.masters() if m.port != owner.port)
            moving = [held_in_slot(server, slot) for server in servers]
            before = [server.adapter.stats["resubscribed"] for server in servers]
            await asyncio.to_thread(cluster.move_slot, slot, target,
                                    atomic=move == "migrateslots")

            if not request:
                await emit_until_received(servers[0], clients[1], f"after-move-{step}", to)
            await wait_resubscribed(servers, before, [len(names) for names in moving])
            # a request of the receiver's: asked on the main channel, answered on its own
            found = await asyncio.wait_for(servers[1].adapter.fetch_sockets(), 10)
            assert sorted(socket.id for socket in found) == sorted(
                [clients[0].sid(), sid]
            )
            for names in moving:
                for name in names:
                    assert name.decode() in shard_channels(target, prefix)
                    assert name.decode() not in shard_channels(owner, prefix)

        # requests go where the channels are now: both servers answer
        assert await servers[0].adapter.server_count() == 2
        assert await servers[1].adapter.server_count() == 2
        found = await servers[0].adapter.fetch_sockets("r1")
        assert [socket.id for socket in found] == [sid]
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
