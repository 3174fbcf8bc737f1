"""A python-socketio server (aiohttp + uvloop, or ASGI under uvicorn) for ``scenarios.py``.

``python _scenario_server.py IMPL REDIS_URL KEY [FLAVOUR]`` with IMPL ``ours``
(our ``AsyncRedisAdapter``, or with FLAVOUR ``sharded`` our
``AsyncShardedRedisAdapter`` in ``dynamic`` mode with KEY as its
``channel_prefix``; ``SOCKETIO_REDIS_ADAPTER_NO_EXTENSIONS`` in the
environment picks the pure-Python twin) or ``arm`` (python-socketio's
``AsyncRedisManager``, with KEY as its channel).  REDIS_URL may be a
``redis+cluster://`` URL for ours.  Set ``EXPECT_FASTPATH`` to
``1``/``0`` to have the child check which core it got.

``SCENARIO_WEB=uvicorn`` serves ASGI under uvicorn instead of aiohttp.
``SCENARIO_TRANSPORT=redis-py`` gives the classic flavour (ours) the redis-py
transport, ``connection=RedisPubSub.from_url(REDIS_URL)``, instead of the one
the URL selects (``RawPubSub`` for ``redis://``); ``EXPECT_TRANSPORT=raw``
checks that the URL did select ``RawPubSub``.

Clients join the rooms listed in their CONNECT auth ``{"rooms": [...]}``.
Protocol: see ``_scenario_commands.py``; commands ``cpu`` (process CPU
seconds), ``sockets`` (connected sockets), ``gc``, ``stats``, ``emit_loop`` (``n``,
``room``: emit ``{"n": i}`` n times, reply CPU and wall seconds), ``request_loop``
(``kind``, ``n``, ``room``: n cross-server requests in a row, ``fetch_sockets``
of the room, ``all_rooms`` or ``server_side_call("ping")``; ours only).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import time
from typing import Any

import socketio
import uvicorn
import uvloop
from _scenario_commands import check_fastpath, common_command, out, reply, reply_failed
from aiohttp import web

import socketio_redis_adapter


def make_manager(impl: str, url: str, key: str, flavour: str = "classic") -> Any:
    if impl == "ours":
        check_fastpath()
        if flavour == "sharded":
            return socketio_redis_adapter.AsyncShardedRedisAdapter(
                url, channel_prefix=key, subscription_mode="dynamic"
            )
        if flavour != "classic":
            raise ValueError(f"unknown flavour {flavour!r}")
        transport = os.environ.get("SCENARIO_TRANSPORT", "default")
        if transport == "redis-py":  # what rediss:// URLs and redis_options get
            connection = socketio_redis_adapter.RedisPubSub.from_url(url)
            return socketio_redis_adapter.AsyncRedisAdapter(key=key, connection=connection)
        if transport != "default":
            raise ValueError(f"unknown SCENARIO_TRANSPORT {transport!r}")
        mgr = socketio_redis_adapter.AsyncRedisAdapter(url, key=key)
        if os.environ.get("EXPECT_TRANSPORT") == "raw" and not isinstance(
            mgr.connection, socketio_redis_adapter.RawPubSub
        ):
            raise RuntimeError(f"expected RawPubSub, got {type(mgr.connection).__name__}")
        return mgr
    if impl == "arm":
        return socketio.AsyncRedisManager(url, channel=key)
    raise ValueError(f"unknown implementation {impl!r}")


async def main(impl: str, url: str, key: str, flavour: str = "classic") -> None:
    mgr = make_manager(impl, url, key, flavour)
    web_server = os.environ.get("SCENARIO_WEB", "aiohttp")
    sio = socketio.AsyncServer(
        async_mode="aiohttp" if web_server == "aiohttp" else "asgi",
        client_manager=mgr,
        logger=False,
        engineio_logger=False,
    )

    @sio.event
    async def connect(sid: str, environ: Any, auth: Any) -> None:
        rooms = auth.get("rooms") if isinstance(auth, dict) else None
        for room in rooms or ():
            await sio.enter_room(sid, room)

    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    stop_web = await (serve_aiohttp(sio, sock) if web_server == "aiohttp"
                      else serve_uvicorn(sio, sock))

    # join the cluster now, not with the first client
    if impl == "ours":
        await mgr.start()
    else:
        sio.manager_initialized = True
        mgr.initialize()

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    out({"event": "ready", "port": sock.getsockname()[1], "pid": os.getpid()})

    if impl == "ours":
        mgr.on_server_side_event("ping", lambda: "pong")
    requests = {
        "fetch_sockets": lambda room: mgr.fetch_sockets(room),
        "all_rooms": lambda room: mgr.all_rooms(),
        "server_side_call": lambda room: mgr.server_side_call("ping"),
    }

    async def request_loop(kind: str, n: int, room: str) -> dict[str, Any]:
        if impl != "ours":
            raise NotImplementedError(f"python-socketio's managers have no {kind}")
        request = requests[kind]
        latencies = []
        cpu0, start = time.process_time(), time.perf_counter()
        for _ in range(n):
            t0 = time.perf_counter()
            await request(room)
            latencies.append((time.perf_counter() - t0) * 1000.0)
        return {"cpu": time.process_time() - cpu0, "wall": time.perf_counter() - start,
                "latencies_ms": latencies}

    async def emit_loop(n: int, room: str) -> dict[str, float]:
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for i in range(n):
            await sio.emit("ev", {"n": i}, to=room)
        wall = time.perf_counter() - wall0
        await asyncio.sleep(0.3)  # let the listener handle the last echoes
        return {"cpu": time.process_time() - cpu0, "wall": wall}

    while True:
        line = await reader.readline()
        if not line:
            break
        cmd = json.loads(line)
        try:
            name = cmd["cmd"]
            if name == "emit_loop":
                result = await emit_loop(int(cmd["n"]), str(cmd["room"]))
            elif name == "request_loop":
                result = await request_loop(str(cmd["kind"]), int(cmd["n"]), str(cmd["room"]))
            else:
                result = common_command(name, mgr)
            reply(cmd, result)
        except Exception as exc:  # reported to the orchestrator
            reply_failed(cmd, exc)
    await stop_web()


async def serve_aiohttp(sio: socketio.AsyncServer, sock: socket.socket) -> Any:
    app = web.Application()
    sio.attach(app)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    await web.SockSite(runner, sock, backlog=4096).start()
    return runner.cleanup


async def serve_uvicorn(sio: socketio.AsyncServer, sock: socket.socket) -> Any:
    """ASGI under uvicorn in this process (its default websocket implementation, or
    ``SCENARIO_UVICORN_WS``), on the running uvloop loop."""
    config = uvicorn.Config(
        socketio.ASGIApp(sio), ws=os.environ.get("SCENARIO_UVICORN_WS", "auto"),
        lifespan="off", log_level="warning", loop="none", access_log=False, backlog=4096,
    )
    server = uvicorn.Server(config)
    sock.listen(4096)
    serving = asyncio.ensure_future(server.serve(sockets=[sock]))
    deadline = time.monotonic() + 10
    while not server.started:
        if serving.done():
            serving.result()
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start within 10 s")
        await asyncio.sleep(0.01)

    async def stop() -> None:
        server.should_exit = True
        await asyncio.wait_for(serving, 10)

    return stop


if __name__ == "__main__":
    try:
        uvloop.run(main(*sys.argv[1:5]))
    except Exception as exc:
        out({"event": "fatal", "error": repr(exc)})
        raise
