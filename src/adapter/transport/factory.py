"""One place that maps what a user passes as ``url`` to a transport.

``redis://`` and ``unix://`` URLs without options get the lean
:class:`~.raw.RawPubSub`; other URLs (``rediss://``...), any
``redis_options``, or a ready ``redis.asyncio.Redis`` client get
:class:`~.redispy.RedisPubSub`.  Redis Cluster (``redis+cluster://``) and
Sentinel (``redis+sentinel://``) will be chosen here too.
"""

from __future__ import annotations

from typing import Any

from .base import PubSubTransport
from .raw import RawPubSub
from .redispy import RedisPubSub


def connect(url: Any, **redis_options: Any) -> PubSubTransport:
    """Return a classic pub/sub transport for ``url`` (not connected yet).

    :param url: a Redis URL, or a ``redis.asyncio.Redis`` client.
    :param redis_options: keyword arguments for redis-py clients made from
                          ``url`` (they select redis-py).

    Raises ``TypeError`` for anything else.
    """
    if isinstance(url, str):
        if RawPubSub.supports(url) and not redis_options:
            return RawPubSub(url)
        return RedisPubSub.from_url(url, **redis_options)
    if redis_options:
        raise TypeError("redis_options apply to a URL, not to a ready client")
    if hasattr(url, "publish") and hasattr(url, "pubsub"):
        return RedisPubSub(url)
    raise TypeError("url must be a Redis URL or a redis.asyncio.Redis client")


__all__ = ["connect"]
