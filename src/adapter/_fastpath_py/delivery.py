"""``deliver`` and ``DeliveryCache``, the twins of ``src/fastpath/delivery.pxi``."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from .direct import DirectLinks, _queue_is_pristine


class DeliveryCache:
    """Per-socket records that let the compiled ``deliver`` skip reads that never change.

    Pass the same cache to every ``deliver`` call on one Engine.IO server's
    ``sockets``; ``forget(eio_sid)`` drops a socket's record (the adapter
    calls it when a socket disconnects) and ``clear()`` drops them all.  The
    compiled twin keeps a record for each socket with an exact ``str``
    ``eio_sid`` whose queue is an exact, unbounded ``asyncio.Queue``, used
    only while ``sockets[eio_sid]`` is the very socket object it was made
    for, so a new or replaced socket never gets a stale record; a socket's
    queue is taken to be the one it had when its record was made
    (python-engineio never replaces it; ``forget`` the socket if you do).
    Records that ``forget`` misses are pruned: when the cache holds 1024
    records or more, those whose socket is gone, replaced or closed are
    dropped before a new one is added, and then not again before the cache
    has doubled.  The pure-Python twin keeps no records.  A cache never
    changes what ``deliver`` does, only how fast.
    """

    __slots__ = ()

    def forget(self, eio_sid: str) -> None:
        """Drop the record of ``eio_sid``, if there is one."""

    def clear(self) -> None:
        """Drop every record."""

    def __len__(self) -> int:
        return 0

    def __contains__(self, eio_sid: object) -> bool:
        return False


def deliver(
    sockets: dict[str, Any],
    eio_sids: Iterable[str],
    packets: Iterable[Any],
    polling_packets: Callable[[], list[Any]] | None,
    volatile: bool,
    cache: DeliveryCache | None = None,
    links: DirectLinks | None = None,
    frames: bytes | None = None,
) -> int:
    """Queue ``packets`` on each recipient's Engine.IO socket, without tasks.

    ``sockets`` is the Engine.IO server's ``sockets`` dict.  Sockets that are
    unknown or closed are skipped.  Websocket sockets share ``packets``; when
    ``polling_packets`` is given (binary messages), sockets still on
    long-polling get fresh packets from it, because Engine.IO caches a
    packet's first encoding and polling needs base64.  With ``volatile``,
    sockets that still have packets waiting are skipped.  ``cache`` (a
    ``DeliveryCache``, the same one for every call on ``sockets``) only makes
    it faster.  With ``links`` (a ``DirectLinks``) and ``frames`` (the
    websocket frames of ``packets``, as bytes), a registered client whose
    queue and writer are idle gets ``frames`` written to its transport
    instead (see ``DirectLinks``).  Returns the number of sockets the packets
    were queued on or the frames written to.
    """
    delivered = 0
    if not isinstance(packets, (list, tuple)):
        packets = list(packets)  # read once, for every socket
    # direct writes read asyncio.Queue's internals: only where its layout is known
    direct = links is not None and frames is not None and len(links) > 0 and _queue_is_pristine()
    for eio_sid in eio_sids:
        socket = sockets.get(eio_sid)
        if socket is None or socket.closed:
            continue
        if direct and type(eio_sid) is str:
            assert links is not None and frames is not None
            if links._write(eio_sid, socket, frames):
                delivered += 1
                continue
        queue = socket.queue
        if volatile and queue.qsize():
            continue
        if polling_packets is not None and not socket.upgraded:
            for pkt in polling_packets():
                queue.put_nowait(pkt)
        else:
            for pkt in packets:
                queue.put_nowait(pkt)
        delivered += 1
    return delivered
