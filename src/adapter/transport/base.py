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
    transport may drop them before they become objects).

    What a transport may do beyond this (``resubscribing``,
    ``on_lost_posts``, ``count_and_publish``, ``pause_reading()`` and
    ``resume_reading()``, ``oversized``, ``table_sizes()``) is declared,
    with its default, by :class:`TransportAbilities`.
    """

    on_message: MessageHandler
    channel_filter: ChannelFilter | None

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
    node.  Its further abilities are those of :class:`TransportAbilities`,
    as for :class:`PubSubTransport`.
    """

    on_message: MessageHandler

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


class TransportAbilities:
    """Every ability a transport may have beyond its interface, with the default of one
    that lacks it.

    The package's transports inherit these defaults and override what they
    can do; the manager and its parts read and call them without asking
    whether they exist.  A transport given as ``connection`` that does not
    inherit this class is seen through :func:`abilities`, which gives it the
    same defaults for whatever it lacks.
    """

    #: True when :meth:`count_and_publish` works (the classic flavour's requests
    #: then count the servers and go out in one round trip)
    counts_and_publishes: bool = False
    #: the :data:`LostPostsHandler` the manager sets; a transport whose ``post``
    #: (``spost``) can leave publishes unconfirmed when a connection drops hands
    #: them to it to be sent again; the others never call it
    on_lost_posts: LostPostsHandler | None = None
    #: incoming messages dropped for being over ``max_message_size``
    oversized: int = 0

    @property
    def resubscribing(self) -> bool:
        """True while a subscriber connection that was up is being made again (until
        every subscription is back); always False by default."""
        return False

    async def count_and_publish(self, channel: bytes, data: bytes) -> int:
        """``PUBSUB NUMSUB channel`` and ``PUBLISH channel data`` in one round trip;
        return the count (only where :attr:`counts_and_publishes`)."""
        raise NotImplementedError("this transport cannot count and publish at once")

    def pause_reading(self) -> None:
        """Stop reading messages (the receiver is behind) until :meth:`resume_reading`;
        by default reading goes on."""

    def resume_reading(self) -> None:
        """Read messages again after :meth:`pause_reading`."""

    def table_sizes(self) -> dict[str, int]:
        """The transport's own table sizes (none by default)."""
        return {}


class _ProbedAbilities(TransportAbilities):
    """A transport that does not inherit :class:`TransportAbilities` (a user's), with
    the defaults for whatever it lacks: the one place where abilities are probed."""

    def __init__(self, transport: Any) -> None:
        self.transport = transport
        self.counts_and_publishes = callable(getattr(transport, "count_and_publish", None))

    @property  # type: ignore[override]
    def on_lost_posts(self) -> LostPostsHandler | None:
        handler: LostPostsHandler | None = getattr(self.transport, "on_lost_posts", None)
        return handler

    @on_lost_posts.setter
    def on_lost_posts(self, handler: LostPostsHandler | None) -> None:
        if hasattr(self.transport, "on_lost_posts"):
            self.transport.on_lost_posts = handler

    @property  # type: ignore[override]
    def oversized(self) -> int:
        return int(getattr(self.transport, "oversized", 0))

    @oversized.setter
    def oversized(self, value: int) -> None:
        self.transport.oversized = value

    @property
    def resubscribing(self) -> bool:
        return bool(getattr(self.transport, "resubscribing", False))

    async def count_and_publish(self, channel: bytes, data: bytes) -> int:
        return int(await self.transport.count_and_publish(channel, data))

    def pause_reading(self) -> None:
        switch = getattr(self.transport, "pause_reading", None)
        if switch is not None:
            switch()

    def resume_reading(self) -> None:
        switch = getattr(self.transport, "resume_reading", None)
        if switch is not None:
            switch()

    def table_sizes(self) -> dict[str, int]:
        report = getattr(self.transport, "table_sizes", None)
        return dict(report()) if report is not None else {}


def abilities(transport: Any) -> TransportAbilities:
    """``transport`` itself when it inherits :class:`TransportAbilities` (every transport
    of the package does), else a view of it that has the defaults for what it lacks."""
    if isinstance(transport, TransportAbilities):
        return transport
    return _ProbedAbilities(transport)


__all__ = [
    "ChannelFilter", "LostPostsHandler", "MessageHandler", "PubSubConnection", "PubSubTransport",
    "ShardedTransport", "TransportAbilities", "abilities",
]
