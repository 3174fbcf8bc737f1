"""One python-socketio server (aiohttp, our adapter) for ``soak.py``.

``python _soak_server.py FLAVOUR REDIS_URL PREFIX SEED`` with FLAVOUR
``classic`` (``AsyncRedisAdapter``, PREFIX as its ``key``) or ``sharded``
(``AsyncShardedRedisAdapter`` in ``dynamic`` mode, PREFIX as its
``channel_prefix``).  The adapter waits ``REQUESTS_TIMEOUT`` seconds for other
servers and drops unanswered callbacks after ``CALLBACK_TIMEOUT``.

Clients (``soak.py``'s) join the rooms of their CONNECT auth
``{"rooms": [...]}`` (in ``/`` and in ``/chat``) and send ``join`` / ``leave`` (a room) and ``say``
(``[room, text]``: broadcast to the room, except the sender) events.

Protocol: JSON lines, as ``_scenario_procs.Child`` speaks it.  stdout
``{"event": "ready", "port": P, "pid": PID}``, then one reply per stdin
command: ``sample`` (``gc``: collect first; returns ``rss`` bytes from
/proc, ``tables`` = ``mgr.table_sizes()`` and ``server`` = engine.io
sockets, environs and asyncio tasks), ``load_start`` (start the cross-server
load), ``load_stop`` (stop it, wait for operations in flight, return the
operation counts), ``close`` (close the adapter; returns its tables after).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import random
import socket
import sys
import time
from collections import Counter
from typing import Any

import socketio
from aiohttp import web

import socketio_redis_adapter
from socketio_redis_adapter import RequestTimeoutError

REQUESTS_TIMEOUT = 2.0
CALLBACK_TIMEOUT = 2.0
#: emit_with_ack's timeout: shorter than the slow clients' answer (soak.SLOW_ACK)
ACK_TIMEOUT = 1.0
#: the rooms every client picks from (bounded: caches and rooms stay small)
ROOMS = [f"room-{i}" for i in range(12)]
#: a second namespace some clients also connect to
CHAT = "/chat"
#: concurrent load loops per server, and the pause between two operations of a loop
WORKERS = 3
PAUSE = (0.02, 0.15)
#: an operation that takes longer than this is a failure (every wait is bounded)
OP_LIMIT = 15.0


def out(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def rss_bytes() -> int:
    """This process's resident set size, from /proc/self/status (VmRSS)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def _task_name(task: asyncio.Task[Any]) -> str:
    """What a task runs (its coroutine's qualified name)."""
    coro = task.get_coro()
    return getattr(coro, "__qualname__", None) or type(coro).__name__


def make_manager(flavour: str, url: str, prefix: str) -> Any:
    options: dict[str, Any] = {
        "requests_timeout": REQUESTS_TIMEOUT, "callback_timeout": CALLBACK_TIMEOUT,
    }
    if flavour == "sharded":
        return socketio_redis_adapter.AsyncShardedRedisAdapter(
            url, channel_prefix=prefix, subscription_mode="dynamic", **options
        )
    if flavour != "classic":
        raise ValueError(f"unknown flavour {flavour!r}")
    return socketio_redis_adapter.AsyncRedisAdapter(url, key=prefix, **options)


class Load:
    """The cross-server operations one server performs, in ``WORKERS`` loops.

    Each operation is bounded (``OP_LIMIT``); outcomes are counted by name:
    ``<op>`` done, ``<op>:timeout`` (a ``RequestTimeoutError``: clients or
    servers that did not answer in time, which the soak makes happen), and
    ``<op>:error:<type>`` for anything else.
    """

    def __init__(self, sio: socketio.AsyncServer, mgr: Any, seed: int) -> None:
        self.sio = sio
        self.mgr = mgr
        self.random = random.Random(seed)
        self.counts: Counter[str] = Counter()
        self.callbacks_called = 0
        self._running = False
        self._workers: list[asyncio.Task[None]] = []
        self._ops = [
            (self.emit_room, 20), (self.emit_all, 6), (self.emit_except, 4),
            (self.emit_binary, 3), (self.emit_chat, 4),
            (self.fetch_sockets, 8), (self.all_rooms, 2), (self.server_side_emit, 5),
            (self.server_side_call, 5), (self.emit_with_ack, 6), (self.remote_callback, 6),
            (self.local_callback, 3), (self.remote_join_leave, 4),
            (self.remote_disconnect, 1),
        ]

    def start(self) -> None:
        self._running = True
        self._workers = [asyncio.ensure_future(self._work()) for _ in range(WORKERS)]

    async def stop(self) -> dict[str, Any]:
        self._running = False
        await asyncio.gather(*self._workers)
        self._workers = []
        return {"counts": dict(self.counts), "callbacks_called": self.callbacks_called}

    async def _work(self) -> None:
        ops = [op for op, _ in self._ops]
        weights = [weight for _, weight in self._ops]
        while self._running:
            op = self.random.choices(ops, weights)[0]
            name = op.__name__
            try:
                await asyncio.wait_for(op(), OP_LIMIT)
                self.counts[name] += 1
            except RequestTimeoutError:
                self.counts[name + ":timeout"] += 1
            except Exception as exc:
                self.counts[f"{name}:error:{type(exc).__name__}"] += 1
            await asyncio.sleep(self.random.uniform(*PAUSE))

    def _room(self) -> str:
        return self.random.choice(ROOMS)

    async def _remote_sids(self) -> list[str]:
        sockets = await self.mgr.fetch_sockets()
        return [s.id for s in sockets if self.mgr.eio_sid_from_sid(s.id, "/") is None]

    # -- the operations ----------------------------------------------------------

    async def emit_room(self) -> None:
        await self.sio.emit("news", {"t": time.time(), "pad": "x" * 64}, to=self._room())

    async def emit_binary(self) -> None:
        await self.sio.emit("news", {"bin": bytes(range(48))}, to=self._room())

    async def emit_chat(self) -> None:
        await self.sio.emit("news", "chat", to=self._room(), namespace=CHAT)

    async def emit_all(self) -> None:
        await self.sio.emit("news", ["all", 1, {"nested": [1, 2, 3]}])

    async def emit_except(self) -> None:
        await self.mgr.emit("news", "except", to=[self._room(), self._room()],
                            except_rooms=[self._room()])

    async def fetch_sockets(self) -> None:
        await self.mgr.fetch_sockets(self._room() if self.random.random() < 0.5 else None)

    async def all_rooms(self) -> None:
        await self.mgr.all_rooms()

    async def server_side_emit(self) -> None:
        await self.mgr.server_side_emit("note", {"from": os.getpid()})

    async def server_side_call(self) -> None:
        replies = await self.mgr.server_side_call("ping", 41)
        if any(reply != 42 for reply in replies):
            raise ValueError(f"unexpected replies {replies!r}")

    async def emit_with_ack(self) -> None:
        # the room's slow clients answer after ACK_TIMEOUT: often a timeout
        await self.mgr.emit_with_ack("ask", {"q": 1}, to=self._room(), timeout=ACK_TIMEOUT)

    async def remote_callback(self) -> None:
        sids = await self._remote_sids()
        if sids:
            await self.sio.emit("ask", {"q": 2}, to=self.random.choice(sids),
                                callback=self._called)

    async def local_callback(self) -> None:
        local = [sid for sid, _ in self.mgr.get_participants("/", None)]
        if local:
            await self.sio.emit("ask", {"q": 3}, to=self.random.choice(local),
                                callback=self._called)

    async def remote_join_leave(self) -> None:
        sids = await self._remote_sids()
        if sids:
            sid, room = self.random.choice(sids), self._room()
            await self.mgr.sockets_join(room, rooms=[sid])
            await self.mgr.sockets_leave(room, rooms=[sid])

    async def remote_disconnect(self) -> None:
        sids = await self._remote_sids()
        if sids:
            await self.mgr.disconnect_sockets(rooms=[self.random.choice(sids)])

    def _called(self, *args: Any) -> None:
        self.callbacks_called += 1


async def main(flavour: str, url: str, prefix: str, seed: str) -> None:
    mgr = make_manager(flavour, url, prefix)
    sio = socketio.AsyncServer(
        async_mode="aiohttp", client_manager=mgr, logger=False, engineio_logger=False,
        ping_interval=5, ping_timeout=5,
    )
    load = Load(sio, mgr, int(seed))
    notes = Counter[str]()

    @sio.event
    async def connect(sid: str, environ: Any, auth: Any) -> None:
        for room in (auth or {}).get("rooms", ()):
            await sio.enter_room(sid, room)

    @sio.on("connect", namespace=CHAT)
    async def chat_connect(sid: str, environ: Any, auth: Any) -> None:
        for room in (auth or {}).get("rooms", ()):
            await sio.enter_room(sid, room, namespace=CHAT)

    @sio.event
    async def join(sid: str, room: str) -> None:
        await sio.enter_room(sid, room)

    @sio.event
    async def leave(sid: str, room: str) -> None:
        await sio.leave_room(sid, room)

    @sio.event
    async def say(sid: str, data: Any) -> None:
        room, text = data
        await sio.emit("said", text, to=room, skip_sid=sid)

    @mgr.on_server_side_event("ping")
    async def ping(value: int) -> int:
        return value + 1

    @mgr.on_server_side_event("note")
    def note(data: Any) -> None:
        notes["note"] += 1

    app = web.Application()
    sio.attach(app)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    site = web.SockSite(runner, sock, backlog=1024)
    await site.start()
    await asyncio.wait_for(mgr.start(), 20)  # join the cluster before the first client

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    out({"event": "ready", "port": sock.getsockname()[1], "pid": os.getpid(),
         "fastpath": socketio_redis_adapter.FASTPATH})

    def sample(collect: bool) -> dict[str, Any]:
        if collect:
            gc.collect()
        return {
            "rss": rss_bytes(),
            "tables": mgr.table_sizes(),
            "server": {
                "eio_sockets": len(sio.eio.sockets),
                "environs": len(sio.environ),
                # aiohttp keeps an HTTP connection's handler task for its keep-alive
                # timeout (75 s) after a polling client left: aiohttp's, bounded, not ours
                "asyncio_tasks": sum(1 for task in asyncio.all_tasks()
                                     if _task_name(task) != "RequestHandler.start"),
            },
            "notes": notes["note"],
            "tasks": dict(Counter(_task_name(task) for task in asyncio.all_tasks())),
        }

    while True:
        line = await reader.readline()
        if not line:
            break
        cmd = json.loads(line)
        try:
            name = cmd["cmd"]
            if name == "sample":
                result: Any = sample(bool(cmd.get("gc")))
            elif name == "load_start":
                load.start()
                result = {}
            elif name == "load_stop":
                result = await load.stop()
            elif name == "close":
                await mgr.close()
                result = {"tables": mgr.table_sizes()}
            else:
                raise ValueError(f"unknown command {name!r}")
            out({"event": "reply", "id": cmd.get("id"), "ok": True, "result": result})
        except Exception as exc:  # reported to the driver
            out({"event": "reply", "id": cmd.get("id"), "ok": False, "error": repr(exc)})
    with contextlib.suppress(Exception):
        await runner.cleanup()


def run(argv: list[str]) -> None:
    try:
        import uvloop  # noqa: PLC0415 - optional, as in production
    except ImportError:
        asyncio.run(main(*argv))
    else:
        uvloop.run(main(*argv))


if __name__ == "__main__":
    try:
        run(sys.argv[1:5])
    except Exception as exc:
        out({"event": "fatal", "error": repr(exc)})
        raise
