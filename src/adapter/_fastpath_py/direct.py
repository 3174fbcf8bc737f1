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


def _queue_is_pristine() -> bool:
    """True while ``asyncio.Queue`` has the layout and methods direct writes rely on."""
    return _QUEUE_LAYOUT_KNOWN and all(
        getattr(asyncio.Queue, name) is method
        for name, method in zip(_QUEUE_METHODS, _queue_methods, strict=True)
    )


class _Link:
    __slots__ = ("socket", "write", "is_closing", "kind", "state", "flow", "open_state",
                 "pending")

    def __init__(self, socket: Any, kind: int, transport: Any, state: Any, flow: Any,
                 open_state: Any) -> None:
        self.socket = socket
        self.write = transport.write
        self.is_closing = transport.is_closing
        self.kind = kind
        self.state = state
        self.flow = flow
        self.open_state = open_state
        #: frames deferred to the end of this loop iteration, or None
        self.pending: list[bytes] | None = None


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

    Inside a running event loop the writes are deferred to one callback
    (``loop.call_soon``, scheduled by the first one): every broadcast
    delivered to a client in one loop iteration reaches its transport in
    one write, in order (a burst read from Redis at once costs one write
    per client, not one per broadcast).  The callback runs before any task
    woken later in the iteration, so before the client's writer could send
    a packet queued after them.  At that point a client whose transport or
    websocket is closing gets nothing.  :meth:`flush` writes them now.
    """

    __slots__ = ("_links", "written", "queued", "_due", "_scheduled")

    def __init__(self) -> None:
        self._links: dict[str, _Link] = {}
        self.written = 0
        self.queued = 0
        #: links with deferred frames, and whether the flush is scheduled
        self._due: list[_Link] = []
        self._scheduled = False

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
        """Drop every registration (frames deferred are written first)."""
        self.flush()
        self._links.clear()

    def flush(self) -> None:
        """Write the frames deferred in this loop iteration, each client's in one write."""
        self._scheduled = False
        due, self._due = self._due, []
        for link in due:
            pending, link.pending = link.pending, None
            if pending is None or link.is_closing() or not _link_open(link):
                continue  # the connection is ending: what was not written is lost with it
            try:
                link.write(pending[0] if len(pending) == 1 else b"".join(pending))
            except Exception:
                pass  # a transport whose connection is gone (uvloop raises)

    def _defer(self, link: _Link, frames: bytes) -> bool:
        """Keep ``frames`` for the flush at the end of this loop iteration; False when no
        loop is running here (the caller writes them now)."""
        if not self._scheduled:
            loop = asyncio._get_running_loop()
            if loop is None:
                return False
            loop.call_soon(self.flush)
            self._scheduled = True
        link.pending = [frames]
        self._due.append(link)
        return True

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
        if link.pending is not None:
            link.pending.append(frames)
        elif not self._defer(link, frames):
            try:
                link.write(frames)
            except Exception:
                # a transport whose connection is gone (uvloop raises): the queue has it,
                # and the writer ends the socket
                self.queued += 1
                return False
        self.written += 1
        return True


def _writer_waits(getters: Any) -> bool:
    return any(not waiter.done() for waiter in getters)


def _link_open(link: _Link) -> bool:
    """The websocket library has not closed (or begun closing) the connection."""
    state = link.state
    if link.kind == LINK_AIOHTTP:
        return not (state._closed or state._closing)
    if link.kind == LINK_UVICORN:
        return bool(state.handshake_complete and not state.close_sent)
    return state.state is link.open_state


def _link_ready(link: _Link, socket: Any) -> bool:
    if not socket.upgraded or socket.upgrading or socket.closing:
        return False
    if link.is_closing() or not _link_open(link):
        return False
    if link.kind == LINK_UVICORN:
        return bool(link.flow.is_set())
    return not link.flow._paused
