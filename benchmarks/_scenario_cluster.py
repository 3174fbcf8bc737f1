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
from _scenario_procs import Child, ChildError
from _scenario_wire import encode

HERE = Path(__file__).resolve().parent
NODE_MODULES = HERE.parent / "tests" / "node" / "node_modules"
NO_EXT = "SOCKETIO_REDIS_ADAPTER_NO_EXTENSIONS"


@dataclass
class Impl:
    name: str
    kind: str  # "ours", "arm" or "node"
    wire: str  # raw publish format, see _scenario_wire
    env: dict[str, str | None] = field(default_factory=dict)

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

IMPLS = [
    Impl("ours-compiled", "ours", "node", {NO_EXT: None, "EXPECT_FASTPATH": "1"}),
    Impl("ours-pure", "ours", "node", {NO_EXT: "1", "EXPECT_FASTPATH": "0"}),
    Impl(ARM, "arm", "arm"),
    Impl(NODE, "node", "node"),
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
    """The servers and client processes of one scenario run of one implementation."""

    def __init__(self, impl: Impl, redis_url: str, key: str) -> None:
        self.impl = impl
        self.redis_url = redis_url
        self.key = key
        self.servers: list[Child] = []
        self.clients: list[Child] = []
        self.redis = redis.Redis.from_url(redis_url)
        self._tmp = tempfile.TemporaryDirectory(prefix="sio-bench-")

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
                ]
            else:
                argv = [
                    sys.executable,
                    str(HERE / "_scenario_server.py"),
                    self.impl.kind,
                    self.redis_url,
                    self.key,
                ]
            self.servers.append(Child(name, argv, env=self.impl.environ()))
        for server in self.servers:
            server.port = int(server.wait_event("ready", 30)["port"])
        self._wait_subscribed(count)
        return self.servers

    def _wait_subscribed(self, count: int, timeout: float = 15.0) -> None:
        channel = self.key if self.impl.kind == "arm" else f"{self.key}-request#/#"
        deadline = time.monotonic() + timeout
        while True:
            subscribers = dict(self.redis.pubsub_numsub(channel)).get(channel.encode(), 0)
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

    def publish_many(self, messages: list[tuple[bytes, bytes]], chunk: int = 1000) -> None:
        for i in range(0, len(messages), chunk):
            pipe = self.redis.pipeline(transaction=False)
            for channel, data in messages[i : i + chunk]:
                pipe.publish(channel, data)
            pipe.execute()

    def stop(self) -> None:
        for child in self.clients + self.servers:
            child.stop()
        self.clients, self.servers = [], []
        self.redis.close()
        self._tmp.cleanup()
