"""A chat with rooms on FastAPI (ASGI); run it twice: the servers share their rooms through Redis.

Run (with a Redis server on 127.0.0.1:6379), from this directory::

    uvicorn app:app --port 8000
    uvicorn app:app --port 8001

or ``PORT=8000 python app.py`` (which runs uvicorn itself), then open
http://127.0.0.1:8000 and http://127.0.0.1:8001, join the same room in both
and say something: each tab sees the other's messages.

Settings (environment): ``REDIS_URL`` (default ``redis://127.0.0.1:6379/0``)
and ``PORT`` (default 8000, for ``python app.py``).

Events: ``join`` (a room name; answers ``{"room", "server"}``), ``say``
(``{"room", "text"}``: sent to the room on every server as ``message``) and
``who`` (a room name; answers the ids of the room's sockets on every server).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import socketio
import uvicorn
from fastapi import FastAPI
from fastapi.responses import FileResponse

from socketio_redis_adapter import AsyncRedisAdapter

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
PORT = int(os.environ.get("PORT", "8000"))
SERVER = f"fastapi:{os.getpid()}"  # shown to the clients: which server relayed a message
INDEX = Path(__file__).with_name("index.html")

mgr = AsyncRedisAdapter(REDIS_URL)
sio = socketio.AsyncServer(async_mode="asgi", client_manager=mgr)


@asynccontextmanager
async def lifespan(api: FastAPI) -> AsyncIterator[None]:
    # Optional start: the adapter starts with the first client anyway; this
    # joins the cluster (and checks Redis) before the server accepts clients.
    await mgr.start()
    yield
    await mgr.close()


api = FastAPI(lifespan=lifespan)


@api.get("/")
async def index() -> FileResponse:
    return FileResponse(INDEX)


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


# Socket.IO answers under /socket.io/ and hands everything else, the lifespan
# events included, to FastAPI.
app = socketio.ASGIApp(sio, other_asgi_app=api)


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=PORT)
