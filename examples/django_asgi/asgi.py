"""Django under ASGI with a Socket.IO chat beside it; the servers share their rooms through Redis.

Socket.IO answers under ``/socket.io/``; every other request (and so every
page of the site) goes to Django.  Run (with a Redis server on
127.0.0.1:6379), from this directory::

    uvicorn asgi:app --port 8000
    uvicorn asgi:app --port 8001

or ``PORT=8000 python asgi.py`` (which runs uvicorn itself), then open
http://127.0.0.1:8000 and http://127.0.0.1:8001, join the same room in both
and say something: each tab sees the other's messages.

In a project of your own, put this in the project's ``asgi.py`` (Django's
``startproject`` makes one) and serve ``app`` instead of ``application``.

Settings (environment): ``REDIS_URL`` (default ``redis://127.0.0.1:6379/0``),
``PORT`` (default 8000, for ``python asgi.py``), ``DJANGO_SETTINGS_MODULE``
(default ``settings``, the module beside this file).

Events: ``join`` (a room name; answers ``{"room", "server"}``), ``say``
(``{"room", "text"}``: sent to the room on every server as ``message``) and
``who`` (a room name; answers the ids of the room's sockets on every server).
"""

from __future__ import annotations

import os
from typing import Any

import socketio
import uvicorn
from django.core.asgi import get_asgi_application

from socketio_redis_adapter import AsyncRedisAdapter

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")
django_app = get_asgi_application()

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
PORT = int(os.environ.get("PORT", "8000"))
SERVER = f"django:{os.getpid()}"  # shown to the clients: which server relayed a message

mgr = AsyncRedisAdapter(REDIS_URL)
sio = socketio.AsyncServer(async_mode="asgi", client_manager=mgr)


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


# Django does not handle ASGI lifespan events, so the Socket.IO app does: it
# starts the adapter (joins the cluster, checks Redis) before the server
# accepts clients, and closes it at shutdown.
app = socketio.ASGIApp(sio, other_asgi_app=django_app, on_startup=mgr.start,
                       on_shutdown=mgr.close)


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=PORT)
