"""Emit to a Socket.IO cluster from a process that is not a Socket.IO server.

:class:`Emitter` (asyncio) and :class:`SyncEmitter` (plain scripts) publish
the same bytes as Node's ``@socket.io/redis-emitter`` 5.1, so python-socketio
servers using this package's adapter and Node servers using
``@socket.io/redis-adapter`` both act on them
(the Node emitter's format: ``opts`` keys ``rooms, flags, except``, uid
``"emitter"``, requests without a uid).

An emitter only publishes: it never subscribes, it is not counted as a
server, and it cannot receive anything, so acknowledgements are not
supported (neither for ``emit`` nor for ``server_side_emit``).

Emitters are immutable: ``of()``, ``to()``, ``in_()``, ``except_()``,
``volatile`` and ``compress()`` return a new emitter and leave the one they
are called on unchanged, so one emitter can be kept and reused::

    emitter = Emitter("redis://127.0.0.1:6379/0")
    await emitter.to("room1").emit("news", {"title": "hello"})
    await emitter.emit("to everyone")
"""

from __future__ import annotations

import copy
from typing import Any, TypeVar

import redis
import redis.asyncio as aioredis

from .protocol.classic import ClassicCodec
from .protocol.parsers import Parser, json_dumps
from .protocol.requests import (
    Selector,
    disconnect_request,
    join_request,
    leave_request,
    server_side_request,
)
from .protocol.rooms import room_list
from .transport.urls import redis_py_url

#: the ``uid`` Node's emitter writes in broadcasts and server-side events
EMITTER_UID = "emitter"

#: event names Node's emitter refuses to emit to clients
RESERVED_EVENTS = frozenset(
    {"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"}
)

#: event names a Node ``Namespace`` uses itself; refused by ``server_side_emit``
SERVER_RESERVED_EVENTS = frozenset({"connect", "connection", "new_namespace"})

DEFAULT_URL = "redis://127.0.0.1:6379/0"

_E = TypeVar("_E", bound="_EmitterCore")


def _room_list(value: Any) -> list[Any]:
    """One room, or an iterable of rooms (``None`` is an error: name a room)."""
    return room_list(value, none_is_empty=False)


def _event_data(event: Any, args: tuple[Any, ...]) -> list[Any]:
    if not isinstance(event, str):
        raise TypeError(f"the event name must be a str, not {type(event).__name__}")
    if any(callable(arg) for arg in args):
        raise TypeError("acknowledgements are not supported by the emitter")
    return [event, *args]


def _namespace(nsp: str) -> str:
    if not isinstance(nsp, str):
        raise TypeError(f"a namespace is a str, not {type(nsp).__name__}")
    return nsp if nsp.startswith("/") else "/" + nsp


class _EmitterCore:
    """The selection (namespace, rooms, flags) and every message an emitter sends.

    :class:`Emitter` and :class:`SyncEmitter` add only the publishing.
    """

    __slots__ = ("_codec", "_client", "_except", "_flags", "_nsp", "_owns_client", "_rooms")

    def __init__(
        self, client: Any, owns_client: bool, key: str, parser: str | Parser,
        namespace: str,
    ) -> None:
        codec = ClassicCodec(key, parser, EMITTER_UID)  # checks key and parser
        if not callable(getattr(client, "publish", None)):
            raise TypeError("expected a Redis URL or a Redis client")
        self._client = client
        self._owns_client = owns_client
        self._codec = codec
        self._nsp = _namespace(namespace)
        self._rooms: tuple[Any, ...] = ()
        self._except: tuple[Any, ...] = ()
        self._flags: dict[str, bool] = {}  # never mutated: replaced by a copy

    def _derive(self: _E, **changes: Any) -> _E:
        new = copy.copy(self)
        for name, value in changes.items():
            setattr(new, name, value)
        return new

    # -- the selection -------------------------------------------------

    @property
    def key(self) -> str:
        """The channel prefix (Node's ``key`` option)."""
        return self._codec.channels.key

    @property
    def namespace(self) -> str:
        """The namespace this emitter sends to."""
        return self._nsp

    @property
    def client(self) -> Any:
        """The Redis client this emitter publishes with."""
        return self._client

    def of(self: _E, namespace: str) -> _E:
        """Return an emitter for another namespace.

        :param namespace: the namespace name; a leading ``/`` is added when
                          it is missing.

        Rooms, excluded rooms and flags chosen so far are kept.
        """
        return self._derive(_nsp=_namespace(namespace))

    def to(self: _E, room: Any) -> _E:
        """Return an emitter that also targets ``room``.

        :param room: a room name (a sid is a room too) or a number, or an
                     iterable of them.  Calls add up: ``to("a").to("b")``
                     targets both rooms.
        """
        return self._derive(_rooms=tuple(dict.fromkeys((*self._rooms, *_room_list(room)))))

    def in_(self: _E, room: Any) -> _E:
        """Alias of :meth:`to`."""
        return self.to(room)

    def except_(self: _E, room: Any) -> _E:
        """Return an emitter that skips the clients in ``room``.

        :param room: a room name or a number, or an iterable of them.
        """
        return self._derive(_except=tuple(dict.fromkeys((*self._except, *_room_list(room)))))

    @property
    def volatile(self: _E) -> _E:
        """An emitter whose events may be dropped for clients that are not ready."""
        return self._derive(_flags={**self._flags, "volatile": True})

    def compress(self: _E, compress: bool) -> _E:
        """Return an emitter with the ``compress`` flag set.

        :param compress: whether the servers should compress the event.
        """
        return self._derive(_flags={**self._flags, "compress": bool(compress)})

    # -- the messages --------------------------------------------------

    def _emit_message(self, event: str, args: tuple[Any, ...]) -> tuple[bytes, bytes]:
        data = _event_data(event, args)
        if event in RESERVED_EVENTS:
            raise ValueError(f'"{event}" is a reserved event name')
        # the emitter's opts order: rooms, flags, except
        return self._codec.encode_broadcast(
            self._nsp, data, self._rooms, self._except, self._flags, emitter=True
        )

    def _request(self, request: dict[str, Any]) -> tuple[bytes, bytes]:
        return self._codec.channels.request(self._nsp), json_dumps(request)

    def _selector(self) -> Selector:
        return Selector(list(self._rooms), list(self._except))

    def _join_message(self, rooms: Any) -> tuple[bytes, bytes]:
        return self._request(join_request(None, self._selector(), _room_list(rooms)))

    def _leave_message(self, rooms: Any) -> tuple[bytes, bytes]:
        return self._request(leave_request(None, self._selector(), _room_list(rooms)))

    def _disconnect_message(self, close: bool) -> tuple[bytes, bytes]:
        return self._request(disconnect_request(None, self._selector(), close))

    def _server_side_message(self, event: str, args: tuple[Any, ...]) -> tuple[bytes, bytes]:
        data = _event_data(event, args)
        if event in SERVER_RESERVED_EVENTS:
            raise ValueError(f'"{event}" is a reserved event name')
        return self._request(server_side_request(EMITTER_UID, data))

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} key={self.key!r} namespace={self._nsp!r} "
            f"rooms={list(self._rooms)!r} except={list(self._except)!r} flags={self._flags!r}>"
        )


class Emitter(_EmitterCore):
    """Emit to a Socket.IO cluster through Redis, from asyncio code.

    The messages are those of Node's ``@socket.io/redis-emitter`` 5.1, byte
    for byte, so Node servers and python-socketio servers with
    :class:`~socketio_redis_adapter.AsyncRedisAdapter` act on them.

    :param redis_or_url: a ``redis.asyncio.Redis`` client, or the URL of one
                         Redis or Valkey server (``redis://``, ``rediss://``
                         (TLS), ``valkey://``, ``valkeys://`` (TLS) or
                         ``unix://``) for a client the emitter creates and
                         :meth:`close` closes.  Another scheme (Cluster and
                         Sentinel URLs included) raises ``ValueError``.
    :param key: the channel prefix, the servers' ``key`` option.
    :param parser: ``"msgpack"`` (default, as Node), ``"json"``, or an object
                   with ``encode(value) -> bytes``; it must be the one the
                   servers use.  Requests are always JSON, as in Node.
    :param namespace: the namespace to emit to.

    Acknowledgements are not supported: an emitter never receives anything.

    Example::

        emitter = Emitter("redis://127.0.0.1:6379/0")
        await emitter.to("room1").except_("muted").emit("news", {"id": 1})
        await emitter.of("/admin").sockets_join("audit")
        await emitter.close()
    """

    __slots__ = ()

    def __init__(
        self,
        redis_or_url: aioredis.Redis | str = DEFAULT_URL,
        *,
        key: str = "socket.io",
        parser: str | Parser = "msgpack",
        namespace: str = "/",
    ) -> None:
        if isinstance(redis_or_url, redis.Redis):
            raise TypeError("Emitter needs a redis.asyncio.Redis client; use SyncEmitter")
        if isinstance(redis_or_url, str):
            client = aioredis.Redis.from_url(redis_py_url(redis_or_url))
            super().__init__(client, True, key, parser, namespace)
        else:
            super().__init__(redis_or_url, False, key, parser, namespace)

    async def emit(self, event: str, *args: Any) -> None:
        """Emit an event to the selected clients of every server.

        :param event: the event name; Socket.IO's reserved names
                      (``connect``, ``disconnect``...) raise ``ValueError``.
        :param args: the event's arguments: anything the parser can
                     serialize (``bytes`` become binary attachments with the
                     default parser).  Data that cannot be serialized raises
                     ``TypeError`` before anything is published.

        Note: this method is a coroutine.
        """
        await self._publish(self._emit_message(event, args))

    async def sockets_join(self, rooms: Any) -> None:
        """Make the selected sockets of every server join ``rooms``.

        :param rooms: a room name or an iterable of them.

        Note: this method is a coroutine.
        """
        await self._publish(self._join_message(rooms))

    async def sockets_leave(self, rooms: Any) -> None:
        """Make the selected sockets of every server leave ``rooms``.

        :param rooms: a room name or an iterable of them.

        Note: this method is a coroutine.
        """
        await self._publish(self._leave_message(rooms))

    async def disconnect_sockets(self, close: bool = False) -> None:
        """Disconnect the selected sockets of every server from the namespace.

        :param close: ``True`` to close the clients' whole connection (every
                      namespace), as Node's ``disconnectSockets(true)``.

        Note: this method is a coroutine.
        """
        await self._publish(self._disconnect_message(close))

    async def server_side_emit(self, event: str, *args: Any) -> None:
        """Send an event to the servers themselves (Node's ``serverSideEmit``).

        :param event: the event name; ``connect``, ``connection`` and
                      ``new_namespace``, which Node namespaces use
                      themselves, raise ``ValueError``.
        :param args: JSON-serializable arguments; ``bytes`` travel as Node's
                     ``{"type": "Buffer", "data": [...]}``.

        Acknowledgements are not supported, so there is no callback.

        Note: this method is a coroutine.
        """
        await self._publish(self._server_side_message(event, args))

    async def close(self) -> None:
        """Close the Redis client if this emitter created it from a URL.

        Emitters derived with ``of()``, ``to()``... share the client.

        Note: this method is a coroutine.
        """
        if self._owns_client:
            await self._client.aclose()

    async def __aenter__(self) -> Emitter:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _publish(self, message: tuple[bytes, bytes]) -> None:
        await self._client.publish(*message)


class SyncEmitter(_EmitterCore):
    """Emit to a Socket.IO cluster through Redis, from blocking code.

    The same as :class:`Emitter`, with methods that block instead of
    coroutines.

    :param redis_or_url: a ``redis.Redis`` client, or the URL of one Redis or
                         Valkey server (``redis://``, ``rediss://``,
                         ``valkey://``, ``valkeys://`` or ``unix://``, as
                         for :class:`Emitter`) for a client the emitter
                         creates and :meth:`close` closes.
    :param key: the channel prefix, the servers' ``key`` option.
    :param parser: ``"msgpack"`` (default), ``"json"``, or an object with
                   ``encode(value) -> bytes``.
    :param namespace: the namespace to emit to.

    Acknowledgements are not supported: an emitter never receives anything.

    Example::

        with SyncEmitter("redis://127.0.0.1:6379/0") as emitter:
            emitter.to("room1").emit("news", {"id": 1})
    """

    __slots__ = ()

    def __init__(
        self,
        redis_or_url: redis.Redis | str = DEFAULT_URL,
        *,
        key: str = "socket.io",
        parser: str | Parser = "msgpack",
        namespace: str = "/",
    ) -> None:
        if isinstance(redis_or_url, aioredis.Redis):
            raise TypeError("SyncEmitter needs a redis.Redis client; use Emitter")
        if isinstance(redis_or_url, str):
            client = redis.Redis.from_url(redis_py_url(redis_or_url))
            super().__init__(client, True, key, parser, namespace)
        else:
            super().__init__(redis_or_url, False, key, parser, namespace)

    def emit(self, event: str, *args: Any) -> None:
        """Emit an event to the selected clients of every server.

        :param event: the event name; reserved names raise ``ValueError``.
        :param args: the event's arguments; data that cannot be serialized
                     raises ``TypeError`` before anything is published.
        """
        self._publish(self._emit_message(event, args))

    def sockets_join(self, rooms: Any) -> None:
        """Make the selected sockets of every server join ``rooms``.

        :param rooms: a room name or an iterable of them.
        """
        self._publish(self._join_message(rooms))

    def sockets_leave(self, rooms: Any) -> None:
        """Make the selected sockets of every server leave ``rooms``.

        :param rooms: a room name or an iterable of them.
        """
        self._publish(self._leave_message(rooms))

    def disconnect_sockets(self, close: bool = False) -> None:
        """Disconnect the selected sockets of every server from the namespace.

        :param close: ``True`` to close the clients' whole connection.
        """
        self._publish(self._disconnect_message(close))

    def server_side_emit(self, event: str, *args: Any) -> None:
        """Send an event to the servers themselves (no acknowledgements).

        :param event: the event name; ``connect``, ``connection`` and
                      ``new_namespace`` raise ``ValueError``.
        :param args: JSON-serializable arguments.
        """
        self._publish(self._server_side_message(event, args))

    def close(self) -> None:
        """Close the Redis client if this emitter created it from a URL."""
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> SyncEmitter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _publish(self, message: tuple[bytes, bytes]) -> None:
        self._client.publish(*message)


__all__ = ["EMITTER_UID", "RESERVED_EVENTS", "Emitter", "SyncEmitter"]
