"""A chat with rooms on Flask-SocketIO; run it twice: the servers share their rooms through Redis.

Run (with a Redis server on 127.0.0.1:6379)::

    PORT=5000 python app.py                   # threading mode (Werkzeug)
    PORT=5001 ASYNC_MODE=gevent python app.py  # gevent mode (or: python app.py --gevent)

then open http://127.0.0.1:5000 and http://127.0.0.1:5001, join the same room
in both and say something: each tab sees the other's messages.  Servers in
different modes (and asyncio or Node.js servers) can share one cluster.

Settings (environment): ``REDIS_URL`` (default ``redis://127.0.0.1:6379/0``),
``PORT`` (default 5000) and ``ASYNC_MODE`` (``threading``, the default, or
``gevent``, which needs ``pip install gevent gevent-websocket``).

Events: ``join`` (a room name; answers ``{"room", "server"}``), ``say``
(``{"room", "text"}``: sent to the room on every server as ``message``) and
``who`` (a room name; answers the ids of the room's sockets on every server).
"""

# ruff: noqa: E402 - in gevent mode the standard library is patched before anything else
from __future__ import annotations

import os
import sys

if "--gevent" in sys.argv:
    os.environ["ASYNC_MODE"] = "gevent"
ASYNC_MODE = os.environ.get("ASYNC_MODE", "threading")
if ASYNC_MODE == "gevent":
    # gevent must patch the standard library first, before Flask, Redis or
    # the adapter import anything (the adapter refuses to start otherwise).
    from gevent import monkey

    monkey.patch_all()

from pathlib import Path
from typing import Any

from flask import Flask, request, send_file
from flask_socketio import SocketIO, emit, join_room

from socketio_redis_adapter import RedisAdapter

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
PORT = int(os.environ.get("PORT", "5000"))
SERVER = f"flask-{ASYNC_MODE}:{PORT}"  # shown to the clients: which server relayed a message
INDEX = Path(__file__).with_name("index.html")

app = Flask(__name__)
# The adapter is python-socketio's client manager: Flask-SocketIO passes it on.
socketio = SocketIO(app, client_manager=RedisAdapter(REDIS_URL), async_mode=ASYNC_MODE)


@app.route("/")
def index() -> Any:
    return send_file(INDEX)


@socketio.on("join")
def join(room: str) -> dict[str, str]:
    join_room(room)
    return {"room": room, "server": SERVER}


@socketio.on("say")
def say(data: dict[str, Any]) -> None:
    # A broadcast to a room reaches its members on every server.
    emit(
        "message",
        {"room": data["room"], "text": data["text"], "from": request.sid, "server": SERVER},
        to=data["room"],
    )


@socketio.on("who")
def who(room: str) -> list[str]:
    # Asks every server of the cluster (Node's fetchSockets()); blocks this
    # handler until they answered (requests_timeout, 5 s, at most).
    return sorted(socket.id for socket in socketio.server.manager.fetch_sockets(room))


if __name__ == "__main__":
    # Optional start: the adapter starts with the first client anyway; this
    # joins the cluster (and checks Redis) before the server accepts clients.
    socketio.server.manager.start()
    try:
        # Werkzeug (threading mode) is a development server: for production use
        # gevent mode, or gunicorn as Flask-SocketIO's documentation shows.
        socketio.run(app, host="127.0.0.1", port=PORT, allow_unsafe_werkzeug=True)
    finally:
        socketio.server.manager.close()
