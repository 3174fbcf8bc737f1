"""A chat with rooms on aiohttp; run it twice: the servers share their rooms through Redis.

Run (with a Redis server on 127.0.0.1:6379)::

    PORT=8080 python app.py
    PORT=8081 python app.py

then open http://127.0.0.1:8080 and http://127.0.0.1:8081 in two browser
tabs, join the same room in both and say something: each tab sees the other's
messages although they are connected to different servers.

Settings (environment): ``REDIS_URL`` (default ``redis://127.0.0.1:6379/0``)
and ``PORT`` (default 8080).

Events: ``join`` (a room name; answers ``{"room", "server"}``), ``say``
(``{"room", "text"}``: sent to everyone in the room, on every server, as a
``message`` event) and ``who`` (a room name; answers the ids of the room's
sockets on every server).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import socketio
from aiohttp import web

from socketio_redis_adapter import AsyncRedisAdapter

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
PORT = int(os.environ.get("PORT", "8080"))
SERVER = f"aiohttp:{PORT}"  # shown to the clients, to see which server relayed a message
INDEX = Path(__file__).with_name("index.html")

# Every server of the app uses the same Redis and the same key (the channel
# prefix, "socket.io" unless you pass key=...).
mgr = AsyncRedisAdapter(REDIS_URL)
sio = socketio.AsyncServer(async_mode="aiohttp", client_manager=mgr)


@sio.event
async def join(sid: str, room: str) -> dict[str, str]:
    await sio.enter_room(sid, room)
    return {"room": room, "server": SERVER}


@sio.event
async def say(sid: str, data: dict[str, Any]) -> None:
    # A broadcast to a room reaches its members on every server.
    await sio.emit(
        "message",
        {"room": data["room"], "text": data["text"], "from": sid, "server": SERVER},
        to=data["room"],
    )


@sio.event
async def who(sid: str, room: str) -> list[str]:
    # Asks every server of the cluster (Node's fetchSockets()).
    return sorted(socket.id for socket in await mgr.fetch_sockets(room))


async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(INDEX)


async def start_adapter(app: web.Application) -> None:
    # Optional: the adapter starts with the first client anyway; starting it
    # here joins the cluster (and checks Redis) before the server listens.
    await mgr.start()


async def close_adapter(app: web.Application) -> None:
    await mgr.close()


def make_app() -> web.Application:
    """Return the aiohttp application with the Socket.IO server attached."""
    app = web.Application()
    sio.attach(app)
    app.router.add_get("/", index)
    app.on_startup.append(start_adapter)
    app.on_cleanup.append(close_adapter)
    return app


if __name__ == "__main__":
    web.run_app(make_app(), host="127.0.0.1", port=PORT)
