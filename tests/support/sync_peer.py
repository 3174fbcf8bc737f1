"""A synchronous python-socketio server with ``RedisAdapter`` in its own process.

``python tests/support/sync_peer.py MODE FRAMEWORK REDIS_URL KEY`` where MODE is
``threading``, ``gevent`` or ``eventlet`` (patched before anything else is
imported, as such apps do) and FRAMEWORK ``flask`` (Flask-SocketIO) or
``plain`` (``socketio.Server`` + ``socketio.WSGIApp``).  Served by Werkzeug,
gevent's pywsgi (gevent-websocket) or eventlet's wsgi on a free 127.0.0.1
port.  Clients join the rooms in their ``auth={"rooms": [...]}``; every event
a client sends is acknowledged with ``"sync-peer-ack"``.

Protocol: JSON lines.  stdout: ``{"event": "ready", "port": P, "pid": N,
"mode": ...}``, then one ``{"event": "reply", "id": N, "ok": bool, "result"
| "error": ...}`` per stdin command ``{"id": N, "cmd": NAME, ...}``.  Commands:
``emit`` (event, args, to, except_rooms, namespace), ``fetch_sockets``
(rooms) -> [{id, rooms, data}], ``server_count``, ``all_rooms``,
``sockets_join`` (join, rooms), ``server_side_emit`` / ``server_side_call``
(event, args), ``on_server_side_event`` (event, reply), ``emit_with_ack``
(event, args, to, timeout), ``stats``, ``stop``.  Commands run one at a time,
each in a background task of the server.
"""

# ruff: noqa: PLC0415 - what is imported depends on the mode, and only after patching

from __future__ import annotations

import sys

MODE = sys.argv[1] if len(sys.argv) > 1 else "threading"
if MODE == "gevent":
    from gevent import monkey

    monkey.patch_all()
elif MODE == "eventlet":
    import eventlet

    eventlet.monkey_patch()

# the rest only once the standard library is patched
import json  # noqa: E402
import os  # noqa: E402
import socket  # noqa: E402
import threading  # noqa: E402
from typing import Any  # noqa: E402

import socketio  # noqa: E402

from socketio_redis_adapter import RedisAdapter, RequestTimeoutError  # noqa: E402

_out_lock = threading.Lock()


def out(obj: dict[str, Any]) -> None:
    with _out_lock:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()


def free_socket() -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


def build(framework: str, url: str, key: str) -> tuple[Any, socketio.Server, RedisAdapter]:
    adapter = RedisAdapter(url, key=key, requests_timeout=2.0)
    options = {"ping_interval": 1, "ping_timeout": 5, "cors_allowed_origins": "*",
               "namespaces": "*", "async_mode": MODE}
    if framework == "flask":
        from flask import Flask
        from flask_socketio import SocketIO

        app = Flask(__name__)
        flask_sio = SocketIO(app, client_manager=adapter, **options)
        return app, flask_sio.server, adapter
    sio = socketio.Server(client_manager=adapter, **options)
    return socketio.WSGIApp(sio), sio, adapter


def serve(wsgi: Any, sock: socket.socket) -> None:
    if MODE == "gevent":
        from gevent import pywsgi
        from geventwebsocket.handler import WebSocketHandler

        pywsgi.WSGIServer(sock, wsgi, handler_class=WebSocketHandler, log=None).serve_forever()
    elif MODE == "eventlet":
        import eventlet.wsgi

        eventlet.wsgi.server(sock, wsgi, log_output=False)
    else:
        from werkzeug.serving import make_server

        port = sock.getsockname()[1]
        sock.close()
        make_server("127.0.0.1", port, wsgi, threaded=True).serve_forever()


def read_line() -> str:
    """A line of stdin without blocking the other green threads."""
    if MODE == "gevent":
        import gevent

        return str(gevent.get_hub().threadpool.apply(sys.stdin.readline))
    if MODE == "eventlet":
        from eventlet import tpool

        return str(tpool.execute(sys.stdin.readline))
    return sys.stdin.readline()


def main() -> None:
    framework, url, key = sys.argv[2], sys.argv[3], sys.argv[4]
    wsgi, sio, adapter = build(framework, url, key)

    @sio.on("connect", namespace="*")
    def connect(namespace: str, sid: str, environ: dict[str, Any], auth: Any) -> None:
        for room in (auth or {}).get("rooms", ()):
            sio.enter_room(sid, room, namespace=namespace)
        if (auth or {}).get("data") is not None:
            sio.save_session(sid, {"data": auth["data"]}, namespace=namespace)

    @sio.on("*", namespace="*")
    def any_event(event: str, namespace: str, sid: str, *args: Any) -> Any:
        return "sync-peer-ack"

    def run(cmd: dict[str, Any]) -> Any:
        name = cmd["cmd"]
        nsp = cmd.get("namespace", "/")
        if name == "emit":
            args = tuple(cmd.get("args", []))
            if cmd.get("except_rooms"):  # Node's except: the adapter's own keyword
                adapter.emit(cmd["event"], args, nsp, to=cmd.get("to"),
                             except_rooms=cmd["except_rooms"])
            else:  # python-socketio's own path
                sio.emit(cmd["event"], args, to=cmd.get("to"), namespace=nsp)
            return True
        if name == "fetch_sockets":
            return [{"id": s.id, "rooms": sorted(map(str, s.rooms)), "data": s.data}
                    for s in adapter.fetch_sockets(cmd.get("rooms"), namespace=nsp)]
        if name == "server_count":
            return adapter.server_count(nsp)
        if name == "all_rooms":
            return sorted(map(str, adapter.all_rooms(nsp)))
        if name == "sockets_join":
            adapter.sockets_join(cmd["join"], rooms=cmd.get("rooms"), namespace=nsp)
            return True
        if name == "server_side_emit":
            adapter.server_side_emit(cmd["event"], *cmd.get("args", []), namespace=nsp)
            return True
        if name == "server_side_call":
            try:
                return {"responses": adapter.server_side_call(cmd["event"], *cmd.get("args", []),
                                                              namespace=nsp)}
            except RequestTimeoutError as exc:
                return {"timeout": True, "responses": exc.responses}
        if name == "on_server_side_event":
            reply = cmd.get("reply")

            def handler(*args: Any) -> Any:
                out({"event": "server_side_event", "name": cmd["event"], "args": list(args)})
                return reply

            adapter.on_server_side_event(cmd["event"], handler, namespace=nsp)
            return True
        if name == "emit_with_ack":
            return sorted(map(str, adapter.emit_with_ack(
                cmd["event"], tuple(cmd.get("args", [])), nsp, to=cmd.get("to"),
                timeout=float(cmd.get("timeout", 5)),
            )))
        if name == "stats":
            return {"stats": adapter.stats, "tables": adapter.table_sizes()}
        raise ValueError(f"unknown command {name!r}")

    def handle(cmd: dict[str, Any]) -> None:
        try:
            out({"event": "reply", "id": cmd.get("id"), "ok": True, "result": run(cmd)})
        except Exception as exc:
            out({"event": "reply", "id": cmd.get("id"), "ok": False, "error": repr(exc)})

    sock = free_socket()
    port = sock.getsockname()[1]
    sio.start_background_task(serve, wsgi, sock)
    adapter.start()
    out({"event": "ready", "port": port, "pid": os.getpid(), "mode": MODE})
    while True:
        line = read_line()
        if not line:
            break
        cmd = json.loads(line)
        if cmd.get("cmd") == "stop":
            out({"event": "reply", "id": cmd.get("id"), "ok": True, "result": True})
            break
        sio.start_background_task(handle, cmd)
    adapter.close()
    os._exit(0)


if __name__ == "__main__":
    main()
