"""``RedisAdapter``: a client manager for ``socketio.Server`` (and Flask-SocketIO) on Node's
classic Redis protocol.

The classic flavour (:mod:`.engine.classic.flavour`) on a blocking transport
(:mod:`.transport.blocking_pubsub`), given to the synchronous manager
(:mod:`.manager.sync_base`).
"""

from __future__ import annotations

import logging
from typing import Any, cast

from .core.offline_queue import OfflineQueue
from .engine.classic.flavour import blocking_classic_flavour
from .engine.flavour import Flavour, FlavourHost
from .manager.base import refuse_arguments
from .manager.sync_base import SyncManagerBase
from .protocol.classic import ClassicCodec
from .protocol.parsers import Parser
from .transport.blocking_pubsub import BlockingPubSub
from .transport.limits import DEFAULT_MAX_MESSAGE_SIZE


class RedisAdapter(SyncManagerBase):
    """Client manager that joins synchronous python-socketio servers through Redis.

    The synchronous counterpart of :class:`AsyncRedisAdapter`, for
    ``socketio.Server`` and Flask-SocketIO in threading, gevent or eventlet
    mode, with the same protocol (Node's ``@socket.io/redis-adapter`` 8.3),
    so synchronous, asyncio and Node.js servers on one Redis serve one set of
    rooms.  The cross-server API has the same names, as blocking methods.

    :param url: the Redis URL: ``redis://host:port/db``, ``rediss://...``
                (TLS), ``unix:///path/to/redis.sock``,
                ``redis+cluster://host:port[,host:port...]`` (Redis Cluster;
                ``rediss+cluster://`` with TLS) or
                ``redis+sentinel://host:port[,host:port...]/db/service``
                (Sentinel, the service defaults to ``key``;
                ``rediss+sentinel://`` with TLS), each with a Valkey
                spelling that means the same (``valkey://``, ``valkeys://``,
                ``valkey+cluster://``...), as for
                :class:`AsyncRedisAdapter`.  Another scheme raises
                ``ValueError``.
    :param key: the channel prefix, Node's ``key`` option (python-socketio's
                ``channel``): every server of one application uses the same.
    :param requests_timeout: seconds to wait for other servers to answer a
                             request (Node's ``requestsTimeout``).
    :param publish_on_specific_response_channel: send responses to the
                                                 requester's own channel.
    :param parser: ``"msgpack"`` (default, as Node) or ``"json"``, or an object
                   with ``encode(value) -> bytes`` and ``decode(bytes)``.
    :param callback_timeout: seconds after which an unanswered callback of
                             an emit to a socket on another server is dropped.
    :param redis_options: connection options with redis-py's names
                          (``password``, ``username``, ``ssl_ca_certs``...,
                          ``socket_connect_timeout``).
    :param logger: a ``logging.Logger``; the server's logger by default.
    :param max_message_size: the most bytes an incoming pub/sub message (its
                             channel and data) may have; a larger one is
                             skipped unread, counted in ``stats["oversized"]``
                             and logged.  32 MiB by default; None for no limit.
    :param direct_frames: in threading mode, write a broadcast's websocket frames
                          straight to each client whose queue is idle, instead of
                          waking its writer thread (about ten times less CPU per
                          delivery at steady rates); each client's order is kept.
                          Used only with the python-engineio and simple-websocket
                          versions it knows, on plain TCP, on platforms with
                          ``socket.MSG_DONTWAIT`` (not Windows); ``False`` turns
                          it off (left out: on, unless the environment has
                          ``SOCKETIO_REDIS_ADAPTER_DIRECT_FRAMES=0``).
                          ``direct_frames_off`` says why it is not used, if so;
                          when that is a library version it does not know, or
                          the platform, a warning says so once, as the server
                          is made.
    :param offline_queue: how broadcasts are kept while Redis is unreachable
                          and published, in order, once the servers are
                          subscribed again (see :class:`OfflineQueue`); None
                          for no queue: ``emit`` then raises
                          :class:`OfflineQueueFull` during an outage, after
                          reaching this server's own clients.

    Under eventlet or gevent the ``socket`` module must be monkey patched
    (the adapter refuses to start otherwise, as python-socketio's managers
    do).

    python-socketio's ``RedisManager`` arguments ``channel`` and
    ``write_only`` raise ``TypeError``: the channel prefix is ``key``, and a
    process that only emits uses :class:`SyncEmitter` (or :class:`Emitter`).

    Example::

        mgr = RedisAdapter("redis://127.0.0.1:6379/0")
        sio = socketio.Server(client_manager=mgr)
        # or, with Flask-SocketIO:
        socketio = SocketIO(app, client_manager=mgr)
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        key: str = "socket.io",
        requests_timeout: float = 5.0,
        publish_on_specific_response_channel: bool = False,
        parser: str | Parser = "msgpack",
        callback_timeout: float = 60.0,
        redis_options: dict[str, Any] | None = None,
        logger: logging.Logger | None = None,
        max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE,
        direct_frames: bool | None = None,
        offline_queue: OfflineQueue | None = OfflineQueue(),  # noqa: B008 - frozen
        **unsupported: Any,
    ) -> None:
        refuse_arguments(type(self).__name__, "key", unsupported)

        def classic(host: FlavourHost) -> Flavour[Any, BlockingPubSub]:
            return blocking_classic_flavour(
                host, BlockingPubSub(url, service=key, **(redis_options or {})), key=key,
                parser=parser, specific_response_channel=publish_on_specific_response_channel,
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


__all__ = ["RedisAdapter"]
