"""Local fan-out: encode an event once, pick its recipients, queue it on their sockets."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable
from typing import Any

from socketio import packet as sio_packet

from ..fastpath import DeliveryCache, DirectLinks, RoomIndex, deliver, encode_event
from ..protocol.parsers import json_default
from .direct.frames import message_frames, message_packets
from .direct.thread_writer import DirectFrames
from .stats import Counters

AckIdFactory = Callable[[str], int]
"""Registers the acknowledgement callback of one recipient sid; returns its packet id."""


class Fanout:
    """Deliver events to this server's clients, with no task per recipient.

    The Socket.IO packet is encoded once (``encode_event`` for the default
    packet class, the server's packet class otherwise), wrapped in Engine.IO
    packets, and ``deliver`` queues them on each recipient's Engine.IO socket,
    whose writer task sends them.  :meth:`bind` must be called with the
    server before anything is delivered.

    :param counters: where deliveries are counted.
    """

    __slots__ = ("counters", "cache", "direct", "links", "_server", "_text_packets", "_dumps",
                 "_splice")

    def __init__(self, counters: Counters) -> None:
        self.counters = counters
        #: ``deliver``'s per-socket records; :meth:`forget` a socket that leaves
        self.cache = DeliveryCache()
        #: writes frames straight to idle websocket clients (synchronous servers in
        #: threading mode; see :mod:`.direct.thread_writer`), or None
        self.direct: DirectFrames | None = None
        #: asyncio websocket clients ``deliver`` may write frames to (aiohttp, uvicorn;
        #: see :mod:`.direct.async_writer`), or None
        self.links: DirectLinks | None = None
        self._server: Any = None
        self._text_packets = True
        self._dumps: Callable[..., str] = functools.partial(json.dumps, default=json_default)
        #: JSON text from the wire goes into packets as it is (default packets and JSON)
        self._splice = True

    def bind(self, server: Any) -> None:
        """Deliver through ``server`` (its Engine.IO sockets, packet class and JSON)."""
        self._server = server
        self._text_packets = server.packet_class is sio_packet.Packet
        json_module = server.packet_class.json
        # python-socketio's default is engineio.json, which re-exports json.dumps: Dates
        # (from Node's MessagePack timestamps) must become its ISO strings there too
        standard_json = json_module is json or getattr(json_module, "dumps", None) is json.dumps
        if standard_json:
            self._dumps = functools.partial(json.dumps, default=json_default)
        else:
            self._dumps = json_module.dumps
        self._splice = self._text_packets and standard_json

    @property
    def text_packets(self) -> bool:
        """True when packets are encoded here (python-socketio's default packet class)."""
        return self._text_packets

    def forget(self, eio_sid: str) -> None:
        """Drop the delivery record of a socket that left."""
        self.cache.forget(eio_sid)

    def close(self) -> None:
        self.cache.clear()

    def table_sizes(self) -> dict[str, int]:
        """``delivery_records``: the per-socket records of :attr:`cache`."""
        return {"delivery_records": len(self.cache)}

    # -- encoding -----------------------------------------------------------

    def encode(self, namespace: str, payload: list[Any], ack_id: int | None = None
               ) -> list[Any]:
        """The parts of one EVENT packet: its text, then its binary attachments."""
        if self._text_packets:
            return encode_event(namespace, payload, self._dumps, ack_id)
        encoded = self._server.packet_class(
            sio_packet.EVENT, namespace=namespace, data=payload, id=ack_id
        ).encode()
        return encoded if isinstance(encoded, list) else [encoded]

    def ack_encoder(
        self, namespace: str, payload: list[Any]
    ) -> Callable[[int], list[Any]] | None:
        """Encode ``payload`` once; return a function that adds an ack id.

        Only the ack id differs between the packets of a broadcast with
        acknowledgements, and in the text format it sits right after the
        header (``2/nsp,<id>[...]``), so it is spliced into the one encoding.
        Returns None when packets are not encoded by this adapter.
        """
        if not self._text_packets:
            return None
        parts = encode_event(namespace, payload, self._dumps, None)
        text = parts[0]
        attachments = parts[1:]
        if not isinstance(text, str):
            return None
        header = f"5{len(attachments)}-" if attachments else "2"
        if namespace and namespace != "/":
            header += namespace + ","
        if not text.startswith(header):
            return None
        head, body = text[: len(header)], text[len(header) :]

        def with_id(ack_id: int) -> list[Any]:
            return [f"{head}{ack_id}{body}", *attachments]

        return with_id

    # -- delivering ---------------------------------------------------------

    def send(self, eio_sids: Iterable[str], parts: list[Any], volatile: bool) -> int:
        """Queue the packet ``parts`` on each socket (or write their frames to the idle
        ones, with :attr:`direct` or :attr:`links`); return how many got them."""
        packets = message_packets(parts)
        direct = self.direct
        if direct is not None and len(direct):
            return self._send_direct(direct, eio_sids, parts, packets, volatile)
        return self._queue(eio_sids, parts, packets, volatile)

    def _send_direct(self, direct: DirectFrames, eio_sids: Iterable[str], parts: list[Any],
                     packets: list[Any], volatile: bool) -> int:
        frames = message_frames(parts)
        delivered = 0
        others = []
        for eio_sid in eio_sids:
            if direct.can_reach(eio_sid):
                delivered += direct.deliver(eio_sid, frames, packets, volatile)
            else:
                others.append(eio_sid)
        if others:
            delivered += self._queue(others, parts, packets, volatile)
        return delivered

    def _queue(self, eio_sids: Iterable[str], parts: list[Any], packets: list[Any],
               volatile: bool) -> int:
        binary = len(parts) > 1 or isinstance(parts[0], bytes)
        polling = (lambda: message_packets(parts)) if binary else None
        links = self.links
        frames = message_frames(parts) if links is not None and len(links) else None
        return int(deliver(self._server.eio.sockets, eio_sids, packets, polling, volatile,
                           self.cache, links, frames))

    def deliver(
        self,
        index: RoomIndex,
        namespace: str,
        payload: list[Any],
        rooms: list[Any],
        except_rooms: list[Any],
        volatile: bool,
    ) -> int:
        """Send an event to the local sockets in ``rooms`` and not in ``except_rooms``."""
        recipients = index.select_eio(rooms, except_rooms)
        if not recipients:
            return 0
        delivered = self.send(recipients, self.encode(namespace, payload), volatile)
        self.counters.delivered += delivered
        return delivered

    def deliver_text(
        self,
        index: RoomIndex,
        namespace: str,
        event_text: str,
        rooms: list[Any],
        except_rooms: list[Any],
        volatile: bool,
    ) -> int:
        """:meth:`deliver` for an event given as checked JSON text of ``[event, ...args]``.

        With python-socketio's default packets and JSON the text goes into
        the packet as it is, after the header: nothing is decoded or encoded.
        Otherwise it is decoded and delivered as :meth:`deliver` does.
        """
        recipients = index.select_eio(rooms, except_rooms)
        if not recipients:
            return 0
        delivered = self.send(recipients, self.text_parts(namespace, event_text), volatile)
        self.counters.delivered += delivered
        return delivered

    def text_parts(self, namespace: str, event_text: str) -> list[Any]:
        """The parts of the EVENT packet whose data is the JSON text ``event_text``."""
        if self._splice:
            header = "2" if namespace == "/" or not namespace else f"2{namespace},"
            return [header + event_text]
        return self.encode(namespace, json.loads(event_text))

    def deliver_with_acks(
        self,
        index: RoomIndex,
        namespace: str,
        payload: list[Any],
        rooms: list[Any],
        except_rooms: list[Any],
        new_ack_id: AckIdFactory,
    ) -> tuple[int, list[tuple[str, int]]]:
        """Send each recipient the event with its own packet id.

        Returns the client count and the ``(sid, ack_id)`` pairs registered.
        """
        count = 0
        registered = []
        recipients = index.select(rooms, except_rooms)
        with_id = self.ack_encoder(namespace, payload) if recipients else None
        for sid, eio_sid in recipients.items():
            ack_id = new_ack_id(sid)
            registered.append((sid, ack_id))
            parts = with_id(ack_id) if with_id is not None else self.encode(
                namespace, payload, ack_id
            )
            count += self.send((eio_sid,), parts, False)
        return count, registered


__all__ = ["AckIdFactory", "Fanout"]
