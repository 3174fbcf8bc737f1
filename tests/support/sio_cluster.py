"""Real python-socketio servers (aiohttp) with our adapter, and real clients."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any

import socketio
import uvicorn
from aiohttp import web

from socketio_redis_adapter import AsyncRedisAdapter

from .ports import free_port


class PyServer:
    """One python-socketio server on 127.0.0.1 with our adapter (classic by default).

    Clients join the rooms listed in their ``auth={"rooms": [...]}`` and get
    ``auth["data"]`` stored in their session.  Every event a client sends is
    recorded in ``received`` and acknowledged with ``ack_reply``.
    """

    def __init__(self, adapter: Any, server: socketio.AsyncServer) -> None:
        self.adapter = adapter
        self.sio = server
        self.port = free_port()
        self.runner: web.AppRunner | None = None
        self.uvicorn: Any = None
        self._serving: asyncio.Task[Any] | None = None
        self.received: list[tuple[str, str, str, list[Any]]] = []
        self.ack_reply: Any = "py-ack"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    async def start(
        cls, redis_url: str, *, adapter_class: type[Any] = AsyncRedisAdapter,
        web_server: str = "aiohttp", **adapter_options: Any,
    ) -> PyServer:
        """Start a server whose manager is ``adapter_class(redis_url, **adapter_options)``.

        ``web_server`` is ``"aiohttp"`` or ``"uvicorn-<ws>"`` (ASGI under
        uvicorn, in this process, with uvicorn's websocket implementation
        ``<ws>``: ``websockets-sansio``, ``wsproto`` or ``websockets``).
        """
        adapter = adapter_class(redis_url, **adapter_options)
        sio = socketio.AsyncServer(
            async_mode="aiohttp" if web_server == "aiohttp" else "asgi",
            client_manager=adapter,
            namespaces="*",
            cors_allowed_origins="*",
            # a long-polling client's disconnect waits for its pending GET,
            # which a ping ends: keep pings frequent so tests end quickly
            ping_interval=1,
            ping_timeout=5,
        )
        self = cls(adapter, sio)

        @sio.on("connect", namespace="*")
        async def connect(namespace: str, sid: str, environ: dict[str, Any], auth: Any) -> None:
            auth = auth or {}
            for room in auth.get("rooms", ()):
                await sio.enter_room(sid, room, namespace=namespace)
            if "data" in auth:
                await sio.save_session(sid, {"data": auth["data"]}, namespace=namespace)

        @sio.on("*", namespace="*")
        async def any_event(event: str, namespace: str, sid: str, *args: Any) -> Any:
            self.received.append((namespace, sid, event, list(args)))
            return self.ack_reply

        if web_server == "aiohttp":
            app = web.Application()
            sio.attach(app)
            self.runner = web.AppRunner(app, handle_signals=False)
            await self.runner.setup()
            await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        else:
            await self._serve_uvicorn(web_server.removeprefix("uvicorn-"))
        await asyncio.wait_for(adapter.start(), 10)
        return self

    async def _serve_uvicorn(self, ws: str) -> None:
        config = uvicorn.Config(
            socketio.ASGIApp(self.sio), host="127.0.0.1", port=self.port, ws=ws,
            lifespan="off", log_level="warning", loop="none",
        )
        self.uvicorn = uvicorn.Server(config)
        self.uvicorn.install_signal_handlers = lambda: None  # older uvicorn versions
        self._serving = asyncio.ensure_future(self.uvicorn.serve())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while not self.uvicorn.started:
            if self._serving.done():
                self._serving.result()  # raises why it stopped
            assert loop.time() < deadline, "uvicorn did not start within 10 s"
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        await self.adapter.close()
        if self.runner is not None:
            await self.sio.shutdown()
            await self.runner.cleanup()
            self.runner = None
        if self._serving is not None:
            await self.sio.shutdown()
            self.uvicorn.should_exit = True
            await asyncio.wait_for(self._serving, 10)
            self._serving = None


class Client:
    """A python-socketio ``AsyncClient`` that records every event it gets."""

    def __init__(self, deflate: bool = False) -> None:
        # deflate: offer permessage-deflate (aiohttp's ws_connect(compress=15))
        self.sio = socketio.AsyncClient(
            reconnection=False,
            websocket_extra_options={"compress": 15} if deflate else None,
        )
        self.events: list[tuple[str, str, list[Any]]] = []
        self.disconnects: list[tuple[str, Any]] = []
        self.ack_reply: Any = "client-ack"
        self._changed = asyncio.Event()

        @self.sio.on("*", namespace="*")
        async def any_event(event: str, namespace: str, *args: Any) -> Any:
            self.events.append((namespace, event, list(args)))
            self._changed.set()
            return self.ack_reply

    @classmethod
    async def connect(
        cls,
        url: str,
        *,
        rooms: Iterable[Any] = (),
        namespaces: Iterable[str] = ("/",),
        transports: Iterable[str] = ("websocket",),
        data: Any = None,
        deflate: bool = False,
    ) -> Client:
        self = cls(deflate)
        auth: dict[str, Any] = {"rooms": list(rooms)}
        if data is not None:
            auth["data"] = data
        await asyncio.wait_for(
            self.sio.connect(
                url, transports=list(transports), namespaces=list(namespaces), auth=auth
            ),
            10,
        )
        return self

    @property
    def deflate(self) -> int:
        """The permessage-deflate window bits negotiated on the websocket (0: none)."""
        ws = getattr(self.sio.eio, "ws", None)
        return int(getattr(ws, "compress", 0) or 0)

    def sid(self, namespace: str = "/") -> str:
        sid = self.sio.get_sid(namespace)
        assert sid is not None
        return str(sid)

    def named(self, event: str, namespace: str = "/") -> list[list[Any]]:
        return [args for nsp, name, args in self.events if name == event and nsp == namespace]

    async def wait_for(
        self, event: str, count: int = 1, namespace: str = "/", timeout: float = 5.0
    ) -> list[list[Any]]:
        """Wait until ``event`` arrived ``count`` times; return every arrival."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.named(event, namespace)) < count:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(
                    f"{event!r} arrived {len(self.named(event, namespace))} times, "
                    f"expected {count}; got {self.events}"
                )
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except asyncio.TimeoutError:
                pass
        return self.named(event, namespace)

    async def close(self) -> None:
        await self.sio.disconnect()


async def close_all(clients: list[Client], servers: list[PyServer]) -> None:
    """Close the clients, then stop the servers (a test's teardown)."""
    for client in clients:
        await client.close()
    for server in servers:
        await server.stop()


async def settle(seconds: float = 0.3) -> None:
    """Let messages that should *not* arrive have time to arrive."""
    await asyncio.sleep(seconds)


async def gather_all(make: Callable[[], Any], count: int) -> list[Any]:
    return list(await asyncio.gather(*(make() for _ in range(count))))
