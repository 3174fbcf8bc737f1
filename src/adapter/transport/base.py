"""What a manager needs from Redis, whatever carries it: the transport interfaces.

Classic pub/sub (:class:`PubSubTransport`) and sharded pub/sub
(:class:`ShardedTransport`, SSUBSCRIBE/SPUBLISH per slot); the streams
flavour (XADD/XREAD) will add its own interface here.
:mod:`socketio_redis_adapter.transport.factory` picks an implementation for a URL.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

MessageHandler = Callable[[bytes | None, bytes, bytes, Any], None]
"""``on_message(pattern, channel, data, route)``.

``pattern`` is None for a message of a SUBSCRIBE; ``route`` is what the
channel filter returned for a pattern message (so the handler need not route
the channel again), None without a filter or for a SUBSCRIBE message.
"""


LostPostsHandler = Callable[[list[tuple[bytes, bytes]]], None]
"""``on_lost_posts([(channel, data), ...])``: publishes sent with ``post``
that a lost connection left unconfirmed, in order (to send them again)."""


class ChannelFilter(Protocol):
    """Decides, from the channel name alone, whether a pattern message is wanted.

    ``route(channel)`` returns None for a message to drop unread (the
    fast path's ``ChannelRouter`` is one).
    """

    def route(self, channel: bytes) -> Any: ...


class PubSubTransport(Protocol):
    """Classic Redis pub/sub, as the classic flavour uses it.

    ``publish`` waits for Redis' reply and returns the number of receivers;
    ``post`` (used for broadcasts) may return as soon as the PUBLISH is
    queued, reporting a later failure by logging and counting it.  Both
    raise when Redis cannot be reached.  Pattern messages whose channel
    ``channel_filter`` rejects are never handed to ``on_message`` (a
    transport may drop them before they become objects).  A transport whose
    ``post`` can leave publishes unconfirmed when a connection drops has an
    ``on_lost_posts`` attribute (a :data:`LostPostsHandler`) that the
    manager sets, as the sharded transport has for ``spost``.  A transport
    with ``pause_reading()`` and ``resume_reading()`` lets the manager stop
    its reading while deliveries are behind (see
    :class:`~socketio_redis_adapter.core.pacing.FanoutPacer`).
    """

    on_message: MessageHandler
    channel_filter: ChannelFilter | None
    @property
    def resubscribing(self) -> bool:
        """Optional: True while a subscriber connection that was up is being made again."""
        ...

    async def subscribe(self, *channels: bytes) -> None: ...

    async def unsubscribe(self, *channels: bytes) -> None: ...

    async def psubscribe(self, *patterns: bytes) -> None: ...

    async def punsubscribe(self, *patterns: bytes) -> None: ...

    async def publish(self, channel: bytes, data: bytes) -> int: ...

    async def post(self, channel: bytes, data: bytes) -> None: ...

    async def numsub(self, channel: bytes) -> int: ...

    def stats(self) -> dict[str, int]:
        """The transport's counters: ``reconnects``, ``resubscribed``, ``handler_errors``,
        ``publish_failures``."""
        ...

    async def close(self) -> None: ...


class ShardedTransport(Protocol):
    """Sharded pub/sub (SPUBLISH/SSUBSCRIBE), as the sharded flavour uses it.

    Each channel is subscribed on the node that serves its hash slot, and
    stays subscribed across reconnects, failovers and slot moves.
    ``spublish`` waits for Redis' reply; ``spost`` (broadcasts) may return
    once the SPUBLISH is queued.  Messages reach ``on_message(None, channel,
    data, None)``.  ``shardnumsub`` counts a channel's subscribers over every
    node.  ``pause_reading()`` and ``resume_reading()``, when a transport
    has them, work as for :class:`PubSubTransport`.
    """

    on_message: MessageHandler
    @property
    def resubscribing(self) -> bool:
        """Optional: True from a lost subscriber connection until every channel is back."""
        ...

    async def ssubscribe(self, *channels: bytes) -> None: ...

    async def sunsubscribe(self, *channels: bytes) -> None: ...

    async def spublish(self, channel: bytes, data: bytes) -> int: ...

    async def spost(self, channel: bytes, data: bytes) -> None: ...

    async def shardnumsub(self, channel: bytes) -> int: ...

    def stats(self) -> dict[str, int]:
        """The transport's counters: ``reconnects``, ``resubscribed``, ``handler_errors``,
        ``publish_failures``."""
        ...

    async def close(self) -> None: ...


#: the name this interface had before the transport layer (kept for users' code)
PubSubConnection = PubSubTransport

__all__ = [
    "ChannelFilter", "LostPostsHandler", "MessageHandler", "PubSubConnection", "PubSubTransport",
    "ShardedTransport",
]
