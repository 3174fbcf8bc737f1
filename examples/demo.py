"""Three python-socketio servers joined by Redis through ``AsyncRedisAdapter``.

Run ``python examples/demo.py``.  It

1. uses ``REDIS_URL`` when set, otherwise starts its own ``redis-server`` on a
   free 127.0.0.1 port (in a temporary directory, nothing saved);
2. starts three server processes (this file with ``--serve``), each an aiohttp
   python-socketio ``AsyncServer`` whose client manager is
   ``AsyncRedisAdapter(redis_url, key="demo")``, on uvloop when installed;
3. connects two websocket clients to each server, three of them in room "vip";
4. has the servers broadcast across the cluster (to everyone, to a room, to
   everyone except a room, binary data, one socket on another server);
5. prints what every client received with each broadcast's latency, stops
   everything it started and exits 0 only if every expected delivery (and no
   other) happened.

A client triggers each broadcast by sending ``please_broadcast`` to its
server, whose handler calls ``sio.emit(...)`` (or ``sio.manager.emit(...)``
for the adapter's extra ``except_rooms`` option).  Every payload carries the
server's send time; clients note their receive time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

try:
    import uvloop
except ImportError:  # optional: the demo runs on the default event loop too
    uvloop = None

import redis.asyncio as aioredis
import socketio
from aiohttp import web

import socketio_redis_adapter
from socketio_redis_adapter import AsyncRedisAdapter

KEY = "demo"
SERVER_NAMES = ("A", "B", "C")
VIP = "vip"
BLOB = bytes(range(256)) * 4  # 1 KiB of binary data

START_TIMEOUT = 10.0  # a server process must be ready within this
DELIVERY_TIMEOUT = 3.0  # every expected client must have a broadcast within this
SETTLE = 0.3  # time left for deliveries that must *not* happen
STOP_TIMEOUT = 3.0  # SIGTERM, then SIGKILL after this


def run(main: Any) -> Any:
    """Run a coroutine on uvloop when it is installed."""
    if uvloop is not None:
        return uvloop.run(main)
    return asyncio.run(main)


# ---------------------------------------------------------------------------
# the server process: python examples/demo.py --serve --redis URL --name A
# ---------------------------------------------------------------------------


async def serve(redis_url: str, name: str) -> None:
    mgr = AsyncRedisAdapter(redis_url, key=KEY)
    sio = socketio.AsyncServer(async_mode="aiohttp", client_manager=mgr)

    @sio.event
    async def connect(sid: str, environ: dict[str, Any], auth: Any) -> None:
        for room in (auth or {}).get("rooms", ()):
            await sio.enter_room(sid, room)

    @sio.event
    async def please_broadcast(sid: str, spec: dict[str, Any]) -> str:
        data: dict[str, Any] = {"id": spec["id"], "from": name}
        if spec.get("binary"):
            data["blob"] = BLOB
        data["sent"] = time.time()
        if spec.get("except"):
            # the adapter's own emit takes Node's `except` as except_rooms=
            await sio.manager.emit("news", data, "/", except_rooms=spec["except"])
        else:
            await sio.emit("news", data, to=spec.get("to"))
        return "ok"

    app = web.Application()
    sio.attach(app)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)  # the OS picks a free port
    await site.start()
    port = runner.addresses[0][1]
    await asyncio.wait_for(mgr.start(), START_TIMEOUT)  # subscribed to Redis
    if not getattr(mgr.connection, "connected", True):
        raise SystemExit(f"server {name}: no subscription to Redis at {redis_url}")

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    # stdin closes when the demo goes away, even if it is killed
    loop.add_reader(sys.stdin.fileno(), lambda: sys.stdin.buffer.read1(64) or stop.set())

    ready = {
        "name": name,
        "port": port,
        "pid": os.getpid(),
        "uid": mgr.uid,
        "fastpath": socketio_redis_adapter.FASTPATH,
        "uvloop": uvloop is not None,
    }
    print(json.dumps(ready), flush=True)
    await stop.wait()

    loop.remove_reader(sys.stdin.fileno())
    with contextlib.suppress(Exception):
        await asyncio.wait_for(sio.shutdown(), 1.0)
    with contextlib.suppress(Exception):
        await asyncio.wait_for(mgr.close(), 1.0)
    with contextlib.suppress(Exception):
        await asyncio.wait_for(runner.cleanup(), 1.0)


# ---------------------------------------------------------------------------
# the demo: processes it owns, clients, broadcasts, report
# ---------------------------------------------------------------------------


class DemoError(Exception):
    """A setup step failed; the message says which."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop_process(process: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT) -> None:
    """Terminate one process we started (by its PID), kill it after ``timeout``."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout)


def stop_processes(processes: list[subprocess.Popen[bytes]]) -> None:
    """Terminate processes we started (by PID), all at once; kill stragglers."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + STOP_TIMEOUT
    for process in processes:
        try:
            process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT)


class OwnRedis:
    """A redis-server of our own on a free loopback port, in a temporary dir."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server") or (
            "/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server") else None
        )
        if binary is None:
            raise DemoError(
                "redis-server is not installed: run `bash scripts/demo.sh` (it installs it) "
                "or set REDIS_URL to a running Redis"
            )
        self.binary = binary
        self.workdir = tempfile.mkdtemp(prefix="sra-demo-redis-")
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        for _ in range(3):  # another program may take the port in between
            self.port = free_port()
            self.process = subprocess.Popen(
                [
                    self.binary,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    self.workdir,
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                stdin=subprocess.DEVNULL,
            )
            deadline = time.monotonic() + 5.0
            while time.monotonic() < deadline and self.process.poll() is None:
                if self._ping():
                    return
                time.sleep(0.02)
            stop_process(self.process)
        raise DemoError("could not start redis-server on a free 127.0.0.1 port")

    def _ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
        shutil.rmtree(self.workdir, ignore_errors=True)


@dataclass
class ServerProcess:
    name: str
    process: subprocess.Popen[bytes]
    log: Any  # the temporary file that holds its stderr
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.info['port']}"

    def stderr_text(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace").strip()


def spawn_server(name: str, redis_url: str) -> ServerProcess:
    log = tempfile.TemporaryFile()
    process = subprocess.Popen(
        [
            sys.executable,
            os.path.abspath(__file__),
            "--serve",
            "--name",
            name,
            "--redis",
            redis_url,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=log,
    )
    return ServerProcess(name, process, log)


async def wait_ready(server: ServerProcess) -> None:
    """Read the server's one JSON line, in a thread so the wait stays bounded."""
    assert server.process.stdout is not None
    try:
        line = await asyncio.wait_for(
            asyncio.to_thread(server.process.stdout.readline), START_TIMEOUT
        )
    except asyncio.TimeoutError:
        raise DemoError(f"server {server.name} was not ready in {START_TIMEOUT:.0f}s") from None
    if not line:
        raise DemoError(
            f"server {server.name} exited with {server.process.wait(1)}:\n" + server.stderr_text()
        )
    server.info = json.loads(line)


class DemoClient:
    """A websocket client that records each ``news`` with its arrival time."""

    def __init__(self, name: str, server: ServerProcess, rooms: list[str]) -> None:
        self.name = name
        self.server = server
        self.rooms = rooms
        self.sio = socketio.AsyncClient(reconnection=False)
        self.received: dict[str, list[tuple[float, dict[str, Any]]]] = {}
        self.changed = asyncio.Event()
        self.sio.on("news", self._on_news)

    async def _on_news(self, data: dict[str, Any]) -> None:
        self.received.setdefault(data["id"], []).append((time.time(), data))
        self.changed.set()

    @property
    def sid(self) -> str:
        return str(self.sio.get_sid())

    async def connect(self) -> None:
        await asyncio.wait_for(
            self.sio.connect(self.server.url, transports=["websocket"], auth={"rooms": self.rooms}),
            5.0,
        )


@dataclass
class Broadcast:
    id: str
    description: str
    trigger: DemoClient  # whose server emits
    spec: dict[str, Any]
    expected: set[str]  # client names


def plan(clients: dict[str, DemoClient]) -> list[Broadcast]:
    every = set(clients)
    vip = {name for name, client in clients.items() if VIP in client.rooms}
    return [
        Broadcast("all", "A -> everyone", clients["A1"], {}, every),
        Broadcast("room", f"B -> room {VIP!r}", clients["B1"], {"to": VIP}, vip),
        Broadcast(
            "except", f"C -> all except {VIP!r}", clients["C1"], {"except": [VIP]}, every - vip
        ),
        Broadcast("binary", "A -> everyone, 1 KiB bytes", clients["A2"], {"binary": True}, every),
        Broadcast("one", "B -> socket C2 (on C)", clients["B2"], {"to": clients["C2"].sid}, {"C2"}),
    ]


async def run_broadcast(broadcast: Broadcast, clients: dict[str, DemoClient]) -> None:
    """Trigger one broadcast and wait (bounded) for every expected delivery."""
    spec = {"id": broadcast.id, **broadcast.spec}
    try:
        reply = await broadcast.trigger.sio.call("please_broadcast", spec, timeout=DELIVERY_TIMEOUT)
    except socketio.exceptions.TimeoutError:
        raise DemoError(
            f"server {broadcast.trigger.server.name} did not emit {broadcast.id!r} "
            f"within {DELIVERY_TIMEOUT:.0f}s"
        ) from None
    if reply != "ok":
        raise DemoError(f"server refused broadcast {broadcast.id!r}: {reply!r}")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DELIVERY_TIMEOUT
    for name in sorted(broadcast.expected):
        client = clients[name]
        while broadcast.id not in client.received:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return  # reported as MISSING
            client.changed.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(client.changed.wait(), remaining)


def check(broadcasts: list[Broadcast], clients: dict[str, DemoClient]) -> list[str]:
    """Return one line per problem: missing, extra, duplicate or wrong data."""
    problems = []
    for b in broadcasts:
        for name, client in clients.items():
            got = client.received.get(b.id, [])
            if name in b.expected and not got:
                problems.append(f"{b.id}: {name} did not receive it")
            elif name not in b.expected and got:
                problems.append(f"{b.id}: {name} received it but should not have")
            elif len(got) > 1:
                problems.append(f"{b.id}: {name} received it {len(got)} times")
            for _, data in got:
                if b.spec.get("binary") and data.get("blob") != BLOB:
                    problems.append(f"{b.id}: {name} got wrong binary data")
    return problems


def report(
    servers: list[ServerProcess], clients: dict[str, DemoClient], broadcasts: list[Broadcast]
) -> None:
    print()
    for s in servers:
        i = s.info
        print(
            f"  server {s.name}: pid {i['pid']}, {s.url}, adapter uid {i['uid']}, "
            f"FASTPATH={i['fastpath']}, uvloop={i['uvloop']}"
        )
    print()
    width = 14
    head = f"  {'client':<7}{'server':<7}{'rooms':<7}" + "".join(
        f"{b.id:>{width}}" for b in broadcasts
    )
    print(head)
    print("  " + "-" * (len(head) - 2))
    for name, client in clients.items():
        cells = []
        for b in broadcasts:
            got = client.received.get(b.id, [])
            if got:
                received, data = got[0]
                ms = (received - data["sent"]) * 1000
                mark = f"{ms:.1f} ms" if name in b.expected else "UNEXPECTED"
            else:
                mark = "MISSING" if name in b.expected else "-"
            cells.append(f"{mark:>{width}}")
        rooms = ",".join(client.rooms) or "-"
        print(f"  {name:<7}{client.server.name:<7}{rooms:<7}" + "".join(cells))
    print()
    print(f"  {'broadcast':<10}{'what':<34}{'delivered':>10}{'max latency':>14}")
    for b in broadcasts:
        latencies = [
            (got[0][0] - got[0][1]["sent"]) * 1000
            for name in b.expected
            if (got := clients[name].received.get(b.id))
        ]
        worst = f"{max(latencies):.1f} ms" if latencies else "-"
        print(
            f"  {b.id:<10}{b.description:<34}{f'{len(latencies)}/{len(b.expected)}':>10}{worst:>14}"
        )
    print()


async def check_redis(redis_url: str) -> None:
    client = aioredis.Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=2)
    try:
        await asyncio.wait_for(client.ping(), 3.0)
    except Exception as exc:
        raise DemoError(f"cannot reach Redis at {redis_url}: {exc or type(exc).__name__}") from None
    finally:
        await client.aclose()


async def demo(redis_url: str) -> int:
    print(f"Redis: {redis_url}   key: {KEY!r}")
    await check_redis(redis_url)
    servers: list[ServerProcess] = []
    clients: dict[str, DemoClient] = {}
    try:
        servers = [spawn_server(name, redis_url) for name in SERVER_NAMES]
        await asyncio.gather(*(wait_ready(s) for s in servers))
        by_name = {s.name: s for s in servers}
        # two clients per server; A1, B2 and C1 are in room "vip"
        for name in SERVER_NAMES:
            clients[f"{name}1"] = DemoClient(f"{name}1", by_name[name], [])
            clients[f"{name}2"] = DemoClient(f"{name}2", by_name[name], [])
        for name in ("A1", "B2", "C1"):
            clients[name].rooms.append(VIP)
        await asyncio.gather(*(c.connect() for c in clients.values()))

        broadcasts = plan(clients)
        for b in broadcasts:
            await run_broadcast(b, clients)
        await asyncio.sleep(SETTLE)  # room for deliveries that must not happen
        report(servers, clients, broadcasts)
        problems = check(broadcasts, clients)
    finally:
        await asyncio.gather(
            *(asyncio.wait_for(c.sio.disconnect(), 1.0) for c in clients.values()),
            return_exceptions=True,
        )
        stop_processes([s.process for s in servers])
        failed_servers = []
        for s in servers:
            if s.process.returncode not in (0, -signal.SIGTERM):
                failed_servers.append(s)
        for s in failed_servers:
            print(
                f"server {s.name} exited with {s.process.returncode}:\n{s.stderr_text()}",
                file=sys.stderr,
            )
        for s in servers:
            s.log.close()

    fastpath = {s.info["fastpath"] for s in servers}
    print(
        "FASTPATH (compiled core) in use:",
        "yes" if fastpath == {True} else "no" if fastpath == {False} else "mixed",
    )
    if problems:
        print(f"FAILED: {len(problems)} problem(s):")
        for line in problems:
            print("  -", line)
        return 1
    total = sum(len(b.expected) for b in broadcasts)
    print(
        f"OK: all {total} expected deliveries of {len(broadcasts)} broadcasts arrived "
        "(and no others)"
    )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--name", default="A", help=argparse.SUPPRESS)
    parser.add_argument("--redis", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        run(serve(args.redis, args.name))
        return 0

    started = time.monotonic()
    redis = None
    try:
        redis_url = os.environ.get("REDIS_URL")
        if not redis_url:
            redis = OwnRedis()
            redis.start()
            redis_url = redis.url
        code = run(asyncio.wait_for(demo(redis_url), 12.0))
    except DemoError as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        code = 2
    except asyncio.TimeoutError:
        print("FAILED: the demo did not finish in 12 s", file=sys.stderr)
        code = 2
    except Exception as exc:  # keep the message short and clear
        print(f"FAILED: {exc!r}", file=sys.stderr)
        code = 2
    finally:
        if redis is not None:
            redis.stop()
    print(f"({time.monotonic() - started:.1f} s, everything started was stopped)")
    return code


if __name__ == "__main__":
    sys.exit(main())
