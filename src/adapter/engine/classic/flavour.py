"""The classic flavour, built: Node's ``RedisAdapter`` protocol on a pub/sub transport.

:func:`classic_flavour` for an asyncio manager, :func:`blocking_classic_flavour`
for a synchronous one; the two differ only in their transport and
subscriptions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...fastpath import ChannelRouter
from ...protocol.classic import ClassicCodec
from ...protocol.parsers import Parser
from ...transport.base import PubSubTransport
from ...uid import new_uid
from ..flavour import Flavour, FlavourHost
from .blocking_subscriptions import BlockingClassicSubscriptions
from .engine import ClassicEngine
from .receiver import ClassicReceiver
from .subscriptions import ClassicSubscriptions


def _classic_parts(
    host: FlavourHost, transport: Any, *, key: str, parser: str | Parser,
    specific_response_channel: bool,
) -> tuple[ClassicCodec, ClassicEngine, ClassicReceiver]:
    """The codec, engine and receiver, around ``transport`` (its channel filter set)."""
    codec = ClassicCodec(key, parser, new_uid())
    router = ChannelRouter(key)
    transport.channel_filter = router  # drops foreign rooms' broadcasts unread
    engine = ClassicEngine(
        codec, transport, host.side, host.server_ops, host.tasks, host.disconnect,
        requests_timeout=float(host.requests_timeout),
        callback_timeout=float(host.callback_timeout),
        specific_response_channel=specific_response_channel,
        logger=host.logger, clock=host.clock,
    )
    engine.remote_socket = host.remote_socket
    receiver = ClassicReceiver(codec, router, engine, host.fanout, host.counters, host.logger)
    return codec, engine, receiver


def classic_flavour(
    host: FlavourHost, transport: PubSubTransport, *, key: str, parser: str | Parser,
    specific_response_channel: bool,
) -> Flavour[Any, PubSubTransport]:
    """The classic flavour of an asyncio manager on ``transport``.

    :param key: the channel prefix (Node's ``key``).
    :param parser: ``"msgpack"``, ``"json"`` or a parser object.
    :param specific_response_channel: answer on the requester's own channel.
    """
    codec, engine, receiver = _classic_parts(
        host, transport, key=key, parser=parser,
        specific_response_channel=specific_response_channel,
    )
    subscriptions = ClassicSubscriptions(transport, codec.channels, codec.uid, host.logger)
    return Flavour(codec, engine, receiver, subscriptions, transport, transport.post)


def blocking_classic_flavour(
    host: FlavourHost, transport: Any, *, key: str, parser: str | Parser,
    specific_response_channel: bool,
) -> Flavour[Any, Any]:
    """The classic flavour of a synchronous manager on a blocking transport
    (:class:`~...transport.blocking_pubsub.BlockingPubSub`: ``post_now``,
    ``subscribe(..., wait=)``); its engine's coroutines never suspend."""
    codec, engine, receiver = _classic_parts(
        host, transport, key=key, parser=parser,
        specific_response_channel=specific_response_channel,
    )
    subscriptions = BlockingClassicSubscriptions(transport, codec.channels, codec.uid)
    post_now: Callable[[bytes, bytes], Any] = transport.post_now

    async def post(channel: bytes, data: bytes) -> None:
        post_now(channel, data)

    return Flavour(codec, engine, receiver, subscriptions, transport, post)


__all__ = ["blocking_classic_flavour", "classic_flavour"]
