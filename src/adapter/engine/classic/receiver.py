"""The classic protocol's incoming side: what each message from Redis becomes.

Broadcasts (pattern messages) are dropped when they are this server's own
(by a byte prefix) or for a room no local socket is in (by the channel
name), decoded, and delivered through the fan-out; requests and responses go
to the engine.  Nothing here awaits, so it runs inside the transport's
reader; a malformed message is counted, logged and ignored.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ...core.fanout import Fanout
from ...core.log_limit import LogLimiter
from ...core.stats import Counters
from ...fastpath import ChannelRouter, RoomIndex
from ...protocol.classic import ClassicCodec
from ...protocol.errors import MalformedMessage


class ClassicReceiver:
    """Routes the messages of the classic channels (``on_message`` of a transport).

    :param codec: the server's codec.
    :param router: the channel filter the transport shares (drops foreign rooms).
    :param engine: gets requests (``on_request(nsp, request)``) and
                   responses (``on_response(response)``).
    :param fanout: delivers broadcasts to local clients.
    :param counters: counts ``received`` and ``malformed`` messages.
    """

    __slots__ = ("codec", "router", "engine", "fanout", "counters", "_logger", "_by_channel",
                 "_malformed_log")

    def __init__(
        self, codec: ClassicCodec, router: ChannelRouter, engine: Any, fanout: Fanout,
        counters: Counters, logger: Callable[[], logging.Logger],
    ) -> None:
        self.codec = codec
        self.router = router
        self.engine = engine
        self.fanout = fanout
        self.counters = counters
        self._logger = logger
        self._malformed_log = LogLimiter()  # outside input must not flood the log
        #: request/response channel -> (namespace, True for the request channel)
        self._by_channel: dict[bytes, tuple[str, bool]] = {}

    def add_namespace(self, nsp: str, index: RoomIndex) -> None:
        """Receive the broadcasts, requests and responses of ``nsp`` from now on."""
        self.router.add(nsp, index)
        channels = self.codec.channels
        self._by_channel[channels.request(nsp)] = (nsp, True)
        self._by_channel[channels.response(nsp)] = (nsp, False)
        self._by_channel[channels.specific_response(nsp, self.codec.uid)] = (nsp, False)

    @property
    def dropped(self) -> int:
        """Broadcasts for rooms no local socket is in, left unread (by the router)."""
        return int(self.router.dropped)

    def table_sizes(self) -> dict[str, int]:
        """``channel_routes`` (request and response channels) and ``router_namespaces``."""
        return {
            "channel_routes": len(self._by_channel),
            "router_namespaces": len(self.router.namespaces),
        }

    def on_message(
        self, pattern: bytes | None, channel: bytes, data: bytes, route: Any = None
    ) -> None:
        """Handle one message from Redis (called by the transport's reader).

        ``route`` is the router's result for a pattern message when the
        transport already routed its channel (through the channel filter).
        """
        if pattern is not None:
            self.on_broadcast(channel, data, route)
            return
        entry = self._by_channel.get(channel)
        if entry is None:
            return
        nsp, is_request = entry
        self.counters.received += 1
        try:
            message = self.codec.decode_request(data)
            if is_request:
                self.engine.on_request(nsp, message)
            else:
                self.engine.on_response(message)
        except MalformedMessage as exc:
            self._malformed(channel, exc)

    def on_broadcast(self, channel: bytes, data: bytes, route: Any = None) -> None:
        if self.codec.is_own_broadcast(data):
            return  # our own broadcast, recognised without decoding
        entry = route if route is not None else self.router.route(channel)
        if entry is None:
            return
        self.counters.received += 1
        nsp, index = entry
        try:
            message = self.codec.decode_broadcast(data)
        except MalformedMessage as exc:
            self._malformed(channel, exc)
            return
        if message.uid == self.codec.uid or message.nsp != nsp:
            return
        self.fanout.deliver(
            index, nsp, message.data, message.rooms, message.except_rooms,
            bool(message.flags.get("volatile")),
        )

    def _malformed(self, channel: bytes, exc: Exception) -> None:
        self.counters.malformed += 1
        skipped = self._malformed_log.allow()
        if skipped is not None:
            self._logger().warning(
                "ignoring malformed message on %s: %s%s", channel.decode(errors="replace"),
                exc, self._malformed_log.note(skipped),
            )


__all__ = ["ClassicReceiver"]
