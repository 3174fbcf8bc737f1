"""The limit on the size of an incoming pub/sub message, shared by the subscriber transports.

A subscriber connection reads whatever Redis sends: without a limit, one huge
PUBLISH on an adapter channel makes every server buffer all of it.  With
``max_message_size`` (default :data:`DEFAULT_MAX_MESSAGE_SIZE`) a message
whose pattern, channel and data together declare more bytes is dropped:

* on the raw transports (:class:`~.raw.RawPubSub`, every ``redis://`` and
  ``unix://`` URL, Cluster and Sentinel, and :class:`~.sharded.ShardedPubSub`)
  the fast path's ``PushParser`` skips it as it streams past, reading only
  its RESP header, so it is never held in memory, and the connection goes on
  with the next message;
* on redis-py (:class:`~.redispy.RedisPubSub`: ``rediss://`` or
  ``redis_options``) redis-py has read the whole message before the adapter
  sees it, so the limit is checked afterwards: the message is dropped
  unprocessed, but was held once in memory.

Either way it is counted in the transport's ``oversized`` (the adapter's
``stats["oversized"]``) and logged once, with its channel when known.
"""

from __future__ import annotations

import logging
from typing import Any

from .base import MessageHandler

logger = logging.getLogger("socketio_redis_adapter")

DEFAULT_MAX_MESSAGE_SIZE = 32 * 1024 * 1024
"""32 MiB: Redis' own default ``client-output-buffer-limit pubsub`` hard limit.

With that Redis setting a subscriber owed more than 32 MB is disconnected, so
a larger message never reaches any subscriber unless the operator raised it;
it is 4 times the 8 MB binary broadcasts the tests deliver, and 32 times
Socket.IO's default ``maxHttpBufferSize`` (1 MB), which bounds what a client
may send in one packet.
"""

#: how much of a channel name the warning shows
_CHANNEL_SHOWN = 200


def check_limit(value: int | None) -> int | None:
    """``value`` if it is a valid ``max_message_size`` (None or an int >= 0), else raise."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"max_message_size must be None or an int >= 0, not {value!r}")
    return value


class MessageSizeLimit:
    """The incoming message size limit of a subscriber transport (a mixin, no state of its own
    until a message is dropped)."""

    #: the most bytes a message (pattern, channel and data) may declare; None: no limit
    max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE
    #: messages dropped for being larger than ``max_message_size``
    oversized: int = 0
    #: True where the limit is checked after the client read the message (redis-py)
    checks_after_reading = False

    def _on_oversized(self, channel: bytes | None, declared: int) -> None:
        """Count and log one dropped message (the parser's ``on_oversized``)."""
        self.oversized += 1
        shown = "a channel too long to show" if channel is None else repr(
            channel[:_CHANNEL_SHOWN].decode(errors="replace")
        )
        logger.warning(
            "dropped an incoming pub/sub message on %s: it declares %d bytes or more, over "
            "max_message_size (%s bytes); raise max_message_size to receive such messages",
            shown, declared, self.max_message_size,
        )

    def size_guard(self, handler: MessageHandler) -> MessageHandler:
        """``handler`` behind the size check, for a client that has already read the message."""

        def guarded(pattern: bytes | None, channel: bytes, data: bytes, route: Any) -> None:
            limit = self.max_message_size
            if limit is not None:
                size = len(data) + len(channel) + (len(pattern) if pattern is not None else 0)
                if size > limit:
                    self._on_oversized(channel, size)
                    return
            handler(pattern, channel, data, route)

        return guarded


def apply_limit(transport: Any, max_message_size: int | None, handler: MessageHandler) -> None:
    """Give ``transport`` the limit and ``handler`` as its ``on_message``.

    A transport that checks after reading gets ``handler`` behind its size
    check; one without :class:`MessageSizeLimit` (a custom transport) just
    ``handler``.
    """
    if isinstance(transport, MessageSizeLimit):
        transport.max_message_size = max_message_size
        if transport.checks_after_reading:
            transport.on_message = transport.size_guard(handler)  # type: ignore[attr-defined]
            return
    transport.on_message = handler


__all__ = ["DEFAULT_MAX_MESSAGE_SIZE", "MessageSizeLimit", "apply_limit", "check_limit"]
