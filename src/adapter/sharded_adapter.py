"""``AsyncShardedRedisAdapter``: a python-socketio client manager on Node's sharded protocol.

The sharded flavour (:mod:`.engine.sharded.flavour`: Node's sharded
protocol) on the sharded transport (:mod:`.transport.sharded`), given to the
asyncio manager (:mod:`.manager.async_base`).
"""

from __future__ import annotations

import logging
from typing import Any, cast

from .core.offline_queue import OfflineQueue
from .engine.flavour import Flavour, FlavourHost
from .engine.sharded.flavour import sharded_flavour
from .manager.async_base import AsyncManagerBase
from .manager.base import refuse_arguments
from .protocol.sharded import check_mode
from .protocol.sharded_codec import ShardedCodec
from .transport.base import ShardedTransport
from .transport.factory import connect_sharded
from .transport.limits import DEFAULT_MAX_MESSAGE_SIZE

#: what replaces python-socketio's ``write_only=True`` (the emitters speak the classic protocol)
_EMIT_ONLY = (
    "the emitters speak the classic protocol, not the sharded one; to emit from a process "
    "that is not a Socket.IO server, give this adapter to a socketio.AsyncServer that serves "
    "no clients, await its start() and emit through the server"
)


class AsyncShardedRedisAdapter(AsyncManagerBase):
    """Client manager that joins python-socketio servers through Redis sharded pub/sub.

    It speaks exactly the protocol of Node's ``createShardedAdapter``
    (``@socket.io/redis-adapter`` 8.3 on socket.io-adapter 2.5), so Python
    and Node.js servers with the sharded adapter on one Redis serve one set
    of rooms.  It needs sharded pub/sub (SPUBLISH/SSUBSCRIBE): Redis 7.0 or
    later, or any Valkey version, on one server, a Sentinel-watched master or a
    Redis Cluster; on a cluster each channel lives on one shard, so traffic
    scales with the number of shards, where classic pub/sub sends every
    message to every node.

    On an older server (Redis 6.2) every call that needs Redis raises
    :class:`~socketio_redis_adapter.UnsupportedServerError`, which names the
    server's version and that minimum: :meth:`start`, ``emit`` (the first one
    too, when the adapter was never started) and the cluster requests
    (``server_count``, ``fetch_sockets``...).  It is raised at once and
    nothing is retried; it is logged once, as an error of the
    ``socketio_redis_adapter`` logger, also when python-socketio starts the
    adapter by itself with its first client.  :class:`AsyncRedisAdapter`
    (classic pub/sub) works with Redis 6.2.

    :param url: the Redis URL: ``redis://host:port/db``, ``rediss://...``
                (TLS), ``unix:///path/to/redis.sock``,
                ``redis+cluster://host:port[,host:port...]``,
                ``rediss+cluster://...``,
                ``redis+sentinel://host:port[,host:port...]/db/service``,
                ``rediss+sentinel://...``, each with a Valkey spelling that
                means the same (``valkey://``, ``valkeys://``,
                ``valkey+cluster://``...), or a ready
                ``redis.asyncio.Redis`` / ``redis.asyncio.RedisCluster`` (its
                nodes and credentials are used; the adapter opens its own
                connections).  Another scheme raises ``ValueError``.
    :param channel_prefix: Node's ``channelPrefix`` (python-socketio's
                           ``channel``): every server of one application
                           uses the same.
    :param subscription_mode: Node's ``subscriptionMode``: ``"static"`` (two
                              channels per namespace), ``"dynamic"`` (also one
                              per room with a local socket, sockets' own rooms
                              excepted) or ``"dynamic-private"`` (one per
                              room, sockets' own rooms included).  Every
                              server of the cluster must use the same mode.
    :param requests_timeout: seconds to wait for other servers to answer a
                             request.
    :param connection: a ready sharded transport instead of ``url``.
    :param callback_timeout: seconds after which an unanswered callback of
                             an emit to a socket on another server is dropped.
    :param redis_options: options for the connections, with redis-py's names
                          (``username``, ``password``, ``ssl_ca_certs``...;
                          ``sentinel_kwargs`` for the sentinels).
    :param logger: a ``logging.Logger``; the server's logger by default.
    :param offline_queue: how broadcasts are kept while Redis is unreachable
                          and published, in order, once the servers are
                          subscribed again (see :class:`OfflineQueue`); None
                          for no queue: ``emit`` then raises
                          :class:`OfflineQueueFull` during an outage.
    :param max_message_size: the most bytes an incoming pub/sub message (its
                             channel and data) may have; a larger one is
                             dropped, counted in ``stats["oversized"]`` and
                             logged.  32 MiB by default (Redis' own default
                             pubsub output-buffer hard limit); None for no
                             limit.  On the adapter's own connections it is
                             skipped unread as it streams past; on redis-py
                             (:class:`RedisPubSub`) it is dropped after
                             redis-py read it (see
                             :mod:`~socketio_redis_adapter.transport.limits`).
    :param direct_frames: with aiohttp, or ASGI under uvicorn, write a
                          broadcast's websocket frames straight to each
                          client whose queue and writer are idle, instead of
                          waking its writer task (see
                          :mod:`~socketio_redis_adapter.core.direct.async_writer`);
                          each client's order is kept.  Used only with the
                          library versions it knows; ``False`` turns it off
                          (left out: on, unless the environment has
                          ``SOCKETIO_REDIS_ADAPTER_DIRECT_FRAMES=0``).
                          ``direct_frames_off`` says why it is not used, if so;
                          when that is a library version it does not know, a
                          warning says so once, as the server starts.

    python-socketio's ``AsyncRedisManager`` arguments ``channel`` and
    ``write_only`` raise ``TypeError``: the channel prefix is
    ``channel_prefix``.  The emitters speak the classic protocol, which a
    sharded cluster does not hear: a process that only emits gives this
    adapter to a ``socketio.AsyncServer`` that serves no clients, awaits
    :meth:`start` and emits through that server.

    Example::

        mgr = AsyncShardedRedisAdapter("redis+cluster://10.0.0.1:7000,10.0.0.2:7000")
        sio = socketio.AsyncServer(client_manager=mgr)
    """

    def __init__(
        self,
        url: Any = "redis://127.0.0.1:6379/0",
        *,
        channel_prefix: str = "socket.io",
        subscription_mode: str = "dynamic",
        requests_timeout: float = 5.0,
        connection: ShardedTransport | None = None,
        callback_timeout: float = 60.0,
        redis_options: dict[str, Any] | None = None,
        logger: logging.Logger | None = None,
        offline_queue: OfflineQueue | None = OfflineQueue(),  # noqa: B008 - frozen
        max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE,
        direct_frames: bool | None = None,
        **unsupported: Any,
    ) -> None:
        refuse_arguments(type(self).__name__, "channel_prefix", unsupported, _EMIT_ONLY)
        check_mode(subscription_mode)

        def sharded(host: FlavourHost) -> Flavour[Any, ShardedTransport]:
            transport = connection if connection is not None else connect_sharded(
                url, service=channel_prefix, **(redis_options or {})
            )
            return sharded_flavour(host, transport, channel_prefix=channel_prefix,
                                   subscription_mode=subscription_mode)

        super().__init__(
            sharded, requests_timeout=requests_timeout, callback_timeout=callback_timeout,
            logger=logger, offline_queue=offline_queue, max_message_size=max_message_size,
            direct_frames=direct_frames,
        )

    @property
    def channel_prefix(self) -> str:
        """The channel prefix (Node's ``channelPrefix``)."""
        return self._codec.channels.prefix

    @property
    def subscription_mode(self) -> str:
        """``"static"``, ``"dynamic"`` or ``"dynamic-private"``."""
        return self._codec.channels.mode

    @property
    def _codec(self) -> ShardedCodec:
        return cast(ShardedCodec, self.flavour.codec)


__all__ = ["AsyncShardedRedisAdapter"]
