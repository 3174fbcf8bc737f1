"""``AsyncRedisAdapter``: a python-socketio client manager on Node's classic Redis protocol.

Assembly only: the codec (:mod:`.protocol.classic`), local state and fan-out
(:mod:`.core`), the cross-server engine (:mod:`.engine.classic`) and a
transport (:mod:`.transport`), plus python-socketio's asyncio-only methods.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import socketio

from .core.fanout import Fanout
from .core.local_rooms import LocalRooms
from .core.manager_api import LocalStateAPI
from .core.manager_side import ManagerSide
from .core.stats import Counters
from .core.tasks import BackgroundTasks
from .engine.api import AsyncClusterAPI
from .engine.classic import ClassicEngine
from .engine.receiver import ClassicReceiver
from .engine.subscriptions import ClassicSubscriptions
from .fastpath import ChannelRouter, RoomIndex
from .protocol.broadcast import event_args
from .protocol.classic import ClassicCodec
from .protocol.parsers import Parser
from .protocol.rooms import room_list, sid_list
from .transport.base import PubSubTransport
from .transport.factory import connect
from .uid import new_uid


class AsyncRedisAdapter(LocalStateAPI, AsyncClusterAPI, socketio.AsyncManager):  # type: ignore[misc]
    """Client manager that joins python-socketio servers through Redis.

    It speaks exactly the protocol of Node's ``@socket.io/redis-adapter`` 8.3,
    so Python and Node.js servers on one Redis serve one set of rooms.

    :param url: the Redis URL (``redis://``, ``rediss://`` or ``unix://``), or
                a ready ``redis.asyncio.Redis`` client.
    :param key: the channel prefix, Node's ``key`` option.
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
    :param redis_options: extra keyword arguments for redis-py clients made
                          from ``url``.  ``redis://`` and ``unix://`` URLs
                          without options use the adapter's own lean
                          connections (:class:`RawPubSub`); other URLs, or
                          any options, use redis-py (:class:`RedisPubSub`).
    :param logger: a ``logging.Logger``; the server's logger by default.

    Example::

        mgr = AsyncRedisAdapter("redis://127.0.0.1:6379/0")
        sio = socketio.AsyncServer(client_manager=mgr)
    """

    name = "socketio-redis-adapter"

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
    ) -> None:
        super().__init__()
        if requests_timeout <= 0:
            raise ValueError("requests_timeout must be positive")
        self.uid = new_uid()
        self.host_id = self.uid  # read by python-socketio's Admin UI
        self.codec = ClassicCodec(key, parser, self.uid)
        self.key, self.parser, self.channels = key, self.codec.parser, self.codec.channels
        self.logger = logger
        self.connection = connection if connection is not None else connect(
            url, **(redis_options or {})
        )
        self.counters = Counters()
        self._router = ChannelRouter(key)
        self.connection.channel_filter = self._router  # drops foreign rooms unread
        self.local = LocalRooms(self.rooms, self._on_namespace)
        self.fanout = Fanout(self.counters)
        self._tasks = BackgroundTasks(self._get_logger)
        self.engine = ClassicEngine(
            self.codec, self.connection, ManagerSide(self, self.local, self.fanout, self._later),
            self, self._tasks, self._disconnect_local,
            requests_timeout=float(requests_timeout), callback_timeout=float(callback_timeout),
            specific_response_channel=publish_on_specific_response_channel,
            logger=self._get_logger,
        )
        self.receiver = ClassicReceiver(
            self.codec, self._router, self.engine, self.fanout, self.counters, self._get_logger
        )
        self.connection.on_message = self.receiver.on_message
        self._subscriptions = ClassicSubscriptions(
            self.connection, self.channels, self.uid, self._get_logger
        )

    @property
    def stats(self) -> dict[str, int]:
        """Every counter: ``received``, ``published``, ``malformed``, ``delivered``,
        ``dropped`` (foreign-room broadcasts left unread), and the transport's
        ``reconnects``, ``handler_errors`` and ``publish_failures``."""
        return self.counters.snapshot({"dropped": self._router.dropped}, self.connection.stats())

    # -- life cycle ----------------------------------------------------

    def set_server(self, server: Any) -> None:
        super().set_server(server)
        self.fanout.bind(server)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop yet: initialize() starts us with the first client
        # later: the server sets its namespaces after calling set_server
        loop.call_soon(self._start)

    def initialize(self) -> None:
        """Called by the server with its first client (python-socketio API)."""
        super().initialize()
        self._start()

    async def start(self) -> None:
        """Subscribe now for every known namespace; wait until Redis confirms.

        Servers start the adapter by themselves with their first client; call
        this to join the cluster before that (for example at application
        start-up) or to wait until this server receives broadcasts.  Raises
        ``TimeoutError`` or a Redis error if the subscriptions could not be
        confirmed; the adapter keeps retrying in the background either way.

        Note: this method is a coroutine.
        """
        self._start()
        await self._subscriptions.wait()

    def _start(self) -> None:
        """Subscribe every namespace the server declares (again: new ones too)."""
        if not self._subscriptions.closed:
            self.local.declare(self.server)
            self._subscriptions.start(self.local.indexes)

    async def close(self) -> None:
        """Unsubscribe from every channel, stop background work, close the Redis connections.

        Note: this method is a coroutine.
        """
        if self._subscriptions.closed:
            return
        self._subscriptions.close()
        self.engine.close()
        await self._tasks.close()
        await self.connection.close()
        self.fanout.close()

    def _on_namespace(self, nsp: str, index: RoomIndex) -> None:
        self.receiver.add_namespace(nsp, index)
        self._subscriptions.add(nsp)  # once started

    # -- python-socketio's manager API (asyncio) ------------------------

    async def pre_connect(self, eio_sid: str, namespace: str) -> str | None:
        """Register a client in a namespace (pending until ``connect``).

        Note: this method is a coroutine.
        """
        return self.connect_pending(eio_sid, namespace)

    def socket_gone(self, eio_sid: str) -> None:
        self.fanout.forget(eio_sid)

    async def emit(
        self,
        event: str,
        data: Any,
        namespace: str | None = None,
        room: Any = None,
        skip_sid: Any = None,
        callback: Callable[..., Any] | None = None,
        to: Any = None,
        ignore_queue: bool = False,
        *,
        except_rooms: Any = None,
        volatile: bool = False,
        compress: bool | None = None,
        **kwargs: Any,
    ) -> None:
        """Emit an event to clients on every server of the cluster.

        :param to: a room (a sid is a room) or a list of rooms; all the
                   clients of the namespace when omitted (``room`` is an
                   alias).
        :param skip_sid: a sid or list of sids that must not receive it.
        :param except_rooms: a room or list of rooms whose clients must not
                             receive it (Node's ``except``).
        :param callback: with a single-sid ``to``, called with the client's
                         acknowledgement, on whichever server it is.
        :param ignore_queue: emit to this server's clients only (Node's
                             ``local``).
        :param volatile: drop the event for clients that are not ready to
                         receive it.
        :param compress: carried in the message flags, as Node does.

        Raises ``TypeError`` when the data cannot be serialized or a room is
        not a string or a number.

        Note: this method is a coroutine.
        """
        namespace = namespace or "/"
        rooms = room_list(to or room)
        except_list = (
            room_list(except_rooms) + sid_list(skip_sid)
            if except_rooms is not None or skip_sid is not None else []
        )
        payload = [event, *event_args(data)]
        if callback is not None:
            await self.engine.emit_with_callback(namespace, payload, rooms, except_list, callback)
            return
        flags: dict[str, Any] = {}
        if volatile:
            flags["volatile"] = True
        if compress is not None:
            flags["compress"] = bool(compress)
        # encoded before delivering: data that cannot be serialized reaches no one
        message = None if ignore_queue else self.codec.encode_broadcast(
            namespace, payload, rooms, except_list, flags
        )
        index = self.local.indexes.get(namespace)
        if index is not None and len(index):
            self.fanout.deliver(index, namespace, payload, rooms, except_list, volatile)
        if message is not None:
            await self.connection.post(*message)
            self.counters.published += 1

    async def _disconnect_local(self, nsp: str, sid: str, close: bool) -> None:
        eio_sid = self.eio_sid_from_sid(sid, nsp)
        await self.server.disconnect(sid, namespace=nsp, ignore_queue=True)
        if close and eio_sid is not None:
            await self.server.eio.disconnect(eio_sid)

    def _later(self, delay: float, function: Callable[..., None], *args: Any) -> None:
        asyncio.get_running_loop().call_later(delay, function, *args)
