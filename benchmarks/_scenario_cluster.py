"""Implementations, and starting their servers and client processes, for ``scenarios.py``."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from _scenario_procs import Child, ChildError, RedisClusterServer, RedisServer
from _scenario_wire import encode, publish_command
from redis.crc import key_slot

HERE = Path(__file__).resolve().parent
NODE_MODULES = HERE.parent / "tests" / "node" / "node_modules"
NO_EXT = "SOCKETIO_REDIS_ADAPTER_NO_EXTENSIONS"


@dataclass
class Impl:
    name: str
    kind: str  # "ours", "arm", "node", or a sync server's "sync-ours" / "sync-rm"
    wire: str  # raw publish format, see _scenario_wire
    env: dict[str, str | None] = field(default_factory=dict)
    #: "classic" (``AsyncRedisAdapter`` / ``createAdapter``) or "sharded"
    #: (``AsyncShardedRedisAdapter`` / ``createShardedAdapter``, dynamic mode)
    flavour: str = "classic"

    def environ(self) -> dict[str, str]:
        env = dict(os.environ)
        for k, v in self.env.items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = v
        return env


ARM = "python-socketio AsyncRedisManager"
NODE = "node @socket.io/redis-adapter"

COMPILED = {NO_EXT: None, "EXPECT_FASTPATH": "1"}

#: the rows on a standalone Redis
IMPLS = [
    Impl("ours-compiled", "ours", "node", COMPILED),
    Impl("ours-pure", "ours", "node", {NO_EXT: "1", "EXPECT_FASTPATH": "0"}),
    Impl(ARM, "arm", "arm"),
    Impl(NODE, "node", "node"),
]

UVICORN = {"SCENARIO_WEB": "uvicorn"}
ARM_UVICORN = "python-socketio AsyncRedisManager (uvicorn)"

#: the rows of ``--only uvicorn``: python-socketio servers on ASGI under uvicorn
UVICORN_IMPLS = [
    Impl("ours-compiled (uvicorn)", "ours", "node", {**COMPILED, **UVICORN}),
    Impl("ours-pure (uvicorn)", "ours", "node",
         {NO_EXT: "1", "EXPECT_FASTPATH": "0", **UVICORN}),
    Impl(ARM_UVICORN, "arm", "arm", UVICORN),
    Impl(NODE, "node", "node"),
]

OURS_RAW = "ours RawPubSub"
OURS_REDISPY = "ours RedisPubSub"

#: the rows of ``--only transport``: the classic flavour (``AsyncRedisAdapter``, compiled
#: core) on its own RESP client (what ``redis://`` URLs get) and on redis-py (what
#: ``rediss://`` URLs and ``redis_options`` get)
TRANSPORT_IMPLS = [
    Impl(OURS_RAW, "ours", "node", {**COMPILED, "EXPECT_TRANSPORT": "raw"}),
    Impl(OURS_REDISPY, "ours", "node", {**COMPILED, "SCENARIO_TRANSPORT": "redis-py"}),
]

OURS_SHARDED = "ours sharded (dynamic)"
OURS_CLASSIC = "ours classic"
NODE_SHARDED = "node createShardedAdapter (dynamic)"
NODE_CLASSIC = "node createAdapter (classic)"

SYNC_OURS = "ours RedisAdapter (sync, compiled)"
SYNC_OURS_PURE = "ours RedisAdapter (sync, pure)"
SYNC_RM = "python-socketio RedisManager (sync)"

#: the rows of synchronous servers (``--only sync``): socketio.Server, threading mode
SYNC_IMPLS = [
    Impl(SYNC_OURS, "sync-ours", "node", COMPILED),
    Impl(SYNC_OURS_PURE, "sync-ours", "node", {NO_EXT: "1", "EXPECT_FASTPATH": "0"}),
    Impl(SYNC_RM, "sync-rm", "arm"),
]

GEVENT = {"SCENARIO_ASYNC_MODE": "gevent"}
EVENTLET = {"SCENARIO_ASYNC_MODE": "eventlet"}
SYNC_OURS_GEVENT = "ours RedisAdapter (gevent, compiled)"
SYNC_RM_GEVENT = "python-socketio RedisManager (gevent)"
SYNC_OURS_EVENTLET = "ours RedisAdapter (eventlet, compiled)"
SYNC_RM_EVENTLET = "python-socketio RedisManager (eventlet)"

#: the rows of ``--only sync-gevent``: socketio.Server in gevent mode (gevent's WSGI server,
#: gevent-websocket), as most Flask-SocketIO fleets run
SYNC_GEVENT_IMPLS = [
    Impl(SYNC_OURS_GEVENT, "sync-ours", "node", {**COMPILED, **GEVENT}),
    Impl(SYNC_RM_GEVENT, "sync-rm", "arm", GEVENT),
]

#: the rows of ``--only sync-eventlet``: socketio.Server in eventlet mode
SYNC_EVENTLET_IMPLS = [
    Impl(SYNC_OURS_EVENTLET, "sync-ours", "node", {**COMPILED, **EVENTLET}),
    Impl(SYNC_RM_EVENTLET, "sync-rm", "arm", EVENTLET),
]

SYNC_BLOCKING = "ours BlockingPubSub (sync)"
SYNC_REDISPY = "ours on redis-py's blocking client (sync)"

#: the rows of ``--only transport-sync``: RedisAdapter's manager and flavour (compiled core)
#: on its own blocking client and on redis-py's (``benchmarks/_redispy_blocking.py``)
SYNC_TRANSPORT_IMPLS = [
    Impl(SYNC_BLOCKING, "sync-ours", "node", COMPILED),
    Impl(SYNC_REDISPY, "sync-ours", "node", {**COMPILED, "SCENARIO_TRANSPORT": "redis-py"}),
]

#: the rows on a 3-master Redis Cluster (``--only sharded``); ours with the compiled core
CLUSTER_IMPLS = [
    Impl(OURS_SHARDED, "ours", "sharded", COMPILED, flavour="sharded"),
    Impl(OURS_CLASSIC, "ours", "node", COMPILED),
    Impl(NODE_SHARDED, "node", "sharded", flavour="sharded"),
    Impl(NODE_CLASSIC, "node", "node"),
]


def node_missing() -> str | None:
    """Why the Node row cannot run, or None."""
    if shutil.which("node") is None:
        return "node is not on PATH"
    for module in ("socket.io", "@socket.io/redis-adapter", "redis"):
        if not (NODE_MODULES / module).is_dir():
            return f"{NODE_MODULES / module} is missing (npm install in tests/node)"
    return None


class Cluster:
    """The servers and client processes of one scenario run of one implementation.

    ``target`` is a standalone :class:`RedisServer` or a :class:`RedisClusterServer`;
    on a cluster, subscriber counts are summed over the masters and raw sharded
    publishes go to the master of the channel's slot (classic ones to the first
    master: Redis Cluster forwards PUBLISH to every node).
    """

    def __init__(
        self, impl: Impl, target: RedisServer | RedisClusterServer, key: str
    ) -> None:
        self.impl = impl
        self.redis_url = target.url
        self.key = key
        self.servers: list[Child] = []
        self.clients: list[Child] = []
        #: one connection per master; classic publishes go to the first
        self.nodes = [redis.Redis(host=h, port=p) for h, p in target.masters]
        self.redis = self.nodes[0]
        self.is_cluster = target.is_cluster
        self.sharded = impl.flavour == "sharded"
        self._command = publish_command(impl.wire)
        self._slot_node: dict[int, int] = {}
        if self.is_cluster:
            for start, end, master, *_ in self.redis.execute_command("CLUSTER", "SLOTS"):
                index = self._node_index(master[0], int(master[1]))
                for slot in range(int(start), int(end) + 1):
                    self._slot_node[slot] = index
        self._tmp = tempfile.TemporaryDirectory(prefix="sio-bench-")

    def _node_index(self, host: Any, port: int) -> int:
        host = host.decode() if isinstance(host, bytes) else host
        for i, conn in enumerate(self.nodes):
            kwargs = conn.connection_pool.connection_kwargs
            if kwargs.get("port") == port and kwargs.get("host") == host:
                return i
        raise ChildError(f"CLUSTER SLOTS names {host}:{port}, not one of the masters")

    def node_of(self, channel: bytes) -> int:
        """The index in ``nodes`` a raw publish on ``channel`` goes to."""
        if self.sharded and self.is_cluster:
            return self._slot_node[key_slot(channel)]
        return 0

    def subscribers(self, channel: str) -> int:
        """Subscribers of ``channel`` (SHARDNUMSUB for the sharded flavour), all masters."""
        sub = "SHARDNUMSUB" if self.sharded else "NUMSUB"
        total = 0
        for conn in self.nodes:
            reply = conn.execute_command("PUBSUB", sub, channel)
            total += int(reply[1]) if len(reply) > 1 else 0
        return total

    # -- servers

    def start_servers(self, count: int) -> list[Child]:
        for i in range(count):
            name = f"{self.impl.name} server {i}"
            if self.impl.kind == "node":
                argv = [
                    "node",
                    "--expose-gc",
                    str(HERE / "node_server.js"),
                    self.redis_url,
                    self.key,
                    self.impl.flavour,
                ]
            elif self.impl.kind.startswith("sync-"):
                argv = [
                    sys.executable,
                    str(HERE / "_scenario_sync_server.py"),
                    self.impl.kind,
                    self.redis_url,
                    self.key,
                ]
            else:
                argv = [
                    sys.executable,
                    str(HERE / "_scenario_server.py"),
                    self.impl.kind,
                    self.redis_url,
                    self.key,
                    self.impl.flavour,
                ]
            self.servers.append(Child(name, argv, env=self.impl.environ()))
        for server in self.servers:
            server.port = int(server.wait_event("ready", 30)["port"])
        self._wait_subscribed(count)
        return self.servers

    def _wait_subscribed(self, count: int, timeout: float = 15.0) -> None:
        if self.impl.kind in ("arm", "sync-rm"):  # python-socketio's one channel
            channel = self.key
        elif self.sharded:
            channel = f"{self.key}#/#"
        else:
            channel = f"{self.key}-request#/#"
        self.wait_channel(channel, count, timeout)

    def wait_rooms(self, rooms: list[str], count: int, timeout: float = 15.0) -> None:
        """Sharded (dynamic) flavour: wait until ``count`` servers subscribed each room's channel.

        A server subscribes a room's channel when its first socket joins, so a raw
        publish made before the SSUBSCRIBE is confirmed would be lost.  The classic
        flavours receive every room through their namespace subscription: no-op.
        """
        if self.sharded:
            for room in rooms:
                self.wait_channel(f"{self.key}#/#{room}#", count, timeout)

    def wait_channel(self, channel: str, count: int, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            subscribers = self.subscribers(channel)
            if subscribers >= count:
                return
            if time.monotonic() > deadline:
                raise ChildError(
                    f"{self.impl.name}: {subscribers}/{count} servers subscribed to "
                    f"{channel!r} after {timeout:.0f} s"
                )
            time.sleep(0.05)

    def cpu(self) -> list[float]:
        """CPU seconds of every server, as each process reports it."""
        ids = [s.send("cpu") for s in self.servers]
        return [float(s.reply(rid)["cpu"]) for s, rid in zip(self.servers, ids, strict=True)]

    def thread_cpu(self) -> dict[str, float]:
        """The first server's CPU seconds by thread kind, when it reports them (the
        synchronous servers do); else empty."""
        return dict(self.servers[0].request("cpu").get("threads") or {})

    def sockets(self) -> int:
        return sum(int(s.request("sockets")["sockets"]) for s in self.servers)

    # -- clients

    def start_clients(
        self, conns: list[dict[str, Any]], procs: int, latency: bool = False, timeout: float = 180.0
    ) -> None:
        """Connect ``conns`` (``{"port", "rooms"}``) from ``procs`` client processes."""
        chunks = [conns[i::procs] for i in range(procs)]
        for i, chunk in enumerate(chunks):
            if not chunk:
                continue
            spec = Path(self._tmp.name) / f"clients-{i}.json"
            spec.write_text(json.dumps({"conns": chunk, "latency": latency}))
            self.clients.append(
                Child(
                    f"{self.impl.name} clients {i}",
                    [sys.executable, str(HERE / "_scenario_clients.py"), str(spec)],
                )
            )
        for client in self.clients:
            client.wait_event("ready", 30)
        ids = [c.send("connect") for c in self.clients]
        for client, rid in zip(self.clients, ids, strict=True):
            client.reply(rid, timeout)
        deadline = time.monotonic() + 30
        while self.sockets() < len(conns):
            if time.monotonic() > deadline:
                raise ChildError(
                    f"{self.impl.name}: servers have {self.sockets()} of {len(conns)} sockets"
                )
            time.sleep(0.1)

    def client_stats(self, latencies: bool = False) -> list[dict[str, Any]]:
        ids = [c.send("stats", latencies=latencies) for c in self.clients]
        return [c.reply(rid, 60) for c, rid in zip(self.clients, ids, strict=True)]

    def wait_received(self, what: str, target: int, timeout: float) -> list[dict[str, Any]]:
        """Poll the clients until their ``what`` counts add up to ``target``."""
        deadline = time.monotonic() + timeout
        while True:
            stats = self.client_stats()
            got = sum(int(s[what]) for s in stats)
            if got >= target:
                return stats
            if time.monotonic() > deadline:
                raise ChildError(
                    f"{self.impl.name}: clients got {got} of {target} "
                    f"{what!r} events within {timeout:.0f} s"
                )
            time.sleep(0.05)

    # -- raw publishes

    def encode(self, room: str, event: str, payload: Any) -> tuple[bytes, bytes]:
        return encode(self.impl.wire, self.key, room, event, payload)

    def publish_many(self, messages: list[tuple[bytes, bytes]], chunk: int = 1000) -> int:
        """Publish pipelined, in order, ``chunk`` at a time (a new pipeline at a node change).

        Returns the sum of the replies: how many subscribers Redis sent the
        messages to (on a cluster, only exact for SPUBLISH: a PUBLISH reply counts
        the subscribers of the node it was sent to).
        """
        reached = 0
        i = 0
        while i < len(messages):
            node = self.node_of(messages[i][0])
            pipe = self.nodes[node].pipeline(transaction=False)
            end = i
            while end < len(messages) and end - i < chunk:
                channel, data = messages[end]
                if self.node_of(channel) != node:
                    break
                pipe.execute_command(self._command, channel, data)
                end += 1
            reached += sum(int(n) for n in pipe.execute())
            i = end
        return reached

    def publish(self, channel: bytes, data: bytes) -> int:
        return int(self.nodes[self.node_of(channel)].execute_command(self._command, channel, data))

    def stop(self) -> None:
        for child in self.clients + self.servers:
            child.stop()
        self.clients, self.servers = [], []
        for conn in self.nodes:
            conn.close()
        self._tmp.cleanup()
