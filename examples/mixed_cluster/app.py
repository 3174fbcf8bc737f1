"""The Python half of a mixed cluster: python-socketio (ASGI, uvicorn) beside Node.js servers.

``server.js`` runs Node's Socket.IO with the official ``@socket.io/redis-adapter``;
this server uses ``AsyncRedisAdapter``, which speaks the same protocol, so both
share one set of rooms: broadcasts and ``fetch_sockets`` cross languages.

Run (with a Redis server on 127.0.0.1:6379), from this directory::

    npm ci                      # once, for server.js
    PORT=3000 node server.js
    PORT=3001 python app.py     # or: uvicorn app:app --port 3001

then open http://127.0.0.1:3000 and http://127.0.0.1:3001, join the same room
in both and say something: each tab sees the other's messages.

Settings (environment): ``REDIS_URL`` (default ``redis://127.0.0.1:6379/0``)
and ``PORT`` (default 3001, for ``python app.py``).  Both halves keep the
defaults they share: key ``socket.io`` and the msgpack parser.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import socketio
import uvicorn

from socketio_redis_adapter import AsyncRedisAdapter

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
PORT = int(os.environ.get("PORT", "3001"))
SERVER = f"python:{os.getpid()}"  # shown to the clients: which server relayed a message
INDEX = str(Path(__file__).with_name("index.html"))

mgr = AsyncRedisAdapter(REDIS_URL)
sio = socketio.AsyncServer(async_mode="asgi", client_manager=mgr)


@sio.event
async def join(sid: str, room: str) -> dict[str, str]:
    await sio.enter_room(sid, room)
    return {"room": room, "server": SERVER}


@sio.event
async def say(sid: str, data: dict[str, Any]) -> None:
    # A broadcast to a room reaches its members on every server, Node ones too.
    await sio.emit(
        "message",
        {"room": data["room"], "text": data["text"], "from": sid, "server": SERVER},
        to=data["room"],
    )


@sio.event
async def who(sid: str, room: str) -> list[str]:
    # Asks every server of the cluster, Node ones too (fetchSockets()).
    return sorted(socket.id for socket in await mgr.fetch_sockets(room))


# A plain ASGI app: Socket.IO, the page at "/", and the adapter started (the
# cluster joined, Redis checked) before the server accepts clients.
app = socketio.ASGIApp(
    sio,
    static_files={"/": {"content_type": "text/html", "filename": INDEX}},
    on_startup=mgr.start,
    on_shutdown=mgr.close,
)


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=PORT)
