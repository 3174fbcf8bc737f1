"""Direct websocket frames for asyncio servers: aiohttp, and ASGI under uvicorn.

python-engineio gives each websocket client a writer task that waits on the
socket's queue; a broadcast to a room of N clients wakes N tasks, each of
which runs ``asyncio.wait_for`` and the websocket library's send path for
one frame: measured, most of the CPU a steady broadcast costs.  Server-to-
client frames are not masked, so one encoded frame serves every recipient:
when a recipient's queue is empty and its writer task waits on it (so it
holds nothing it has not written), ``deliver`` writes the broadcast's frames
to the client's asyncio transport itself, and no task wakes (the frames of
every broadcast of one loop turn go to a client in one ``transport.write``,
at the end of the turn: see ``DirectLinks``).  Otherwise the packets go to
the queue as before, so each client's order is kept: an asyncio transport
takes whole writes in order, and a writer waiting on its queue has written
everything it took.

The per-recipient work is the fast path's ``deliver`` with a
:class:`~socketio_redis_adapter.fastpath.DirectLinks`; this module adopts
the clients as they connect.  It relies on python-engineio's ``AsyncSocket``
(``_websocket_handler``, ``poll``, ``queue``, ``upgraded``, ``upgrading``,
``closing``), and on the internals of the websocket side in the versions of
:data:`KNOWN_VERSIONS`: aiohttp's ``WebSocketResponse`` and
``WebSocketWriter``; uvicorn's websocket protocols (``websockets-sansio``,
``wsproto`` and ``websockets``, the legacy ``websockets`` protocol's
``state``); and on ``asyncio.Queue``'s internals in the Python versions of
:data:`KNOWN_PYTHON`.  Anything else (another ASGI server, another version)
uses the queue.  Nothing here is Unix-only: asyncio transports' ``write``
serves Windows' Proactor loop too.  Uncompressed frames are valid on
connections that negotiated permessage-deflate, so the same bytes serve every
client.
"""

from __future__ import annotations

import functools
import importlib
import sys
from collections.abc import Callable
from typing import Any

from engineio import async_socket

from ...fastpath import LINK_AIOHTTP, LINK_UVICORN, LINK_WEBSOCKETS, DirectLinks
from .engineio_hook import hook_websocket_handler, owner_of, set_owner
from .reasons import Unsupported, known_text, version_reason

#: the library versions whose internals this module relies on (version prefixes; uvicorn
#: 0.54 and websockets 16 are the newest that still support Python 3.10)
KNOWN_VERSIONS = {
    "python-engineio": ("4.15.",),
    "aiohttp": ("3.14.",),
    "uvicorn": ("0.54.", "0.55."),
    "websockets": ("16.", "17."),
}
#: the Python versions whose ``asyncio.Queue`` internals the fast path's ``deliver``
#: knows (the same bounds as its ``_queue_is_pristine``, in both twins)
KNOWN_PYTHON = ((3, 10), (3, 13))
#: what each async mode needs besides python-engineio
_MODE_LIBRARIES = {"aiohttp": ("aiohttp",), "asgi": ()}


@functools.cache
def _version_reason(distribution: str) -> str | None:
    """Why ``distribution``'s installed version is not one this module knows, or None."""
    return version_reason(distribution, KNOWN_VERSIONS[distribution])


def _python_reason(version: tuple[int, ...]) -> str | None:
    low, high = KNOWN_PYTHON
    if not low <= version[:2] <= high:
        return (f"Python {version[0]}.{version[1]} (known: "
                f"{low[0]}.{low[1]}-{high[0]}.{high[1]})")
    return None


def known_versions() -> str:
    """What direct frames on asyncio servers know, for the manager's warning."""
    (low_major, low_minor), (high_major, high_minor) = KNOWN_PYTHON
    return known_text(
        KNOWN_VERSIONS, f", on Python {low_major}.{low_minor}-{high_major}.{high_minor}"
    )


def unsupported(server: Any, python: tuple[int, ...] = sys.version_info[:2]
                ) -> Unsupported | None:
    """Why direct frames cannot serve ``server`` (a ``socketio.AsyncServer``), and
    whether the reason deserves a warning (see :mod:`.reasons`), or None.

    Under ASGI, each connection is checked again as it is adopted: only
    uvicorn's websocket protocols are recognised, in the versions known.
    """
    mode = getattr(server.eio, "async_mode", None)
    if mode not in _MODE_LIBRARIES:  # tornado, sanic...: by design
        return Unsupported(f"async mode {mode!r} (only 'aiohttp' and 'asgi')", False)
    reason = _python_reason(python)
    if reason is not None:
        return Unsupported(reason, True)
    for distribution in ("python-engineio", *_MODE_LIBRARIES[mode]):
        reason = _version_reason(distribution)
        if reason is not None:
            return Unsupported(reason, True)
    if not hasattr(async_socket.AsyncSocket, "_websocket_handler"):
        return Unsupported("python-engineio's AsyncSocket has no _websocket_handler", True)
    return None


def unsupported_reason(server: Any) -> str | None:
    """Why direct frames cannot serve ``server`` (a ``socketio.AsyncServer``), or None."""
    found = unsupported(server)
    return None if found is None else found.reason


#: what adopting a client needs: (kind, transport, state, flow, open_state)
Link = tuple[int, Any, Any, Any, Any]


def _aiohttp_link(ws: Any) -> Link | None:
    """(kind, transport, state, flow, open_state) of python-engineio's aiohttp websocket."""
    # imported here: aiohttp is needed only by servers in aiohttp mode
    eio_aiohttp = importlib.import_module("engineio.async_drivers.aiohttp")
    web_ws = importlib.import_module("aiohttp.web_ws")
    ws_writer = importlib.import_module("aiohttp._websocket.writer")
    if type(ws) is not eio_aiohttp.WebSocket:
        return None
    response = getattr(ws, "_sock", None)
    writer: Any = getattr(response, "_writer", None)
    if (type(response) is not web_ws.WebSocketResponse
            or type(writer) is not ws_writer.WebSocketWriter):
        return None
    protocol = writer.protocol
    if not isinstance(getattr(protocol, "_paused", None), bool):
        return None
    return LINK_AIOHTTP, writer.transport, response, protocol, None


#: uvicorn's websocket protocol classes this module knows: (module, class, the method
#: it hands the application as ASGI ``send``, kind)
_UVICORN_PROTOCOLS = (
    ("uvicorn.protocols.websockets.websockets_sansio_impl", "WebSocketsSansIOProtocol",
     "send", LINK_UVICORN),
    ("uvicorn.protocols.websockets.wsproto_impl", "WSProtocol", "send", LINK_UVICORN),
    ("uvicorn.protocols.websockets.websockets_impl", "WebSocketProtocol", "asgi_send",
     LINK_WEBSOCKETS),
)


def _uvicorn_kind(protocol: Any, send: Any) -> int | Unsupported | None:
    """The link kind of a uvicorn websocket protocol object whose ASGI ``send`` the
    application got as ``send`` (not a middleware's), or why uvicorn's versions are
    not known (:class:`~.reasons.Unsupported`), or None."""
    cls = type(protocol)
    for module_name, class_name, send_name, kind in _UVICORN_PROTOCOLS:
        module = sys.modules.get(module_name)
        if module is None or getattr(module, class_name, None) is not cls:
            continue
        if getattr(send, "__func__", None) is not getattr(cls, send_name, None):
            return None
        reason = _version_reason("uvicorn")
        if reason is None and kind == LINK_WEBSOCKETS:
            reason = _version_reason("websockets")
        if reason is not None:
            return Unsupported(reason, True)
        return kind
    return None


def _asgi_link(ws: Any) -> Link | Unsupported | None:
    """(kind, transport, state, flow, open_state) of python-engineio's ASGI websocket,
    when the ASGI server is uvicorn (its ``send`` is the protocol's own method), or
    why uvicorn's versions are not known."""
    eio_asgi = importlib.import_module("engineio.async_drivers.asgi")
    if type(ws) is not eio_asgi.WebSocket:
        return None
    send = ws.asgi_send
    protocol: Any = getattr(send, "__self__", None)  # None: not a bound method
    kind = _uvicorn_kind(protocol, send) if protocol is not None else None
    if kind is None or isinstance(kind, Unsupported):
        return kind
    transport = protocol.transport
    if kind == LINK_UVICORN:
        return kind, transport, protocol, protocol.writable, None
    state_class = importlib.import_module("websockets.protocol").State
    if not isinstance(getattr(protocol, "_paused", None), bool):
        return None
    return kind, transport, protocol, protocol, state_class.OPEN


def _adopting_handler(original: Any) -> Any:
    async def handler(self: Any, ws: Any) -> Any:
        """python-engineio's ``AsyncSocket._websocket_handler``, first offering the
        websocket to the :class:`AsyncDirectFrames` of the socket's server."""
        frames = owner_of(self.server)
        if frames is not None:
            frames.adopt(self, ws)
        try:
            return await original(self, ws)
        finally:
            if frames is not None:
                frames.forget(self.sid)

    return handler


class AsyncDirectFrames:
    """Adopts the websocket clients of one asyncio server into :attr:`links`.

    :meth:`install` hooks python-engineio (once per process; other servers
    are not affected); from then on each websocket client of the server
    whose parts this module knows is registered in :attr:`links`, which the
    fan-out hands to ``deliver``.  A uvicorn connection whose uvicorn (or
    websockets) version is not known is handed to :attr:`on_unknown`.
    """

    def __init__(self) -> None:
        self.links = DirectLinks()
        self._mode = ""
        #: called with why a connection was not adopted, when that deserves a warning
        self.on_unknown: Callable[[Unsupported], None] | None = None

    def install(self, server: Any) -> None:
        """Adopt ``server``'s websocket clients from now on."""
        hook_websocket_handler(async_socket.AsyncSocket, _adopting_handler)
        self._mode = server.eio.async_mode
        set_owner(server.eio, self)

    def uninstall(self, server: Any) -> None:
        """Stop adopting ``server``'s clients and forget those adopted (they get the
        queue from now on)."""
        set_owner(server.eio, None, only_if=self)
        self.links.clear()

    def adopt(self, eio_sock: Any, ws: Any) -> bool:
        """Register ``eio_sock`` (served over ``ws``) when its parts are known."""
        try:
            found = _aiohttp_link(ws) if self._mode == "aiohttp" else _asgi_link(ws)
        except (ImportError, AttributeError):
            found = None
        if isinstance(found, Unsupported):
            if self.on_unknown is not None:
                self.on_unknown(found)
            return False
        if found is None:
            return False
        kind, transport, state, flow, open_state = found
        self.links.add(eio_sock.sid, eio_sock, kind, transport, state, flow, open_state)
        return True

    def forget(self, eio_sid: str) -> None:
        self.links.forget(eio_sid)

    def table_sizes(self) -> dict[str, int]:
        """``direct_clients``: the websocket clients adopted."""
        return {"direct_clients": len(self.links)}

    def stats(self) -> dict[str, int]:
        """``direct_frames`` (broadcasts written straight to a client) and
        ``direct_frames_queued`` (to an adopted client that was busy: queued)."""
        return {"direct_frames": self.links.written,
                "direct_frames_queued": self.links.queued}


__all__ = [
    "KNOWN_PYTHON", "KNOWN_VERSIONS", "AsyncDirectFrames", "known_versions", "unsupported",
    "unsupported_reason",
]
