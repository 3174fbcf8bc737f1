"""The sharded protocol's incoming side: what each message from Redis becomes.

A message arrives on a channel this server subscribed: a namespace's main
channel, its response channel, or (dynamic modes) one of its rooms'
channels.  The server's own messages are dropped by their last bytes, before
decoding.  A plain broadcast in JSON (the usual message) goes to the
fan-out with its event still as the sender's JSON text, which becomes the
clients' packet as it is (:func:`read_plain_broadcast`); the rest are
decoded (JSON or MessagePack, as Node tells them apart), other broadcasts
go to the fan-out, and everything else to the engine.  Nothing here
awaits, so it runs inside the transport's reader; a malformed message is
counted, logged and ignored.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ...core.fanout import Fanout
from ...core.log_limit import LogLimiter
from ...core.stats import Counters
from ...fastpath import RoomIndex
from ...protocol.errors import MalformedMessage
from ...protocol.sharded import MessageType, decode
from ...protocol.sharded_codec import ShardedCodec, read_broadcast, read_plain_broadcast


class ShardedReceiver:
    """Routes the messages of the sharded channels (``on_message`` of a transport).

    :param codec: the server's sharded codec.
    :param engine: gets requests (``on_message(nsp, message)``) and responses
                   (``on_response(message)``).
    :param fanout: delivers broadcasts to local clients.
    :param counters: counts ``received`` and ``malformed`` messages.
    """

    #: rooms without a local socket are never subscribed (dynamic modes): nothing to drop
    dropped = 0

    __slots__ = ("codec", "engine", "fanout", "counters", "_logger", "_by_channel",
                 "_malformed_log")

    def __init__(
        self, codec: ShardedCodec, engine: Any, fanout: Fanout, counters: Counters,
        logger: Callable[[], logging.Logger],
    ) -> None:
        self.codec = codec
        self.engine = engine
        self.fanout = fanout
        self.counters = counters
        self._logger = logger
        self._malformed_log = LogLimiter()  # outside input must not flood the log
        #: channel -> (namespace, its room index, True for the response channel)
        self._by_channel: dict[bytes, tuple[str, RoomIndex, bool]] = {}

    def add_namespace(self, nsp: str, index: RoomIndex) -> None:
        """Receive the main and response channels of ``nsp`` from now on."""
        channels = self.codec.channels
        self._by_channel[channels.main(nsp)] = (nsp, index, False)
        self._by_channel[channels.response(nsp, self.codec.uid)] = (nsp, index, True)

    def add_channel(self, channel: bytes, nsp: str, index: RoomIndex) -> None:
        """Receive a room's channel (dynamic modes)."""
        self._by_channel[channel] = (nsp, index, False)

    def remove_channel(self, channel: bytes) -> None:
        self._by_channel.pop(channel, None)

    def table_sizes(self) -> dict[str, int]:
        """``channel_routes``: the channels routed (namespaces' and rooms')."""
        return {"channel_routes": len(self._by_channel)}

    def on_message(
        self, pattern: bytes | None, channel: bytes, data: bytes, route: Any = None
    ) -> None:
        """Handle one message from Redis (called by the transport's reader)."""
        entry = self._by_channel.get(channel)
        if entry is None:
            return
        nsp, index, is_response = entry
        if self.codec.is_own(data, nsp):
            return  # our own message, recognised without decoding
        self.counters.received += 1
        try:
            if not is_response:
                plain = read_plain_broadcast(data)  # the usual broadcast: event not decoded
                if plain is not None:
                    if plain.uid != self.codec.uid and (plain.nsp is None or plain.nsp == nsp):
                        self.fanout.deliver_text(
                            index, nsp, plain.event_text, plain.rooms, plain.except_rooms,
                            bool(plain.flags.get("volatile")),
                        )
                    return
            message = decode(data)
            if is_response:
                self.engine.on_response(message)
                return
            if message.uid == self.codec.uid or (message.nsp is not None and message.nsp != nsp):
                return
            if message.type == MessageType.BROADCAST and "requestId" not in message.data:
                event = read_broadcast(message, nsp).message
                self.fanout.deliver(
                    index, nsp, event.data, event.rooms, event.except_rooms,
                    bool(event.flags.get("volatile")),
                )
            else:
                self.engine.on_message(nsp, message)
        except MalformedMessage as exc:
            self.counters.malformed += 1
            skipped = self._malformed_log.allow()
            if skipped is not None:
                self._logger().warning(
                    "ignoring malformed message on %s: %s%s", channel.decode(errors="replace"),
                    exc, self._malformed_log.note(skipped),
                )


__all__ = ["ShardedReceiver"]
