"""``AsyncRedisAdapter``: a python-socketio client manager on Node's classic Redis protocol.

The classic flavour (:mod:`.engine.classic.flavour`: Node's classic
protocol) on a pub/sub transport (:mod:`.transport`), given to the asyncio
manager (:mod:`.manager.async_base`).
"""

from __future__ import annotations

import logging
from typing import Any, cast

from .core.offline_queue import OfflineQueue
from .engine.classic.flavour import classic_flavour
from .engine.flavour import Flavour, FlavourHost
from .manager.async_base import AsyncManagerBase
from .manager.base import refuse_arguments
from .protocol.classic import ClassicCodec
from .protocol.parsers import Parser
from .transport.base import PubSubTransport
from .transport.factory import connect
from .transport.limits import DEFAULT_MAX_MESSAGE_SIZE


class AsyncRedisAdapter(AsyncManagerBase):
    """Client manager that joins python-socketio servers through Redis.

    It speaks exactly the protocol of Node's ``@socket.io/redis-adapter`` 8.3,
    so Python and Node.js servers on one Redis serve one set of rooms.

    :param url: the Redis URL: ``redis://host:port/db``, ``rediss://...``
                (TLS), ``unix:///path/to/redis.sock``,
                ``redis+cluster://host:port[,host:port...]`` (Redis Cluster;
                ``rediss+cluster://`` with TLS),
                ``redis+sentinel://host:port[,host:port...]/db/service``
                (Sentinel, the service defaults to ``key``;
                ``rediss+sentinel://`` with TLS), each with a Valkey
                spelling that means the same (``valkey://``, ``valkeys://``,
                ``valkey+cluster://``, ``valkeys+cluster://``,
                ``valkey+sentinel://``, ``valkeys+sentinel://``), or a ready
                ``redis.asyncio.Redis`` or ``redis.asyncio.RedisCluster``
                client.  Another scheme raises ``ValueError``.
    :param key: the channel prefix, Node's ``key`` option (python-socketio's
                ``channel``): every server of one application uses the same.
    :param requests_timeout: seconds to wait for other servers to answer a
                             request (Node's ``requestsTimeout``).
    :param publish_on_specific_response_channel: send responses to the
                                                 requester's own channel.
    :param parser: ``"msgpack"`` (default, as Node) or ``"json"``, or an object
                   with ``encode(value) -> bytes`` and ``decode(bytes)``.
    :param connection: a ready transport (see
                       :class:`socketio_redis_adapter.transport.base.PubSubTransport`)
                       instead of ``url``.
    :param callback_timeout: seconds after which an unanswered callback of
                             an emit to a socket on another server is dropped.
    :param redis_options: extra keyword arguments for the connections made
                          from ``url``, with redis-py's names.  ``redis://``,
                          ``valkey://`` and ``unix://`` URLs without options,
                          and Cluster and Sentinel URLs, use the adapter's own
                          lean connections (:class:`RawPubSub`); other URLs
                          (``rediss://``, ``valkeys://``), or any options for
                          them, use redis-py (:class:`RedisPubSub`).
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
    ``write_only`` raise ``TypeError``: the channel prefix is ``key``, and a
    process that only emits uses :class:`Emitter`.

    Example::

        mgr = AsyncRedisAdapter("redis://127.0.0.1:6379/0")
        sio = socketio.AsyncServer(client_manager=mgr)
    """

    def __init__(
        self,
        url: Any = "redis://127.0.0.1:6379/0",
        *,
        key: str = "socket.io",
        requests_timeout: float = 5.0,
        publish_on_specific_response_channel: bool = False,
        parser: str | Parser = "msgpack",
        connection: PubSubTransport | None = None,
        callback_timeout: float = 60.0,
        redis_options: dict[str, Any] | None = None,
        logger: logging.Logger | None = None,
        offline_queue: OfflineQueue | None = OfflineQueue(),  # noqa: B008 - frozen
        max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE,
        direct_frames: bool | None = None,
        **unsupported: Any,
    ) -> None:
        refuse_arguments(type(self).__name__, "key", unsupported)

        def classic(host: FlavourHost) -> Flavour[Any, PubSubTransport]:
            transport = connection if connection is not None else connect(
                url, service=key, **(redis_options or {})
            )
            return classic_flavour(
                host, transport, key=key, parser=parser,
                specific_response_channel=publish_on_specific_response_channel,
            )

        super().__init__(
            classic, requests_timeout=requests_timeout, callback_timeout=callback_timeout,
            logger=logger, offline_queue=offline_queue, max_message_size=max_message_size,
            direct_frames=direct_frames,
        )

    @property
    def key(self) -> str:
        """The channel prefix (Node's ``key``)."""
        return self._codec.channels.key

    @property
    def parser(self) -> Parser:
        """The parser of broadcasts and requests."""
        return self._codec.parser

    @property
    def _codec(self) -> ClassicCodec:
        return cast(ClassicCodec, self.flavour.codec)


__all__ = ["AsyncRedisAdapter"]
