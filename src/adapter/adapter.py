"""``AsyncRedisAdapter``: a python-socketio client manager on Node's Redis protocol."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

import socketio
from engineio import packet as eio_packet
from socketio import packet as sio_packet

from . import codec
from .cluster import ClusterMixin, as_args, as_rooms
from .codec import Channels, MalformedMessage
from .connection import PubSubConnection, RedisPubSub
from .fastpath import (
    ChannelRouter,
    DeliveryCache,
    RoomIndex,
    deliver,
    encode_event,
    pack_broadcast,
    unpack_broadcast,
)
from .remote_socket import ISSUED_KEY
from .resp import RawPubSub
from .uid import new_uid


class AsyncRedisAdapter(ClusterMixin, socketio.AsyncManager):  # type: ignore[misc]
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
    :param connection: a ready connection layer object (see
                       :class:`socketio_redis_adapter.connection.PubSubConnection`)
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
        parser: str | codec.Parser = "msgpack",
        connection: PubSubConnection | None = None,
        callback_timeout: float = 60.0,
        redis_options: dict[str, Any] | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(key, str) or not key:
            raise ValueError("key must be a non-empty string")
        if requests_timeout <= 0:
            raise ValueError("requests_timeout must be positive")
        self.key = key
        self.requests_timeout = float(requests_timeout)
        self.publish_on_specific_response_channel = publish_on_specific_response_channel
        self.callback_timeout = float(callback_timeout)
        self.parser = codec.get_parser(parser)
        self.uid = new_uid()
        self.host_id = self.uid  # read by python-socketio's Admin UI
        self.channels = Channels(key)
        self.logger = logger
        if connection is None:
            if isinstance(url, str) and RawPubSub.supports(url) and not redis_options:
                connection = RawPubSub(url)
            elif isinstance(url, str):
                connection = RedisPubSub.from_url(url, **(redis_options or {}))
            elif hasattr(url, "publish") and hasattr(url, "pubsub"):
                connection = RedisPubSub(url)
            else:
                raise TypeError("url must be a Redis URL or a redis.asyncio.Redis client")
        self.connection = connection
        self.connection.on_message = self._on_message
        #: counters: ``received``, ``published``, ``malformed``, ``delivered``
        self.stats = {"received": 0, "published": 0, "malformed": 0, "delivered": 0}
        self._router = ChannelRouter(key)
        if hasattr(self.connection, "channel_filter"):
            # let the connection drop foreign-room broadcasts before they become objects
            self.connection.channel_filter = self._router
        self._indexes: dict[str, RoomIndex] = {}
        #: ``deliver``'s per-socket records, dropped when a socket disconnects
        self._delivery_cache = DeliveryCache()
        #: request/response channel -> (namespace, True for the request channel)
        self._by_request_channel: dict[bytes, tuple[str, bool]] = {}
        self._subscriptions: dict[str, asyncio.Future[None]] = {}
        self._own_prefix = (
            b"\x93\xa6" + self.uid.encode() if isinstance(self.parser, codec.MsgpackParser)
            else None
        )
        self._text_packets = True
        self._dumps: Callable[..., str] = functools.partial(
            json.dumps, default=codec.json_default
        )
        self._started = False
        self._closed = False
        self._init_cluster()

    # -- life cycle ----------------------------------------------------

    def set_server(self, server: Any) -> None:
        super().set_server(server)
        self._text_packets = server.packet_class is sio_packet.Packet
        json_module = server.packet_class.json
        if json_module is json:
            self._dumps = functools.partial(json.dumps, default=codec.json_default)
        else:
            self._dumps = json_module.dumps
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
        for nsp, future in list(self._subscriptions.items()):
            if future.done() and (future.cancelled() or future.exception() is not None):
                del self._subscriptions[nsp]
                self._subscribe(nsp)
        await asyncio.gather(*self._subscriptions.values())

    def _start(self) -> None:
        """Subscribe every namespace the server declares (again: new ones too)."""
        if self._closed:
            return
        self._started = True
        namespaces = ["/"]
        if self.server is not None:
            namespaces += list(getattr(self.server, "handlers", {}))
            namespaces += list(getattr(self.server, "namespace_handlers", {}))
            if isinstance(getattr(self.server, "namespaces", None), list):
                namespaces += self.server.namespaces
        for nsp in dict.fromkeys(namespaces):
            if nsp != "*":
                self._namespace(nsp)
        for nsp in self._indexes:
            self._subscribe(nsp)

    async def close(self) -> None:
        """Unsubscribe from every channel and close the Redis connections."""
        if self._closed:
            return
        self._closed = True
        self._close_cluster()
        for future in self._subscriptions.values():
            future.cancel()
        await self.connection.close()
        self._delivery_cache.clear()

    def _namespace(self, nsp: str) -> RoomIndex:
        index = self._indexes.get(nsp)
        if index is None:
            index = RoomIndex()
            self._indexes[nsp] = index
            self.rooms[nsp] = index.rooms
            self._router.add(nsp, index)
            self._by_request_channel[self.channels.request(nsp)] = (nsp, True)
            self._by_request_channel[self.channels.response(nsp)] = (nsp, False)
            self._by_request_channel[self.channels.specific_response(nsp, self.uid)] = (
                nsp, False
            )
            if self._started:
                self._subscribe(nsp)
        return index

    def _subscribe(self, nsp: str) -> None:
        if nsp in self._subscriptions or self._closed:
            return
        future = asyncio.ensure_future(self._subscribe_namespace(nsp))
        future.add_done_callback(functools.partial(self._subscribed, nsp))
        self._subscriptions[nsp] = future

    async def _subscribe_namespace(self, nsp: str) -> None:
        """Subscribe like a Node server: one pattern and three channels."""
        channels = self.channels
        await self.connection.psubscribe(channels.broadcast_pattern(nsp))
        await self.connection.subscribe(
            channels.request(nsp),
            channels.response(nsp),
            channels.specific_response(nsp, self.uid),
        )

    def _subscribed(self, nsp: str, future: asyncio.Future[None]) -> None:
        if not future.cancelled() and future.exception() is not None:
            self._get_logger().error(
                "could not subscribe namespace %s yet (%r); the connection keeps retrying",
                nsp,
                future.exception(),
            )

    # -- python-socketio's manager API: local state ---------------------

    def get_namespaces(self) -> list[str]:
        return list(self._indexes)

    def get_participants(self, namespace: str, room: Any) -> Iterable[tuple[str, str]]:
        index = self._indexes.get(namespace)
        if index is None:
            return
        rooms = as_rooms(room) if room is not None else None
        if rooms is not None and not rooms:
            return
        yield from index.select(rooms, None).items()

    async def pre_connect(self, eio_sid: str, namespace: str) -> str | None:
        """Register a client in a namespace (pending until ``connect``).

        Note: this method is a coroutine.
        """
        sid: str = self.server.eio.generate_id()
        environ = self.server.environ.get(eio_sid)
        if environ is not None and ISSUED_KEY not in environ:
            environ[ISSUED_KEY] = int(time.time() * 1000)  # the handshake's "issued"
        try:
            self.basic_enter_room(sid, namespace, None, eio_sid=eio_sid)
        except ValueError:
            return None  # already connected to this namespace
        self.pending_connect.setdefault(namespace, []).append(sid)
        return sid

    def is_pre_connected(self, sid: str, namespace: str) -> bool:
        return sid in self.pending_connect.get(namespace, ()) and self._has_sid(namespace, sid)

    def is_connected(self, sid: str, namespace: str) -> bool:
        if sid in self.pending_connect.get(namespace, ()) or sid in self.pending_disconnect.get(
            namespace, ()
        ):
            return False
        return self._has_sid(namespace, sid)

    def _has_sid(self, namespace: str, sid: str) -> bool:
        index = self._indexes.get(namespace)
        return index is not None and sid in index.rooms[None]

    def sid_from_eio_sid(self, eio_sid: str, namespace: str) -> str | None:
        index = self._indexes.get(namespace)
        return index.eio_to_sid.get(eio_sid) if index is not None else None

    def eio_sid_from_sid(self, sid: str, namespace: str) -> str | None:
        index = self._indexes.get(namespace)
        return index.rooms[None].get(sid) if index is not None else None

    def pre_disconnect(self, sid: str, namespace: str) -> str | None:
        self.pending_disconnect.setdefault(namespace, []).append(sid)
        return self.eio_sid_from_sid(sid, namespace)

    def basic_disconnect(self, sid: str, namespace: str, **kwargs: Any) -> None:
        index = self._indexes.get(namespace)
        if index is None:
            return
        if "basic_leave_room" in self.__dict__:
            # instrumented (Admin UI): report every room left
            for room in index.rooms_of(sid):
                self.basic_leave_room(sid, namespace, room)
        eio_sid = index.rooms[None].get(sid)
        index.disconnect(sid)
        if eio_sid is not None:
            self._delivery_cache.forget(eio_sid)
        self.callbacks.pop(sid, None)
        for pending in (self.pending_connect, self.pending_disconnect):
            sids = pending.get(namespace)
            if sids and sid in sids:
                sids.remove(sid)
                if not sids:
                    del pending[namespace]

    def is_sid_room(self, namespace: str, room: Any) -> bool:
        return self._has_sid(namespace, room) if isinstance(room, str) else False

    def basic_enter_room(
        self, sid: str, namespace: str, room: Any, eio_sid: str | None = None
    ) -> None:
        if room is None:
            if eio_sid is None:
                raise ValueError("eio_sid is required to connect a socket")
            if not self._namespace(namespace).connect(sid, eio_sid):
                raise ValueError("the client is already connected to this namespace")
            return
        index = self._indexes.get(namespace)
        if index is None or sid not in index.rooms[None]:
            raise ValueError("sid is not connected to requested namespace")
        index.join(sid, room)

    def basic_leave_room(self, sid: str, namespace: str, room: Any) -> None:
        index = self._indexes.get(namespace)
        if index is not None:
            index.leave(sid, room)

    def basic_close_room(self, room: Any, namespace: str) -> None:
        index = self._indexes.get(namespace)
        if index is None or room not in index.rooms:
            return
        if "basic_leave_room" in self.__dict__:
            for sid in list(index.rooms[room]):
                self.basic_leave_room(sid, namespace, room)
        else:
            index.close_room(room)

    def get_rooms(self, sid: str, namespace: str) -> list[Any]:
        index = self._indexes.get(namespace)
        return index.rooms_of(sid) if index is not None else []

    # -- python-socketio's manager API: cluster-wide operations ---------

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

        Raises ``TypeError`` when the data cannot be serialized.

        Note: this method is a coroutine.
        """
        namespace = namespace or "/"
        rooms = as_rooms(to or room)
        except_list = as_rooms(except_rooms) + [
            sid for sid in as_rooms(skip_sid) if sid is not None
        ]
        payload = [event, *as_args(data)]
        if callback is not None:
            await self._emit_with_callback(namespace, payload, rooms, except_list, callback)
            return
        flags: dict[str, Any] = {}
        if volatile:
            flags["volatile"] = True
        if compress is not None:
            flags["compress"] = bool(compress)
        message = None
        if not ignore_queue:
            if type(self.parser) is codec.MsgpackParser:
                message = pack_broadcast(self.uid, namespace, payload, rooms, except_list, flags)
            else:
                message = self.parser.encode(
                    codec.broadcast_value(self.uid, namespace, payload, rooms, except_list, flags)
                )
        index = self._indexes.get(namespace)
        if index is not None and len(index):
            self._deliver(index, namespace, payload, rooms, except_list, volatile)
        if message is not None:
            channel = (
                self.channels.room(namespace, rooms[0])
                if len(rooms) == 1
                else self.channels.broadcast(namespace)
            )
            await self.connection.post(channel, message)
            self.stats["published"] += 1

    async def can_disconnect(self, sid: str, namespace: str) -> bool:
        if self.is_connected(sid, namespace):
            return True
        await self.disconnect_sockets(False, rooms=[sid], namespace=namespace)
        return False

    async def disconnect(self, sid: str, namespace: str, **kwargs: Any) -> None:
        if kwargs.get("ignore_queue") or self._has_sid(namespace, sid):
            self.basic_disconnect(sid, namespace)
            return
        await self.can_disconnect(sid, namespace)

    async def enter_room(
        self, sid: str, namespace: str, room: Any, eio_sid: str | None = None
    ) -> None:
        if eio_sid is not None or self._has_sid(namespace, sid):
            self.basic_enter_room(sid, namespace, room, eio_sid=eio_sid)
        else:
            await self.sockets_join(room, rooms=[sid], namespace=namespace)

    async def leave_room(self, sid: str, namespace: str, room: Any) -> None:
        if self._has_sid(namespace, sid):
            self.basic_leave_room(sid, namespace, room)
        else:
            await self.sockets_leave(room, rooms=[sid], namespace=namespace)

    async def close_room(self, room: Any, namespace: str) -> None:
        if self.is_sid_room(namespace, room):
            raise ValueError("cannot close a sid room")
        await self.sockets_leave(room, rooms=[room], namespace=namespace)

    # -- local fan-out -------------------------------------------------

    def _encode_parts(self, namespace: str, payload: list[Any], ack_id: int | None = None
                      ) -> list[Any]:
        if self._text_packets:
            return encode_event(namespace, payload, self._dumps, ack_id)
        encoded = self.server.packet_class(
            sio_packet.EVENT, namespace=namespace, data=payload, id=ack_id
        ).encode()
        return encoded if isinstance(encoded, list) else [encoded]

    def _ack_encoder(
        self, namespace: str, payload: list[Any]
    ) -> Callable[[int], list[Any]] | None:
        """Encode ``payload`` once; return a function that adds an ack id.

        Only the ack id differs between the packets of a broadcast with
        acknowledgements, and in the text format it sits right after the
        header (``2/nsp,<id>[...]``), so it is spliced into the one encoding.
        Returns None when packets are not encoded by this adapter.
        """
        if not self._text_packets:
            return None
        parts = encode_event(namespace, payload, self._dumps, None)
        text = parts[0]
        attachments = parts[1:]
        if not isinstance(text, str):
            return None
        header = f"5{len(attachments)}-" if attachments else "2"
        if namespace and namespace != "/":
            header += namespace + ","
        if not text.startswith(header):
            return None
        head, body = text[: len(header)], text[len(header) :]

        def with_id(ack_id: int) -> list[Any]:
            return [f"{head}{ack_id}{body}", *attachments]

        return with_id

    def _send_parts(self, eio_sids: Iterable[str], parts: list[Any], volatile: bool) -> int:
        make = eio_packet.Packet
        packets = [make(eio_packet.MESSAGE, part) for part in parts]
        binary = len(parts) > 1 or isinstance(parts[0], bytes)
        polling = (lambda: [make(eio_packet.MESSAGE, part) for part in parts]) if binary else None
        return int(deliver(self.server.eio.sockets, eio_sids, packets, polling, volatile,
                           self._delivery_cache))

    def _deliver(
        self,
        index: RoomIndex,
        namespace: str,
        payload: list[Any],
        rooms: list[Any],
        except_rooms: list[Any],
        volatile: bool,
    ) -> int:
        recipients = index.select_eio(rooms, except_rooms)
        if not recipients:
            return 0
        parts = self._encode_parts(namespace, payload)
        delivered = self._send_parts(recipients, parts, volatile)
        self.stats["delivered"] += delivered
        return delivered

    def _deliver_with_acks(
        self,
        index: RoomIndex,
        namespace: str,
        payload: list[Any],
        rooms: list[Any],
        except_rooms: list[Any],
        on_ack: Callable[..., Any],
        expires: float | None = None,
    ) -> int:
        """Send each recipient its own packet id; return the client count.

        With ``expires`` (seconds), acknowledgements that have not come by
        then are forgotten, so no callback entry outlives its request.
        """
        count = 0
        registered = []
        recipients = index.select(rooms, except_rooms)
        with_id = self._ack_encoder(namespace, payload) if recipients else None
        for sid, eio_sid in recipients.items():
            ack_id = self._generate_ack_id(sid, on_ack)
            registered.append((sid, ack_id))
            parts = (
                with_id(ack_id)
                if with_id is not None
                else self._encode_parts(namespace, payload, ack_id)
            )
            count += self._send_parts((eio_sid,), parts, False)
        if expires is not None and registered:
            asyncio.get_running_loop().call_later(expires, self._forget_acks, registered)
        return count

    def _forget_acks(self, registered: list[tuple[str, int]]) -> None:
        for sid, ack_id in registered:
            pending = self.callbacks.get(sid)
            if pending is not None:
                pending.pop(ack_id, None)

    # -- Redis messages ------------------------------------------------

    def _on_message(self, pattern: bytes | None, channel: bytes, data: bytes) -> None:
        """Handle one message from Redis (called by the connection's reader)."""
        if pattern is not None:
            self._on_broadcast(channel, data)
            return
        entry = self._by_request_channel.get(channel)
        if entry is None:
            return
        nsp, is_request = entry
        self.stats["received"] += 1
        try:
            message = codec.decode_request(self.parser, data)
            if is_request:
                self._on_request(nsp, message)
            else:
                self._on_response(message)
        except MalformedMessage as exc:
            self._malformed(channel, exc)

    def _on_broadcast(self, channel: bytes, data: bytes) -> None:
        own = self._own_prefix
        if own is not None and data.startswith(own):
            return  # our own broadcast, recognised without decoding
        entry = self._router.route(channel)
        if entry is None:
            return
        self.stats["received"] += 1
        nsp, index = entry
        try:
            if type(self.parser) is codec.MsgpackParser:
                message = unpack_broadcast(data)
            else:
                message = codec.decode_broadcast(self.parser, data)
        except MalformedMessage as exc:
            self._malformed(channel, exc)
            return
        if message.uid == self.uid or message.nsp != nsp:
            return
        self._deliver(
            index,
            nsp,
            message.data,
            message.rooms,
            message.except_rooms,
            bool(message.flags.get("volatile")),
        )

    def _malformed(self, channel: bytes, exc: Exception) -> None:
        self.stats["malformed"] += 1
        self._get_logger().warning(
            "ignoring malformed message on %s: %s", channel.decode(errors="replace"), exc
        )

    def _schedule(self, awaitable: Any) -> None:
        task = asyncio.ensure_future(awaitable)
        task.add_done_callback(self._log_task_error)

    def _log_task_error(self, task: asyncio.Future[Any]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self._get_logger().error("adapter task failed: %r", task.exception())
