"""Direct websocket frames for synchronous servers in threading mode.

python-engineio gives each websocket client a writer thread that waits on the
socket's queue; a broadcast to a room of N clients wakes N threads, which then
contend for the GIL: measured, that costs about 100 µs of CPU per delivery at
steady rates, more than everything else a delivery does.  Server-to-client
frames are not masked, so one encoded frame serves every recipient: when a
recipient's queue is empty and its writer has nothing in hand, the listener
writes the frame to the client's socket itself (a non-blocking ``send``) and
no thread wakes.  Otherwise the packets go to the queue as before, so each
client's order is kept:

* the socket's queue counts the packets its writer took and has not sent yet
  (:class:`CountingQueue`, under the queue's own mutex), and a direct write is
  made under that mutex only when the queue is empty and that count is zero;
* a frame the kernel takes only in part has its rest queued (a
  :class:`RawFrame` the writer sends as it is) ahead of anything later.

It relies on python-engineio's synchronous ``Socket`` (``_websocket_handler``,
``poll``, ``queue``) and simple-websocket's ``Server`` (``sock``, ``send``,
``connected``) in the versions listed in :data:`KNOWN_VERSIONS`, on a plain
TCP socket (not TLS), in threading mode, and on ``socket.MSG_DONTWAIT`` (a
non-blocking ``send`` that leaves the socket's own timeout alone: Windows
lacks it); anywhere else the queue is used.
Uncompressed frames are valid on connections that negotiated
permessage-deflate, so the same bytes serve every client.

simple-websocket's reader thread answers a client's websocket PING with a
PONG written on the same socket, unsynchronised with the engine.io writer, as
it always did; a PONG written between the two halves of a frame the kernel
took in part would split it (browsers and Socket.IO clients do not send
websocket PINGs; Engine.IO's own ping is a message).
"""

from __future__ import annotations

import queue
import socket as socket_module
import sys
from types import ModuleType
from typing import Any

from engineio import socket as eio_socket

from .engineio_hook import hook_websocket_handler, owner_of, set_owner
from .reasons import Unsupported, known_text, version_reason

try:  # python-engineio requires it; tolerated missing all the same
    from simple_websocket import Server
except ImportError:  # pragma: no cover
    Server = None

#: the library versions whose internals this module relies on (version prefixes)
KNOWN_VERSIONS = {"python-engineio": ("4.15.",), "simple-websocket": ("1.1.",)}

class RawFrame(bytes):
    """Bytes already framed: sent to the socket as they are."""

    __slots__ = ()


class RawPacket:
    """A queued item whose ``encode()`` is a :class:`RawFrame` (the rest of a frame the
    kernel took in part)."""

    __slots__ = ("frame",)

    def __init__(self, frame: RawFrame) -> None:
        self.frame = frame

    def encode(self, b64: bool = False) -> RawFrame:
        return self.frame


class CountingQueue(queue.Queue):  # type: ignore[type-arg]
    """A socket's queue that counts the packets its websocket writer took and has not
    sent yet (``in_hand``).  Only takes made once the socket is ``upgraded`` count:
    before, a long-polling request takes them (the client pauses polling before it
    sends the upgrade, and python-engineio starts the writer after)."""

    in_hand: int
    owner: Any

    def _get(self) -> Any:  # called with the mutex held
        if self.owner.upgraded:
            self.in_hand += 1
        return super()._get()


def platform_reason(socket_lib: ModuleType | None = None, platform: str | None = None
                    ) -> str | None:
    """Why this platform cannot have direct frames, or None: ``socket_lib`` (the
    ``socket`` module by default) has no ``MSG_DONTWAIT``, as on Windows."""
    if not hasattr(socket_lib or socket_module, "MSG_DONTWAIT"):
        return ("socket.MSG_DONTWAIT is not available on this platform "
                f"({platform or sys.platform})")
    return None


def known_versions() -> str:
    """What direct frames in threading mode know, for the manager's warning."""
    return known_text(KNOWN_VERSIONS)


def unsupported(server: Any, socket_lib: ModuleType | None = None) -> Unsupported | None:
    """Why direct frames cannot serve ``server`` (a ``socketio.Server``), and whether
    the reason deserves a warning (see :mod:`.reasons`), or None."""
    mode = getattr(server.eio, "async_mode", None)
    if mode != "threading":  # gevent, eventlet: by design
        return Unsupported(f"async mode {mode!r} (only 'threading')", False)
    reason = platform_reason(socket_lib)
    if reason is not None:
        return Unsupported(reason, True)
    for distribution, prefixes in KNOWN_VERSIONS.items():
        reason = version_reason(distribution, prefixes)
        if reason is not None:
            return Unsupported(reason, True)
    if not hasattr(eio_socket.Socket, "_websocket_handler"):
        return Unsupported("python-engineio's Socket has no _websocket_handler", True)
    return None


def unsupported_reason(server: Any) -> str | None:
    """Why direct frames cannot serve ``server`` (a ``socketio.Server``), or None."""
    found = unsupported(server)
    return None if found is None else found.reason


def _adopting_handler(original: Any) -> Any:
    def handler(self: Any, ws: Any) -> Any:
        """python-engineio's ``Socket._websocket_handler``, first offering the websocket
        to the :class:`DirectFrames` of the socket's server (if it has one)."""
        frames = owner_of(self.server)
        if frames is not None:
            frames.adopt(self, ws)
        try:
            return original(self, ws)
        finally:
            if frames is not None:
                frames.forget(self.sid)

    return handler


class DirectFrames:
    """Writes broadcast frames straight to idle websocket clients of one server.

    :meth:`install` hooks python-engineio (once per process; other servers are
    not affected); from then on each websocket client of this server is
    adopted as it connects.  :meth:`deliver` sends one broadcast's frames to
    one client, or queues its packets.
    """

    def __init__(self) -> None:
        #: eio sid -> (engine.io socket, simple-websocket's Server, its TCP socket)
        self._clients: dict[str, tuple[Any, Any, socket_module.socket]] = {}
        #: broadcasts written directly, and queued (the queue was busy, or in part)
        self.direct = 0
        self.queued = 0
        self.partial = 0

    def install(self, server: Any) -> None:
        """Adopt ``server``'s websocket clients from now on."""
        hook_websocket_handler(eio_socket.Socket, _adopting_handler)
        set_owner(server.eio, self)

    def uninstall(self, server: Any) -> None:
        """Stop adopting ``server``'s clients (those adopted keep working)."""
        set_owner(server.eio, None, only_if=self)
        self._clients.clear()

    def adopt(self, eio_sock: Any, ws: Any) -> None:
        """Make ``eio_sock`` (served over ``ws``) a client direct frames can reach,
        when its parts are the kinds this module knows."""
        # python-engineio's threading driver hands its SimpleWebSocketWSGI wrapper,
        # whose ``ws`` is simple-websocket's Server on the client's socket
        inner = getattr(ws, "ws", None)
        raw = getattr(inner, "sock", None)
        if (type(ws).__name__ != "SimpleWebSocketWSGI" or type(inner) is not Server
                or type(raw) is not socket_module.socket
                or type(eio_sock.queue) is not queue.Queue):
            return
        socket_queue: Any = eio_sock.queue
        with socket_queue.mutex:
            socket_queue.in_hand = 0
            socket_queue.owner = eio_sock
            socket_queue.__class__ = CountingQueue
        send = ws.send

        def send_counted(data: Any) -> None:
            try:
                if type(data) is RawFrame:
                    raw.sendall(data)
                else:
                    send(data)
            finally:
                with socket_queue.mutex:
                    if socket_queue.in_hand > 0:
                        socket_queue.in_hand -= 1

        ws.send = send_counted
        self._clients[eio_sock.sid] = (eio_sock, inner, raw)

    def forget(self, eio_sid: str) -> None:
        self._clients.pop(eio_sid, None)

    def __len__(self) -> int:
        return len(self._clients)

    def can_reach(self, eio_sid: str) -> bool:
        """Whether ``eio_sid`` is an adopted client on its websocket now."""
        client = self._clients.get(eio_sid)
        if client is None:
            return False
        eio_sock = client[0]
        return bool(eio_sock.upgraded and not eio_sock.upgrading and not eio_sock.closed
                    and client[1].connected)

    def deliver(self, eio_sid: str, frames: bytes, packets: list[Any], volatile: bool
                ) -> bool:
        """Write ``frames`` to the client now if its queue is idle, else queue
        ``packets`` (or, after a partial write, the rest of ``frames``).  With
        ``volatile``, a client with packets waiting is skipped.  Returns whether the
        broadcast was sent or queued (call after :meth:`can_reach`; a client that left
        since is skipped)."""
        client = self._clients.get(eio_sid)
        if client is None:
            return False
        eio_sock, _, raw = client
        socket_queue: Any = eio_sock.queue
        with socket_queue.mutex:
            if not socket_queue.queue and socket_queue.in_hand == 0:
                try:
                    sent = raw.send(frames, socket_module.MSG_DONTWAIT)
                except BlockingIOError:
                    sent = 0
                except OSError:
                    return False  # the connection is gone; its reader ends the socket
                if sent == len(frames):
                    self.direct += 1
                    return True
                if sent:
                    self.partial += 1
                    items: list[Any] = [RawPacket(RawFrame(frames[sent:]))]
                else:
                    items = packets
            elif volatile:
                return False
            else:
                items = packets
            for item in items:  # what Queue.put does, under the mutex held
                socket_queue._put(item)
                socket_queue.unfinished_tasks += 1
            socket_queue.not_empty.notify()
        self.queued += 1
        return True

    def table_sizes(self) -> dict[str, int]:
        """``direct_clients``: the websocket clients adopted."""
        return {"direct_clients": len(self._clients)}

    def stats(self) -> dict[str, int]:
        """``direct_frames``, ``direct_frames_queued`` and ``direct_frames_partial``."""
        return {"direct_frames": self.direct, "direct_frames_queued": self.queued,
                "direct_frames_partial": self.partial}


__all__ = [
    "KNOWN_VERSIONS", "CountingQueue", "DirectFrames", "RawFrame", "RawPacket",
    "known_versions", "platform_reason", "unsupported", "unsupported_reason",
]
