"""One place that maps what a user passes as ``url`` to a transport.

Classic pub/sub (:func:`connect`): ``redis://``, ``valkey://`` and ``unix://``
URLs without options get the lean :class:`~.raw.RawPubSub`, and so do Redis
Cluster (``redis+cluster://``, ``rediss+cluster://``), Sentinel
(``redis+sentinel://``, ``rediss+sentinel://``) URLs, their ``valkey``
twins, and a ready ``redis.asyncio.RedisCluster``; other URLs (``rediss://``,
``valkeys://``), any other ``redis_options``, or a ready
``redis.asyncio.Redis`` client get :class:`~.redispy.RedisPubSub`.

Sharded pub/sub (:func:`connect_sharded`) always runs on raw connections
(:class:`~.sharded.ShardedPubSub`), for every URL form and for ready
clients, of which it takes only the addresses and credentials.
"""

from __future__ import annotations

from typing import Any

from .base import PubSubTransport
from .raw import RawPubSub
from .redispy import RedisPubSub
from .sharded import ShardedPubSub
from .urls import (
    ACCEPTED_SCHEMES,
    is_cluster_url,
    is_sentinel_url,
    scheme_of,
    topology_from_client,
    topology_from_url,
    unsupported_scheme,
)


def _is_cluster_client(client: Any) -> bool:
    return hasattr(client, "get_nodes") and hasattr(client, "nodes_manager")


def connect(url: Any, *, service: str = "socket.io", **redis_options: Any) -> PubSubTransport:
    """Return a classic pub/sub transport for ``url`` (not connected yet).

    :param url: a Redis URL, or a ``redis.asyncio.Redis`` /
                ``redis.asyncio.RedisCluster`` client.
    :param service: the Sentinel service name when the URL gives none.
    :param redis_options: options for the connections (redis-py's names).

    Raises ``ValueError``, naming the accepted schemes, for a URL of another
    scheme, and ``TypeError`` for anything else.
    """
    if isinstance(url, str):
        if scheme_of(url) not in ACCEPTED_SCHEMES:
            raise unsupported_scheme(url)
        if is_cluster_url(url) or is_sentinel_url(url):
            return RawPubSub(topology_from_url(url, service, **redis_options))
        if RawPubSub.supports(url) and not redis_options:
            return RawPubSub(url)
        return RedisPubSub.from_url(url, **redis_options)
    if redis_options:
        raise TypeError("redis_options apply to a URL, not to a ready client")
    if _is_cluster_client(url):
        return RawPubSub(topology_from_client(url))
    if hasattr(url, "publish") and hasattr(url, "pubsub"):
        return RedisPubSub(url)
    raise TypeError("url must be a Redis URL or a redis.asyncio.Redis client")


def connect_sharded(url: Any, *, service: str = "socket.io", **redis_options: Any
                    ) -> ShardedPubSub:
    """Return a sharded pub/sub transport (SPUBLISH/SSUBSCRIBE) for ``url``.

    :param url: a Redis URL of any form, or a ready ``redis.asyncio.Redis`` /
                ``redis.asyncio.RedisCluster`` client (its nodes and
                credentials are used; the transport opens its own connections).
    :param service: the Sentinel service name when the URL gives none.
    :param redis_options: options for the connections (redis-py's names).
    """
    if isinstance(url, str):
        return ShardedPubSub(topology_from_url(url, service, **redis_options))
    if redis_options:
        raise TypeError("redis_options apply to a URL, not to a ready client")
    if hasattr(url, "connection_pool") or _is_cluster_client(url):
        return ShardedPubSub(topology_from_client(url))
    raise TypeError("url must be a Redis URL or a redis.asyncio client")


__all__ = ["connect", "connect_sharded"]
