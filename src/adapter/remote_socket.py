"""Sockets as other servers see them: Node's ``SocketDetails`` and ``RemoteSocket``.

A Python socket is described to the cluster like this:

* ``handshake`` is built from the connection's WSGI/ASGI environ the way
  Socket.IO fills ``socket.handshake``: ``headers`` (lower-case names),
  ``time`` (JavaScript ``Date.toString()`` form), ``address``, ``xdomain``
  (an ``Origin`` header was sent), ``secure``, ``issued`` (milliseconds),
  ``url``, ``query`` and ``auth``.  python-socketio does not keep the
  client's ``auth`` payload, so ``auth`` is ``{}``.
* ``data`` is the value stored under ``"data"`` in the socket's
  python-socketio session (``async with sio.session(sid) as s: s["data"] =
  ...``), the counterpart of Node's ``socket.data``; ``None`` when unset.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

if TYPE_CHECKING:
    from .adapter import AsyncRedisAdapter

ISSUED_KEY = "socketio_redis_adapter.issued"
"""Environ key where the adapter notes when a connection was accepted (ms)."""

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def js_date_string(milliseconds: float) -> str:
    """Format a UTC time like JavaScript's ``Date.prototype.toString``."""
    tm = time.gmtime(milliseconds / 1000)
    return (
        f"{_DAYS[tm.tm_wday]} {_MONTHS[tm.tm_mon - 1]} {tm.tm_mday:02d} {tm.tm_year} "
        f"{tm.tm_hour:02d}:{tm.tm_min:02d}:{tm.tm_sec:02d} GMT+0000 (Coordinated Universal Time)"
    )


def handshake_from_environ(environ: dict[str, Any]) -> dict[str, Any]:
    """Build Socket.IO's ``handshake`` object for a connection's environ."""
    headers: dict[str, str] = {}
    for name, value in environ.items():
        if name.startswith("HTTP_"):
            headers[name[5:].lower().replace("_", "-")] = str(value)
        elif name in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
            headers[name.lower().replace("_", "-")] = str(value)
    issued = environ.get(ISSUED_KEY)
    if not isinstance(issued, (int, float)):
        issued = time.time() * 1000
    query_string = str(environ.get("QUERY_STRING", ""))
    path = str(environ.get("RAW_URI") or environ.get("PATH_INFO") or "/")
    if query_string and "?" not in path:
        path += "?" + query_string
    scheme = str(environ.get("wsgi.url_scheme", "http"))
    return {
        "headers": headers,
        "time": js_date_string(issued),
        "address": str(environ.get("REMOTE_ADDR", "")),
        "xdomain": "HTTP_ORIGIN" in environ,
        "secure": scheme in ("https", "wss"),
        "issued": int(issued),
        "url": path,
        "query": dict(parse_qsl(query_string, keep_blank_values=True)),
        "auth": {},
    }


class RemoteSocket:
    """A socket on any server of the cluster, as returned by ``fetch_sockets``.

    :ivar id: the socket's sid.
    :ivar handshake: the handshake details (see the module docstring).
    :ivar rooms: the rooms the socket is in (its own sid room included).
    :ivar data: the socket's shared data (Node's ``socket.data``).
    :ivar namespace: the namespace the socket is connected to.
    """

    __slots__ = ("id", "handshake", "rooms", "data", "namespace", "_adapter")

    def __init__(
        self,
        adapter: AsyncRedisAdapter,
        namespace: str,
        details: dict[str, Any],
    ) -> None:
        self._adapter = adapter
        self.namespace = namespace
        self.id: str = details["id"]
        self.handshake: dict[str, Any] = details.get("handshake") or {}
        self.rooms: set[Any] = set(details.get("rooms") or ())
        self.data: Any = details.get("data")

    def __repr__(self) -> str:
        return f"<RemoteSocket {self.id} {self.namespace} rooms={sorted(map(str, self.rooms))}>"

    async def emit(self, event: str, *args: Any) -> None:
        """Emit an event to this socket, on whichever server it is."""
        await self._adapter.emit(event, tuple(args), self.namespace, to=self.id)

    async def join(self, rooms: Any) -> None:
        """Make this socket join a room or a list of rooms."""
        await self._adapter.sockets_join(rooms, rooms=[self.id], namespace=self.namespace)

    async def leave(self, rooms: Any) -> None:
        """Make this socket leave a room or a list of rooms."""
        await self._adapter.sockets_leave(rooms, rooms=[self.id], namespace=self.namespace)

    async def disconnect(self, close: bool = False) -> None:
        """Disconnect this socket; ``close`` also closes its connection."""
        await self._adapter.disconnect_sockets(
            close, rooms=[self.id], namespace=self.namespace
        )

