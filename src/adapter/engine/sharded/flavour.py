"""The sharded flavour, built: Node's ``ShardedRedisAdapter`` protocol on sharded pub/sub."""

from __future__ import annotations

from ...protocol.sharded import check_mode
from ...protocol.sharded_codec import ShardedCodec
from ...transport.base import ShardedTransport
from ..flavour import Flavour, FlavourHost
from .engine import ShardedEngine
from .receiver import ShardedReceiver
from .subscriptions import ShardedSubscriptions


def sharded_flavour(
    host: FlavourHost, transport: ShardedTransport, *, channel_prefix: str,
    subscription_mode: str,
) -> Flavour[ShardedSubscriptions, ShardedTransport]:
    """The sharded flavour of an asyncio manager on ``transport``.

    :param channel_prefix: the channel prefix (Node's ``channelPrefix``).
    :param subscription_mode: ``"static"``, ``"dynamic"`` or ``"dynamic-private"``
                              (``ValueError`` for another).
    """
    codec = ShardedCodec(channel_prefix, check_mode(subscription_mode))
    engine = ShardedEngine(
        codec, transport, host.side, host.server_ops, host.tasks, host.disconnect,
        requests_timeout=float(host.requests_timeout),
        callback_timeout=float(host.callback_timeout), logger=host.logger,
    )
    engine.remote_socket = host.remote_socket
    receiver = ShardedReceiver(codec, engine, host.fanout, host.counters, host.logger)
    subscriptions = ShardedSubscriptions(
        transport, codec.channels, codec.uid, receiver, host.tasks, host.logger,
    )
    return Flavour(codec, engine, receiver, subscriptions, transport, transport.spost,
                   watches_rooms=True)


__all__ = ["sharded_flavour"]
