"""The adapter resumes broadcasting by itself after a Redis failover, in under 10 s.

For both flavours (classic ``AsyncRedisAdapter``, and ``AsyncShardedRedisAdapter`` in each of
Node's subscription modes ``static``, ``dynamic`` and ``dynamic-private``), two
python-socketio servers share one Redis topology, each with a client (the remote one in a
room).  Server A emits a numbered ``tick`` every 50 ms; the Redis node that carries those
broadcasts is killed with SIGKILL, and the test measures the time from the kill to the first
tick *emitted after the kill* that the client of server B receives:

* on a Redis Cluster of 3 masters + 3 replicas, the killed master is the one the flavour
  really uses: for the classic flavour, the node its topology publishes and subscribes on
  (``ClusterTopology.primary()``: the first primary in address order, since Redis forwards
  classic PUBLISH to every node); for the sharded flavour, the master serving the slot of the
  main channel ``PREFIX#/#``;
* under Sentinel (a master, one replica, three Sentinels, ``down-after-milliseconds`` 1000),
  the master.

The bound (10 s) is the correctness bound of the issue, not a speed assertion; the measured
seconds are printed (``pytest -s``) and recorded as the ``resume_seconds`` property (junit
XML).  Emits that raise while Redis is down are caught and counted (the adapter raises then);
the ticker never stops on them.  After the failover, a room broadcast and cross-server
requests (``server_count``, ``fetch_sockets``) must work, every tick emitted after the
resumption must arrive exactly once, and both adapters' ``stats`` must show the lost
subscriber connection (``reconnects``).  No subscription is lost silently: every channel (and
pattern) an adapter held on the killed node is subscribed again, on the node that serves it
now, and counted in ``stats["resubscribed"]``; the sharded flavour's channels on the other
masters stay where they were.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from socketio_redis_adapter import AsyncRedisAdapter, AsyncShardedRedisAdapter
from tests.support.sio_cluster import Client, PyServer
from tests.support.topologies import RedisCluster, RedisNode, RedisSentinelSet

#: the issue's bound on the time broadcasts may stay interrupted by a failover
RESUME_BOUND = 10.0
#: how long the test waits for the resumption before it gives up (fails)
RESUME_WAIT = 25.0
TICK_INTERVAL = 0.05
#: at most this many ticks (60 s at one tick per 50 ms): the ticker is bounded
MAX_TICKS = 1200
#: an emit that takes longer than this counts as failed (never blocks the ticker)
EMIT_TIMEOUT = 3.0
#: ticks that must arrive after the resumption before the ticker stops
AFTER_RESUME = 10
POLL = 0.01
ROOM = "failover-room"

FLAVOURS = ("classic", "sharded-static", "sharded-dynamic", "sharded-dynamic-private")

Recorder = list[tuple[int, float]]


def adapter_options(flavour: str, prefix: str) -> dict[str, Any]:
    """``PyServer.start`` keyword arguments for ``flavour`` on channel prefix ``prefix``."""
    options: dict[str, Any] = {"requests_timeout": 5.0}
    if flavour == "classic":
        options.update(adapter_class=AsyncRedisAdapter, key=prefix)
    else:
        options.update(adapter_class=AsyncShardedRedisAdapter, channel_prefix=prefix,
                       subscription_mode=flavour.removeprefix("sharded-"))
    return options


async def wait_until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll ``check`` every 10 ms (bounded in time and count) until it returns a truthy value."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    for _ in range(int(timeout / POLL) + 1):
        result = check()
        if result:
            return result
        if loop.time() >= deadline:
            break
        await asyncio.sleep(POLL)
    raise AssertionError(f"{what}: not within {timeout}s")


@dataclass
class Ticker:
    """Emits ``tick`` n (n = 1, 2, ...) from one server every 50 ms, bounded in count.

    ``started`` is the number of the last emit begun; emits that raise (or time out) are
    counted in ``errors`` and their numbers kept in ``failed``: the loop goes on.
    """

    server: PyServer
    started: int = 0
    errors: int = 0
    failed: set[int] = field(default_factory=set)
    error_kinds: dict[str, int] = field(default_factory=dict)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    def begin(self) -> None:
        self.task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        for number in range(1, MAX_TICKS + 1):
            if self.stop.is_set():
                return
            self.started = number
            try:
                await asyncio.wait_for(self.server.sio.emit("tick", number), EMIT_TIMEOUT)
            except Exception as exc:  # Redis down: the adapter raises; count it, go on
                self.errors += 1
                self.failed.add(number)
                kind = type(exc).__name__
                self.error_kinds[kind] = self.error_kinds.get(kind, 0) + 1
            try:
                await asyncio.wait_for(self.stop.wait(), TICK_INTERVAL)
            except asyncio.TimeoutError:
                pass

    async def halt(self) -> None:
        self.stop.set()
        if self.task is not None:
            await asyncio.wait_for(self.task, EMIT_TIMEOUT + 5)


def record_ticks(client: Client) -> Recorder:
    """Record every ``tick`` the client gets as ``(number, time.monotonic())``."""
    arrivals: Recorder = []

    # on namespace "*", as the client's catch-all: a handler on "/" would hide it for "/"
    @client.sio.on("tick", namespace="*")
    async def tick(namespace: str, number: int) -> None:
        if namespace == "/":
            arrivals.append((number, time.monotonic()))

    return arrivals


@dataclass
class Rig:
    """Two servers of one flavour, client A on server A, client B (in ``ROOM``) on B."""

    flavour: str
    servers: list[PyServer]
    clients: list[Client]
    arrivals: Recorder

    @property
    def adapters(self) -> list[Any]:
        return [server.adapter for server in self.servers]

    async def aclose(self) -> None:
        for client in self.clients:
            try:
                await asyncio.wait_for(client.close(), 10)
            except Exception:  # noqa: S110 - best-effort teardown
                pass
        for server in self.servers:
            try:
                await asyncio.wait_for(server.stop(), 10)
            except Exception:  # noqa: S110 - best-effort teardown
                pass


async def start_rig(url: str, flavour: str, prefix: str) -> Rig:
    """Start the two servers and clients and wait until a tick crosses from A to B."""
    options = adapter_options(flavour, prefix)
    servers: list[PyServer] = []
    clients: list[Client] = []
    rig = Rig(flavour, servers, clients, [])
    try:
        servers.append(await PyServer.start(url, **options))
        servers.append(await PyServer.start(url, **options))
        clients.append(await Client.connect(servers[0].url))
        clients.append(await Client.connect(servers[1].url, rooms=[ROOM]))
        rig.arrivals = record_ticks(clients[1])
        if flavour != "classic":  # the room channel is confirmed by Redis
            for channel in list(servers[1].adapter.flavour.subscriptions.rooms.values()):
                await servers[1].adapter.connection.ssubscribe(channel)
    except BaseException:
        await rig.aclose()
        raise
    return rig


def received_after(arrivals: Recorder, number: int) -> tuple[int, float] | None:
    """The first arrival of a tick numbered above ``number``, or None."""
    return next(((n, at) for n, at in arrivals if n > number), None)


async def run_failover(
    rig: Rig,
    kill: Callable[[], RedisNode],
    wait_promotion: Callable[[RedisNode], RedisNode],
    label: str,
    record_property: Callable[[str, object], None],
) -> float:
    """Tick, kill, measure the resumption, then check the cluster works; returns seconds."""
    before = [dict(adapter.stats) for adapter in rig.adapters]
    held = [subscriptions(adapter) for adapter in rig.adapters]
    ticker = Ticker(rig.servers[0])
    ticker.begin()
    try:
        # ticks flow before the kill
        await wait_until(lambda: len(rig.arrivals) >= 5, 10, "5 ticks reaching server B's client")

        # SIGKILL runs synchronously on the loop: no emit begins meanwhile, so every tick
        # numbered above n_kill was emitted after the node was dead
        n_kill = ticker.started
        t_kill = time.monotonic()
        killed = kill()
        # what each adapter held on the killed node: subscribed again, and counted
        lost = [{name for name, port in names.items() if port == killed.port}
                for names in held]
        loop = asyncio.get_running_loop()
        promotion = loop.run_in_executor(None, wait_promotion, killed)

        resumed = None
        try:
            resumed = await wait_until(
                lambda: received_after(rig.arrivals, n_kill), RESUME_WAIT,
                "a tick emitted after the kill reaching server B's client",
            )
        finally:
            new_master = await asyncio.wait_for(promotion, 30)
        first_number, first_at = resumed
        seconds = float(first_at - t_kill)
        errors_at_resume = ticker.errors

        # keep ticking a little after the resumption, then stop
        await wait_until(
            lambda: sum(1 for n, _ in rig.arrivals if n > first_number) >= AFTER_RESUME,
            10, f"{AFTER_RESUME} more ticks after the resumption",
        )
    finally:
        await ticker.halt()
    last = ticker.started
    expected = [n for n in range(first_number, last + 1) if n not in ticker.failed]
    await wait_until(
        lambda: {n for n, _ in rig.arrivals} >= set(expected), 5,
        "every tick emitted after the resumption",
    )

    stats = [dict(adapter.stats) for adapter in rig.adapters]
    message = (
        f"{label}: broadcasts resumed {seconds:.2f}s after killing {killed!r} "
        f"(promoted: {new_master!r}); first tick after the kill: #{first_number} "
        f"(last before: #{n_kill}); emits that raised: {errors_at_resume} "
        f"{ticker.error_kinds}; stats A {stats[0]}, stats B {stats[1]}"
    )
    print(f"\n[failover] {message}")
    record_property("resume_seconds", round(seconds, 3))
    record_property("emit_errors", errors_at_resume)
    assert seconds < RESUME_BOUND, message

    # the outage was real: emits raised or were held by the offline queue (the default),
    # every subscriber lost its connection
    queued = stats[0]["offline_queued"] - before[0]["offline_queued"]
    assert errors_at_resume + queued > 0, message
    for name, old, new in zip("AB", before, stats, strict=True):
        assert new["reconnects"] > old["reconnects"], f"server {name}: {message}"
    # after the resumption, every tick arrived; twice only if it was one of the publishes
    # the dead primary left unconfirmed, which are sent again (at least once)
    numbers = [n for n, _ in rig.arrivals]
    resent = stats[0]["resent"] - before[0]["resent"]
    assert len(numbers) - len(set(numbers)) <= resent, f"duplicate ticks: {message}"
    assert not [n for n in expected if n not in set(numbers)], message
    assert new_master.port != killed.port
    await check_resubscribed(rig, before, lost, new_master)
    return seconds


def subscriptions(adapter: Any) -> dict[bytes, int]:
    """Every channel and pattern ``adapter`` holds, with the port of the node it is
    subscribed on (the classic flavour's subscriber node; a sharded channel's placement)."""
    connection = adapter.connection
    if isinstance(adapter, AsyncShardedRedisAdapter):
        return {channel: subscriber.address.port
                for channel, subscriber in connection._placed.items()}
    port = connection.topology.primary().port
    return {name: port for name in (*connection.channels, *connection.patterns)}


async def check_resubscribed(rig: Rig, before: list[dict[str, int]], lost: list[set[bytes]],
                             new_master: RedisNode) -> None:
    """Each adapter subscribed again exactly what it held on the killed node (counted in
    ``resubscribed``, once each), holds everything it held, and the sharded flavour's
    channels are all where Redis says their slot is (the killed node's on the new master,
    the others unmoved)."""
    for name, adapter, old, gone in zip("AB", rig.adapters, before, lost, strict=True):
        assert gone, f"server {name} held nothing on the killed node"

        def settled(adapter: Any = adapter, old: dict[str, int] = old,
                    gone: set[bytes] = gone) -> bool:
            return (adapter.connection.connected
                    and adapter.stats["resubscribed"] - old["resubscribed"] >= len(gone))

        await wait_until(settled, 10, f"server {name} subscribed again")
        await asyncio.sleep(0.2)  # a second subscription of one channel would show now
        grown = adapter.stats["resubscribed"] - old["resubscribed"]
        assert grown == len(gone), f"server {name}: resubscribed {grown}, lost {len(gone)}"
        now = subscriptions(adapter)
        assert set(now) >= gone, f"server {name} lost {gone - set(now)}"
        if isinstance(adapter, AsyncShardedRedisAdapter):
            topology = adapter.connection.topology
            for channel, port in now.items():
                assert port == topology.node_for(channel).port, channel
                if channel in gone:
                    assert port == new_master.port, channel


async def check_after_failover(rig: Rig) -> None:
    """A room broadcast and cross-server requests work once the adapters are resubscribed."""
    adapter_a, adapter_b = rig.adapters
    for adapter in rig.adapters:
        connection = adapter.connection

        def held(connection: Any = connection) -> bool:
            return bool(connection.connected)

        await wait_until(held, 10, "the adapter's subscriptions held again")
    client_a, client_b = rig.clients
    marker = f"after-{uuid.uuid4().hex[:6]}"
    await rig.servers[0].sio.emit("room-only", marker, to=ROOM)
    assert await client_b.wait_for("room-only", timeout=5) == [[marker]]
    assert client_a.named("room-only") == []

    assert await adapter_a.server_count() == 2
    sockets = await adapter_a.fetch_sockets()
    assert sorted(s.id for s in sockets) == sorted([client_a.sid(), client_b.sid()])
    in_room = await adapter_a.fetch_sockets(ROOM)
    assert [s.id for s in in_room] == [client_b.sid()]
    assert await adapter_b.server_count() == 2
    assert sorted(s.id for s in await adapter_b.fetch_sockets()) == sorted(
        [client_a.sid(), client_b.sid()]
    )


def node_used(cluster: RedisCluster, rig: Rig, prefix: str) -> RedisNode:
    """The master that carries the main channel's traffic for the rig's flavour."""
    main = f"{prefix}#/#"
    if rig.flavour == "classic":
        # classic PUBLISH reaches every cluster node: the transport publishes and
        # subscribes on one primary, its topology's primary() (first in address order)
        addresses = {adapter.connection.topology.primary() for adapter in rig.adapters}
        assert len(addresses) == 1, addresses
        node = cluster.node_by_port(addresses.pop().port)
    else:
        node = cluster.master_for_key(main)
        for adapter in rig.adapters:
            assert adapter.connection.topology.node_for(main.encode()).port == node.port
    assert node in cluster.masters()
    return node


@pytest.mark.timeout(120)
@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_cluster_master_failover_resumes_broadcasts(
    failover_cluster: RedisCluster, flavour: str,
    record_property: Callable[[str, object], None],
) -> None:
    prefix = f"fo-{uuid.uuid4().hex[:8]}"
    rig = await start_rig(failover_cluster.url, flavour, prefix)
    try:
        victim = node_used(failover_cluster, rig, prefix)

        def kill() -> RedisNode:
            failover_cluster.kill(victim)
            return victim

        def promoted(killed: RedisNode) -> RedisNode:
            return failover_cluster.wait_failover(killed, timeout=20.0)

        await run_failover(rig, kill, promoted, f"cluster 3+3 {flavour}", record_property)
        await check_after_failover(rig)
    finally:
        await rig.aclose()


def test_sentinel_fixture_fails_over_quickly(sentinel_set: RedisSentinelSet) -> None:
    """The Sentinel set's timeouts leave room for a failover well inside the bound."""
    assert sentinel_set.down_after_ms <= 1000
    assert sentinel_set.failover_timeout_ms <= 5000
    assert sentinel_set.url.startswith("redis+sentinel://")
    assert sentinel_set.url.endswith("/0/mymaster")
    for sentinel in sentinel_set.sentinels:
        state = sentinel.command("SENTINEL", "MASTER", "mymaster")
        fields = {str(state[i]): state[i + 1] for i in range(0, len(state) - 1, 2)}
        assert int(fields["down-after-milliseconds"]) == sentinel_set.down_after_ms
        assert int(fields["failover-timeout"]) == sentinel_set.failover_timeout_ms


@pytest.mark.timeout(120)
@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_sentinel_failover_resumes_broadcasts(
    sentinel_set: RedisSentinelSet, flavour: str,
    record_property: Callable[[str, object], None],
) -> None:
    prefix = f"fo-{uuid.uuid4().hex[:8]}"
    rig = await start_rig(sentinel_set.url, flavour, prefix)
    try:
        master = sentinel_set.master
        for adapter in rig.adapters:
            assert adapter.connection.topology.primary().port == master.port

        def promoted(killed: RedisNode) -> RedisNode:
            return sentinel_set.wait_new_master(timeout=25.0)

        await run_failover(rig, sentinel_set.kill_master, promoted, f"sentinel {flavour}",
                           record_property)
        await check_after_failover(rig)
    finally:
        await rig.aclose()

