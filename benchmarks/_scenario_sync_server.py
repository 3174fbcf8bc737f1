"""A synchronous python-socketio server for ``scenarios.py``: threading mode on Werkzeug,
or, with ``SCENARIO_ASYNC_MODE``, gevent (gevent's WSGI server and gevent-websocket, the
standard library patched) or eventlet (its WSGI server, patched too).

``python _scenario_sync_server.py IMPL REDIS_URL KEY`` with IMPL ``sync-ours``
(our ``RedisAdapter``; ``SOCKETIO_REDIS_ADAPTER_NO_EXTENSIONS`` picks the
pure-Python twin; ``SCENARIO_TRANSPORT=redis-py`` gives its manager and
flavour redis-py's blocking client instead of ``BlockingPubSub``) or
``sync-rm`` (python-socketio's ``RedisManager``, with KEY as its channel).
Set ``EXPECT_FASTPATH`` to ``1``/``0`` to have the child check which core it
got.  The same protocol and commands as
``_scenario_server.py`` (see ``_scenario_commands.py``); clients join the
rooms in their CONNECT auth ``{"rooms": [...]}``.  Process CPU counts every
thread: the request threads, the websocket writers and the Redis listener;
``cpu`` also says how it splits between them (``threads``; in gevent and
eventlet modes every green thread runs in the main thread).
"""

# ruff: noqa: E402, PLC0415 - in gevent and eventlet modes the standard library is patched
# first, and each mode imports its own server

from __future__ import annotations

import os

#: ``threading`` (Werkzeug's threaded server), ``gevent`` (gevent's WSGI server with
#: gevent-websocket) or ``eventlet`` (eventlet's WSGI server and websocket)
ASYNC_MODE = os.environ.get("SCENARIO_ASYNC_MODE", "threading")
if ASYNC_MODE == "gevent":
    from gevent import monkey

    monkey.patch_all()
elif ASYNC_MODE == "eventlet":
    import eventlet

    eventlet.monkey_patch()
elif ASYNC_MODE != "threading":
    raise ValueError(f"unknown SCENARIO_ASYNC_MODE {ASYNC_MODE!r}")

import json
import select
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import socketio
from _scenario_commands import check_fastpath, common_command, out, reply, reply_failed

import socketio_redis_adapter

_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_by_thread_kind() -> dict[str, float]:
    """CPU seconds of this process' threads by kind (Linux ``/proc``): the websocket
    ``writer`` threads, the Redis ``listener`` (ours, or RedisManager's thread) and the
    ``rest`` (request and reader threads, the main thread)."""
    kinds = {}
    for thread in threading.enumerate():
        name = thread.name
        if "(writer)" in name:
            kinds[thread.native_id] = "writer"
        elif "(_listen)" in name or "(_thread)" in name:
            kinds[thread.native_id] = "listener"
    totals = {"writer": 0.0, "listener": 0.0, "rest": 0.0}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the thread ended
        seconds = (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime
        totals[kinds.get(int(tid), "rest")] += seconds
    return totals


def make_manager(impl: str, url: str, key: str) -> Any:
    if impl == "sync-ours":
        check_fastpath()
        transport = os.environ.get("SCENARIO_TRANSPORT", "default")
        if transport == "redis-py":
            return redispy_manager(url, key)
        if transport != "default":
            raise ValueError(f"unknown SCENARIO_TRANSPORT {transport!r}")
        return socketio_redis_adapter.RedisAdapter(url, key=key)
    if impl == "sync-rm":
        return socketio.RedisManager(url, channel=key)
    raise ValueError(f"unknown implementation {impl!r}")


def redispy_manager(url: str, key: str) -> Any:
    """``RedisAdapter``'s manager and flavour on redis-py's blocking client instead of
    ``BlockingPubSub`` (the same options as ``RedisAdapter(url, key=key)``)."""
    from _redispy_blocking import RedisPyBlockingPubSub  # noqa: PLC0415 - this row only

    from socketio_redis_adapter.engine.classic.flavour import (  # noqa: PLC0415
        blocking_classic_flavour,
    )
    from socketio_redis_adapter.manager.sync_base import SyncManagerBase  # noqa: PLC0415
    from socketio_redis_adapter.transport.limits import (  # noqa: PLC0415
        DEFAULT_MAX_MESSAGE_SIZE,
    )

    def build(host: Any) -> Any:
        return blocking_classic_flavour(host, RedisPyBlockingPubSub(url), key=key,
                                        parser="msgpack", specific_response_channel=False)

    return SyncManagerBase(
        build, requests_timeout=5.0, callback_timeout=60.0, logger=None,
        offline_queue=socketio_redis_adapter.OfflineQueue(),
        max_message_size=DEFAULT_MAX_MESSAGE_SIZE, direct_frames=None,
    )


def serve(app: Any, port: int) -> Callable[[], None]:
    """Serve ``app`` on ``port`` in the background, as ASYNC_MODE says; return its stop."""
    if ASYNC_MODE == "gevent":
        from gevent.pywsgi import WSGIServer
        from geventwebsocket.handler import WebSocketHandler

        server = WSGIServer(("127.0.0.1", port), app, handler_class=WebSocketHandler,
                            log=None, error_log=None, backlog=4096)
        server.start()
        return server.stop
    if ASYNC_MODE == "eventlet":
        import eventlet.wsgi

        listener = eventlet.listen(("127.0.0.1", port), backlog=4096)
        eventlet.spawn(eventlet.wsgi.server, listener, app, log_output=False)
        return listener.close
    from werkzeug.serving import make_server

    http = make_server("127.0.0.1", port, app, threaded=True)
    http.socket.listen(4096)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    return http.shutdown


def command_lines() -> Iterator[str]:
    """The orchestrator's commands, one per line; in gevent and eventlet modes read
    without blocking the other green threads (gevent's patched ``select`` waits;
    eventlet reads in a thread of its pool)."""
    if ASYNC_MODE == "threading":
        yield from sys.stdin
        return
    if ASYNC_MODE == "eventlet":  # its green select does not wait on a pipe: a real thread
        from eventlet import tpool

        while line := tpool.execute(sys.stdin.readline):
            yield line
        return
    fd = sys.stdin.fileno()
    pending = b""
    while True:
        select.select([fd], [], [])
        chunk = os.read(fd, 65536)
        if not chunk:
            return
        pending += chunk
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            yield line.decode()


def main(impl: str, url: str, key: str) -> None:
    mgr = make_manager(impl, url, key)
    sio = socketio.Server(async_mode=ASYNC_MODE, client_manager=mgr, logger=False,
                          engineio_logger=False)

    @sio.event
    def connect(sid: str, environ: Any, auth: Any) -> None:
        rooms = auth.get("rooms") if isinstance(auth, dict) else None
        for room in rooms or ():
            sio.enter_room(sid, room)

    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    stop = serve(socketio.WSGIApp(sio), port)

    # join the cluster now, not with the first client
    if impl == "sync-ours":
        mgr.start()
    else:
        sio.manager_initialized = True
        mgr.initialize()
    out({"event": "ready", "port": port, "pid": os.getpid()})

    def emit_loop(n: int, room: str) -> dict[str, float]:
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for i in range(n):
            sio.emit("ev", {"n": i}, to=room)
        wall = time.perf_counter() - wall0
        time.sleep(0.3)  # let the listener handle the last echoes
        return {"cpu": time.process_time() - cpu0, "wall": wall}

    for line in command_lines():
        cmd = json.loads(line)
        try:
            name = cmd["cmd"]
            if name == "emit_loop":
                result = emit_loop(int(cmd["n"]), str(cmd["room"]))
            else:
                result = common_command(name, mgr, lambda: {"threads": cpu_by_thread_kind()})
            reply(cmd, result)
        except Exception as exc:  # reported to the orchestrator
            reply_failed(cmd, exc)
    stop()
    os._exit(0)


if __name__ == "__main__":
    try:
        main(*sys.argv[1:4])
    except Exception as exc:
        out({"event": "fatal", "error": repr(exc)})
        raise
