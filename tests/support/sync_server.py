"""Real synchronous python-socketio servers with ``RedisAdapter``, served in this process.

Threading mode: a plain ``socketio.Server`` or a Flask-SocketIO app, served by
Werkzeug's threaded WSGI server (websockets through simple-websocket) in a
daemon thread on a free 127.0.0.1 port.  Asyncio tests call the blocking API
through :meth:`SyncServer.call` (``asyncio.to_thread``), as a request thread
of a Flask app would.  gevent and eventlet need their own process (they
patch the standard library): see ``tests/support/sync_peer.py``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import socketio
from flask import Flask
from flask_socketio import SocketIO
from werkzeug.serving import BaseWSGIServer, make_server

from socketio_redis_adapter import RedisAdapter

from .ports import free_port


class SyncServer:
    """One synchronous server: ``sio`` (``socketio.Server``), ``adapter`` and its URL.

    Clients join the rooms listed in their ``auth={"rooms": [...]}`` and get
    ``auth["data"]`` stored in their session, in every namespace.  Every
    event a client sends is recorded in ``received`` and acknowledged with
    ``ack_reply``.
    """

    def __init__(self, adapter: RedisAdapter, sio: socketio.Server, wsgi: Any) -> None:
        self.adapter = adapter
        self.sio = sio
        self.port = free_port()
        self.received: list[tuple[str, str, str, list[Any]]] = []
        self.ack_reply: Any = "sync-ack"
        self._http: BaseWSGIServer = make_server("127.0.0.1", self.port, wsgi, threaded=True)
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    def start(cls, redis_url: str, *, flask: bool = False, **adapter_options: Any) -> SyncServer:
        """Start a server (Flask-SocketIO with ``flask``) and wait until it is subscribed."""
        adapter = RedisAdapter(redis_url, **adapter_options)
        options = {"ping_interval": 1, "ping_timeout": 5, "cors_allowed_origins": "*",
                   "namespaces": "*"}
        if flask:
            app = Flask(__name__)
            flask_sio = SocketIO(app, client_manager=adapter, async_mode="threading",
                                 **options)
            sio, wsgi = flask_sio.server, app
        else:
            sio = socketio.Server(async_mode="threading", client_manager=adapter, **options)
            wsgi = socketio.WSGIApp(sio)
        self = cls(adapter, sio, wsgi)

        @sio.on("connect", namespace="*")
        def connect(namespace: str, sid: str, environ: dict[str, Any], auth: Any) -> None:
            auth = auth or {}
            for room in auth.get("rooms", ()):
                sio.enter_room(sid, room, namespace=namespace)
            if "data" in auth:
                sio.save_session(sid, {"data": auth["data"]}, namespace=namespace)

        @sio.on("*", namespace="*")
        def any_event(event: str, namespace: str, sid: str, *args: Any) -> Any:
            self.received.append((namespace, sid, event, list(args)))
            return self.ack_reply

        self._thread.start()
        adapter.start()
        return self

    async def call(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run a blocking call in a worker thread (as a request thread would)."""
        return await asyncio.to_thread(function, *args, **kwargs)

    def stop(self) -> None:
        self.adapter.close()
        self._http.shutdown()
        self._http.server_close()
        self._thread.join(5)


__all__ = ["SyncServer"]
