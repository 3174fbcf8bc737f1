"""``DirectLinks``, the twin of ``src/fastpath/direct.pxi``: the websocket clients
``deliver`` may write a broadcast's frames to directly."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

LINK_AIOHTTP = 1
LINK_UVICORN = 2
LINK_WEBSOCKETS = 3

# the versions whose asyncio.Queue internals (``_queue``, ``_getters``) were checked
_QUEUE_LAYOUT_KNOWN = (3, 10) <= sys.version_info[:2] <= (3, 13)
_QUEUE_METHODS = ("put_nowait", "full", "_put", "_wakeup_next", "qsize")
_queue_methods = tuple(getattr(asyncio.Queue, name) for name in _QUEUE_METHODS)


def queue_is_pristine() -> bool:
    """True while ``asyncio.Queue`` has the layout and methods direct writes rely on."""
    return _QUEUE_LAYOUT_KNOWN and all(
        getattr(asyncio.Queue, name) is method
        for name, method in zip(_QUEUE_METHODS, _queue_methods, strict=True)
    )


class _Link:
    __slots__ = ("socket", "write", "is_closing", "kind", "state", "flow", "open_state")

    def __init__(self, socket: Any, kind: int, transport: Any, state: Any, flow: Any,
                 open_state: Any) -> None:
        self.socket = socket
        self.write = transport.write
        self.is_closing = transport.is_closing
        self.kind = kind
        self.state = state
        self.flow = flow
        self.open_state = open_state


class DirectLinks:
    """Websocket clients whose broadcast frames ``deliver`` may write to their transport.

    ``add`` registers one client: its Engine.IO ``socket``, the asyncio
    ``transport`` of its connection and the objects that say whether the
    websocket library lets anything be written now, by ``kind``:

    * ``LINK_AIOHTTP``: ``state`` is aiohttp's ``WebSocketResponse`` (not
      ``_closed``, not ``_closing``), ``flow`` the request handler (not
      ``_paused``: its transport is below the high-water mark);
    * ``LINK_UVICORN``: ``state`` is uvicorn's websocket protocol
      (``handshake_complete`` and not ``close_sent``), ``flow`` its
      ``writable`` event (set);
    * ``LINK_WEBSOCKETS``: ``state`` is a ``websockets`` legacy protocol
      (``state`` is ``open_state``), ``flow`` the same protocol (not
      ``_paused``).

    ``deliver`` writes the frames of a broadcast to a client's transport
    when, besides that, its socket is the one registered, upgraded, not
    upgrading or closing, its queue (an ``asyncio.Queue``) is empty and a
    getter waits on it (the websocket writer task, which then has nothing
    in hand) and the transport is not closing; otherwise it queues the
    packets.  ``written`` counts the direct writes, ``queued`` the
    deliveries to registered clients that went to the queue.
    """

    __slots__ = ("_links", "written", "queued")

    def __init__(self) -> None:
        self._links: dict[str, _Link] = {}
        self.written = 0
        self.queued = 0

    def add(self, eio_sid: str, socket: Any, kind: int, transport: Any, state: Any,
            flow: Any, open_state: Any = None) -> None:
        """Register ``socket`` (Engine.IO sid ``eio_sid``) served over ``transport``."""
        if type(eio_sid) is not str:
            raise TypeError(f"eio_sid must be a str, not {type(eio_sid).__name__}")
        if kind not in (LINK_AIOHTTP, LINK_UVICORN, LINK_WEBSOCKETS):
            raise ValueError(f"unknown link kind {kind!r}")
        self._links[eio_sid] = _Link(socket, kind, transport, state, flow, open_state)

    def forget(self, eio_sid: str) -> None:
        """Drop the registration of ``eio_sid``, if there is one."""
        self._links.pop(eio_sid, None)

    def clear(self) -> None:
        """Drop every registration."""
        self._links.clear()

    def __len__(self) -> int:
        return len(self._links)

    def __contains__(self, eio_sid: object) -> bool:
        return eio_sid in self._links

    def _write(self, eio_sid: str, socket: Any, frames: bytes) -> bool:
        """Write ``frames`` to ``eio_sid``'s transport if it is registered and idle;
        return whether it wrote (``deliver`` calls it)."""
        link = self._links.get(eio_sid)
        if link is None or link.socket is not socket:
            return False
        queue = socket.queue
        if (type(queue) is not asyncio.Queue or len(queue._queue)  # type: ignore[attr-defined]
                or not _writer_waits(queue._getters)  # type: ignore[attr-defined]
                or not _link_ready(link, socket)):
            self.queued += 1
            return False
        try:
            link.write(frames)
        except Exception:
            # a transport whose connection is gone (uvloop raises): the queue has it, and
            # the writer ends the socket
            self.queued += 1
            return False
        self.written += 1
        return True


def _writer_waits(getters: Any) -> bool:
    return any(not waiter.done() for waiter in getters)


def _link_ready(link: _Link, socket: Any) -> bool:
    if not socket.upgraded or socket.upgrading or socket.closing:
        return False
    if link.is_closing():
        return False
    state = link.state
    if link.kind == LINK_AIOHTTP:
        return not (state._closed or state._closing or link.flow._paused)
    if link.kind == LINK_UVICORN:
        return bool(state.handshake_complete and not state.close_sent and link.flow.is_set())
    return state.state is link.open_state and not link.flow._paused
