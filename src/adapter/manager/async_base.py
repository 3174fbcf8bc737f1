"""The asyncio manager: python-socketio's ``AsyncManager`` plus a flavour.

Life cycle, ``emit``, python-socketio's API and the cross-server API (Node's
``fetchSockets``, ``serverSideEmit``...), once for every asyncio flavour: a
face (:mod:`..adapter`, :mod:`..sharded_adapter`) only says how its flavour
is built.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import socketio

from ..core.direct.async_writer import AsyncDirectFrames, known_versions, unsupported
from ..core.direct.reasons import Unsupported
from ..core.offline_queue import UNREACHABLE, BroadcastPublisher, OfflineQueue
from ..core.pacing import FanoutPacer
from ..core.remote_socket import RemoteSocket
from ..core.tasks import BackgroundTasks
from ..engine.flavour import Flavour, FlavourHost, Subscriptions
from ..protocol.broadcast import event_args
from ..protocol.requests import Selector
from ..protocol.rooms import room_list
from ..transport.base import abilities
from ..transport.limits import apply_limit, check_limit
from .base import ManagerBase
from .local_side import ManagerSide

#: builds a manager's flavour from what the manager lends it
AsyncFlavourBuilder = Callable[[FlavourHost], Flavour[Subscriptions, Any]]


def _selector(rooms: Any, except_rooms: Any) -> Selector:
    return Selector(room_list(rooms), room_list(except_rooms))


class AsyncManagerBase(ManagerBase, socketio.AsyncManager):  # type: ignore[misc]
    """An asyncio client manager on the flavour that ``build`` makes (see the module doc).

    :param build: ``build(host)`` returns the flavour, made on the
                  :class:`FlavourHost` this manager lends it.
    :param requests_timeout: seconds to wait for other servers' answers.
    :param callback_timeout: seconds to keep a callback of an emit to another server.
    :param logger: a ``logging.Logger``; the server's by default.
    :param offline_queue: how broadcasts are held while Redis is unreachable.
    :param max_message_size: the most bytes of an incoming message (None: no limit).
    :param direct_frames: write broadcast frames straight to websocket clients.
    """

    flavour: Flavour[Subscriptions, Any]

    def __init__(
        self, build: AsyncFlavourBuilder, *, requests_timeout: float, callback_timeout: float,
        logger: logging.Logger | None, offline_queue: OfflineQueue | None,
        max_message_size: int | None, direct_frames: bool | None,
    ) -> None:
        super().__init__(requests_timeout=requests_timeout, logger=logger,
                         direct_frames=direct_frames)
        self._tasks = BackgroundTasks(self._get_logger)
        #: adopts the websocket clients direct frames reach (see :mod:`..core.direct.async_writer`)
        self._direct = AsyncDirectFrames()
        self._direct.on_unknown = self._unknown_connection
        self._adopt(build(FlavourHost(
            side=ManagerSide(self, self.local, self.fanout, self._later), server_ops=self,
            remote_socket=RemoteSocket, tasks=self._tasks, disconnect=self._disconnect_local,
            fanout=self.fanout, counters=self.counters, logger=self._get_logger, clock=None,
            requests_timeout=requests_timeout, callback_timeout=callback_timeout,
        )))
        transport = abilities(self.flavour.transport)
        self.pacer = FanoutPacer(self.flavour.receiver.on_message, self.counters, transport,
                                 self._get_logger)
        apply_limit(self.flavour.transport, check_limit(max_message_size), self.pacer.on_message)
        #: ``emit`` hands broadcasts to it, held while Redis is unreachable
        self.publisher = BroadcastPublisher(
            self.flavour.post, transport, lambda: self.flavour.engine.server_count("/"),
            offline_queue, self._get_logger,
        )
        transport.on_lost_posts = self.publisher.requeue

    def _stat_sources(self) -> list[Any]:
        return [self.publisher, self.pacer, self._direct]

    # -- life cycle ----------------------------------------------------

    def set_server(self, server: Any) -> None:
        super().set_server(server)
        self.fanout.bind(server)
        if self._settle_direct_frames(lambda: unsupported(server), known_versions()):
            self._direct.install(server)
            self.fanout.links = self._direct.links
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop yet: initialize() starts us with the first client
        # later: the server sets its namespaces after calling set_server
        loop.call_soon(self._start)

    def _unknown_connection(self, found: Unsupported) -> None:
        """A connection was not adopted because of a version (uvicorn's, websockets')
        direct frames do not know: none will be; say so once."""
        self.direct_frames_off = found.reason
        self._direct_frames_unavailable(found, known_versions())

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
        confirmed; the adapter keeps retrying in the background either way,
        except on a server without sharded pub/sub (the sharded adapter on
        Redis 6.2), where it raises ``UnsupportedServerError`` and tries no
        more.

        Note: this method is a coroutine.
        """
        self._start()
        await self.flavour.subscriptions.wait()

    def _start(self) -> None:
        """Subscribe every namespace the server declares (again: new ones too)."""
        if not self.flavour.subscriptions.closed:
            self.local.declare(self.server)
            self.flavour.subscriptions.start(self.local.indexes)
            self.publisher.start()

    async def close(self) -> None:
        """Unsubscribe from every channel, stop background work, close the Redis connections.

        Note: this method is a coroutine.
        """
        flavour = self.flavour
        if flavour.subscriptions.closed:
            return
        await self.publisher.close()  # held broadcasts: published if Redis answers soon
        self.pacer.close()
        flavour.subscriptions.close()
        flavour.engine.close()
        await self._tasks.close()
        await flavour.transport.close()
        self.fanout.close()
        self.handshakes.clear()
        self.fanout.links = None
        if self.server is not None:
            self._direct.uninstall(self.server)

    # -- python-socketio's manager API (asyncio) ------------------------

    async def pre_connect(self, eio_sid: str, namespace: str) -> str | None:
        """Register a client in a namespace (pending until ``connect``).

        Note: this method is a coroutine.
        """
        return self.connect_pending(eio_sid, namespace)

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
        message = self._broadcast_here(event, data, namespace, room, skip_sid, to,
                                       except_rooms, volatile, compress, ignore_queue, callback)
        if callback is not None:
            await message  # the engine's emit_with_callback
            return
        if message is not None:
            # held while the cluster is not back (see BroadcastPublisher)
            channel, data = message
            publisher = self.publisher
            posting = publisher.send(channel, data)
            if posting is not None:
                try:
                    await posting
                except UNREACHABLE as exc:
                    publisher.unreachable(channel, data, exc)
            self.counters.published += 1

    async def _disconnect_local(self, nsp: str, sid: str, close: bool) -> None:
        eio_sid = self.eio_sid_from_sid(sid, nsp)
        await self.server.disconnect(sid, namespace=nsp, ignore_queue=True)
        if close and eio_sid is not None:
            await self.server.eio.disconnect(eio_sid)

    def _later(self, delay: float, function: Callable[..., None], *args: Any) -> None:
        asyncio.get_running_loop().call_later(delay, function, *args)

    # -- python-socketio's room methods, for sockets on any server ---------

    async def can_disconnect(self, sid: str, namespace: str) -> bool:
        if self.is_connected(sid, namespace):
            return True
        await self.flavour.engine.disconnect_sockets(
                namespace, Selector([sid], []), False, False
            )
        return False

    async def disconnect(self, sid: str, namespace: str, **kwargs: Any) -> None:
        if kwargs.get("ignore_queue") or self.local.has_sid(namespace, sid):
            self.basic_disconnect(sid, namespace)
        elif not self.is_connected(sid, namespace):
            await self.flavour.engine.disconnect_sockets(
                namespace, Selector([sid], []), False, False
            )

    async def enter_room(
        self, sid: str, namespace: str, room: Any, eio_sid: str | None = None
    ) -> None:
        if eio_sid is not None or self.local.has_sid(namespace, sid):
            self.basic_enter_room(sid, namespace, room, eio_sid=eio_sid)
        else:
            await self.flavour.engine.sockets_join(namespace, Selector([sid], []), room, False)

    async def leave_room(self, sid: str, namespace: str, room: Any) -> None:
        if self.local.has_sid(namespace, sid):
            self.basic_leave_room(sid, namespace, room)
        else:
            await self.flavour.engine.sockets_leave(namespace, Selector([sid], []), room, False)

    async def close_room(self, room: Any, namespace: str) -> None:
        if self.is_sid_room(namespace, room):
            raise ValueError("cannot close a sid room")
        await self.flavour.engine.sockets_leave(namespace, _selector(room, None), room, False)

    # -- Node's cross-server API ---------------------------------------------

    async def server_count(self, namespace: str = "/") -> int:
        """Return how many servers serve ``namespace`` (this one included).

        Counts the subscribers of the namespace's request channel, as Node's
        ``serverCount()`` does.

        Note: this method is a coroutine.
        """
        return await self.flavour.engine.server_count(namespace)

    async def fetch_sockets(
        self, rooms: Any = None, except_rooms: Any = None, namespace: str = "/",
        local: bool = False,
    ) -> list[RemoteSocket]:
        """Return the sockets of the cluster in ``rooms`` and not in ``except_rooms``.

        :param rooms: a room or a list of rooms; every socket when omitted.
        :param except_rooms: a room or a list of rooms to leave out.
        :param local: only this server's sockets.

        Raises :class:`RequestTimeoutError` when a server does not answer
        within ``requests_timeout``.  Example::

            for socket in await mgr.fetch_sockets("room1"):
                print(socket.id, socket.rooms, socket.data)
                await socket.emit("hello")

        Note: this method is a coroutine.
        """
        return await self.flavour.engine.fetch_sockets(
            namespace, _selector(rooms, except_rooms), local
        )

    async def all_rooms(self, namespace: str = "/", local: bool = False) -> set[Any]:
        """Return every room of ``namespace`` on every server (sid rooms included).

        Note: this method is a coroutine.
        """
        return await self.flavour.engine.all_rooms(namespace, local)

    async def sockets_join(
        self, join: Any, rooms: Any = None, except_rooms: Any = None, namespace: str = "/",
        local: bool = False,
    ) -> None:
        """Make the matching sockets of every server join the room(s) ``join``.

        The sockets are those in ``rooms`` (all when omitted) and not in
        ``except_rooms``, as Node's ``io.in(rooms).except(...).socketsJoin()``.

        Note: this method is a coroutine.
        """
        await self.flavour.engine.sockets_join(
            namespace, _selector(rooms, except_rooms), join, local
        )

    async def sockets_leave(
        self, leave: Any, rooms: Any = None, except_rooms: Any = None, namespace: str = "/",
        local: bool = False,
    ) -> None:
        """Make the matching sockets of every server leave the room(s) ``leave``.

        Note: this method is a coroutine.
        """
        await self.flavour.engine.sockets_leave(
            namespace, _selector(rooms, except_rooms), leave, local
        )

    async def disconnect_sockets(
        self, close: bool = False, rooms: Any = None, except_rooms: Any = None,
        namespace: str = "/", local: bool = False,
    ) -> None:
        """Disconnect the matching sockets of every server.

        :param close: also close the underlying connection (every namespace).

        Note: this method is a coroutine.
        """
        await self.flavour.engine.disconnect_sockets(
            namespace, _selector(rooms, except_rooms), close, local
        )

    async def server_side_emit(self, event: str, *args: Any, namespace: str = "/") -> None:
        """Send an event to every *other* server (Node's ``serverSideEmit``).

        Note: this method is a coroutine.
        """
        await self.flavour.engine.server_side_emit(namespace, [event, *args])

    async def server_side_call(self, event: str, *args: Any, namespace: str = "/") -> list[Any]:
        """Send an event to every other server and return one reply from each.

        Raises :class:`RequestTimeoutError` (its ``responses`` holds the
        replies that came) when a server does not reply within
        ``requests_timeout``.  Replies travel as JSON.

        Note: this method is a coroutine.
        """
        return await self.flavour.engine.server_side_call(namespace, [event, *args])

    async def emit_with_ack(
        self, event: str, data: Any = None, namespace: str = "/", to: Any = None,
        except_rooms: Any = None, timeout: float = 5.0, local: bool = False,
    ) -> list[Any]:
        """Emit to clients on every server and return every client's acknowledgement.

        Node's ``io.timeout(ms).emit(event, ..., callback)``.  Raises
        :class:`RequestTimeoutError` (with the acknowledgements that came in
        ``responses``) if not every client answered within ``timeout``
        seconds.  Each acknowledgement is the first argument the client
        passed to its callback.  ``data`` follows python-socketio's rule: a
        tuple is several arguments.

        Note: this method is a coroutine.
        """
        return await self.flavour.engine.emit_with_ack(
            namespace, [event, *event_args(data)], room_list(to), room_list(except_rooms),
            timeout, local,
        )


__all__ = ["AsyncFlavourBuilder", "AsyncManagerBase"]
