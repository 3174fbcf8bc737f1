"""How a Python socket's handshake is described to other servers (Node's ``SocketDetails``).

``handshake`` is built from the connection's WSGI/ASGI environ the way
Socket.IO fills ``socket.handshake``: ``headers`` (lower-case names),
``time`` (JavaScript ``Date.toString()`` form), ``address``, ``xdomain`` (an
``Origin`` header was sent), ``secure``, ``issued`` (milliseconds), ``url``,
``query`` and ``auth``.  python-socketio does not keep the client's ``auth``
payload, so ``auth`` is ``{}``.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qsl

from .parsers import JsonFragment, json_dumps

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


class HandshakeCache:
    """Each connection's ``handshake``, built once from its environ.

    A connection's environ does not change while it lives, so its handshake
    is built on the first request that describes it (``fetch_sockets``) and
    reused while the server still holds that very environ object for the
    Engine.IO sid, and so is its JSON text (:meth:`get_json`).  :meth:`forget`
    a connection that left.  The handshakes handed out are shared: treat
    them as read-only.
    """

    __slots__ = ("_by_eio_sid",)

    def __init__(self) -> None:
        #: eio sid -> [environ, handshake, its JSON text or None]
        self._by_eio_sid: dict[str, list[Any]] = {}

    def _entry(self, eio_sid: str, environ: dict[str, Any]) -> list[Any]:
        cached = self._by_eio_sid.get(eio_sid)
        if cached is not None and cached[0] is environ:
            return cached
        entry = [environ, handshake_from_environ(environ), None]
        self._by_eio_sid[eio_sid] = entry
        return entry

    def get(self, eio_sid: str, environ: dict[str, Any]) -> dict[str, Any]:
        """The handshake of ``eio_sid``'s connection, whose environ is ``environ``."""
        handshake: dict[str, Any] = self._entry(eio_sid, environ)[1]
        return handshake

    def get_json(self, eio_sid: str, environ: dict[str, Any]) -> JsonFragment:
        """:meth:`get`'s handshake as JSON text (for ``json_dumps_spliced``)."""
        entry = self._entry(eio_sid, environ)
        if entry[2] is None:
            entry[2] = JsonFragment(json_dumps(entry[1]).decode())
        fragment: JsonFragment = entry[2]
        return fragment

    def forget(self, eio_sid: str) -> None:
        self._by_eio_sid.pop(eio_sid, None)

    def clear(self) -> None:
        self._by_eio_sid.clear()

    def __len__(self) -> int:
        return len(self._by_eio_sid)

    def table_sizes(self) -> dict[str, int]:
        """``handshakes``: the connections whose handshake is kept."""
        return {"handshakes": len(self._by_eio_sid)}


__all__ = ["ISSUED_KEY", "HandshakeCache", "handshake_from_environ", "js_date_string"]
