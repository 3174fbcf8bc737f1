"""The cross-server API of an asyncio manager, as Node's adapter offers it.

A mixin of delegations: it asks of its host ``engine`` (an
:class:`~.base.EngineBase`: the classic or the sharded engine),
``local``, and python-socketio's own manager methods (``basic_enter_room``,
``is_connected``...).  python-socketio's ``enter_room``, ``leave_room``,
``close_room`` and ``disconnect`` act on a local socket directly and reach a
socket on another server through the engine.  No method here calls another
of its public methods (each goes to the engine), so a synchronous manager
can offer each of them as a blocking method that runs the coroutine to
completion.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..core.local_rooms import LocalRooms
from ..core.remote_socket import RemoteSocket
from ..protocol.broadcast import event_args
from ..protocol.requests import Selector
from ..protocol.rooms import room_list
from .answers import ServerSideHandler
from .base import EngineBase


def _selector(rooms: Any, except_rooms: Any) -> Selector:
    return Selector(room_list(rooms), room_list(except_rooms))


class AsyncClusterAPI:
    """``fetch_sockets``, ``all_rooms``, ``sockets_join``... (see the module doc)."""

    engine: EngineBase
    local: LocalRooms
    basic_disconnect: Callable[..., None]
    basic_enter_room: Callable[..., None]
    basic_leave_room: Callable[..., None]
    is_connected: Callable[[str, str], bool]
    is_sid_room: Callable[[str, Any], bool]

    # -- python-socketio's room methods, for sockets on any server ---------

    async def can_disconnect(self, sid: str, namespace: str) -> bool:
        if self.is_connected(sid, namespace):
            return True
        await self.engine.disconnect_sockets(namespace, Selector([sid], []), False, False)
        return False

    async def disconnect(self, sid: str, namespace: str, **kwargs: Any) -> None:
        if kwargs.get("ignore_queue") or self.local.has_sid(namespace, sid):
            self.basic_disconnect(sid, namespace)
        elif not self.is_connected(sid, namespace):
            await self.engine.disconnect_sockets(namespace, Selector([sid], []), False, False)

    async def enter_room(
        self, sid: str, namespace: str, room: Any, eio_sid: str | None = None
    ) -> None:
        if eio_sid is not None or self.local.has_sid(namespace, sid):
            self.basic_enter_room(sid, namespace, room, eio_sid=eio_sid)
        else:
            await self.engine.sockets_join(namespace, Selector([sid], []), room, False)

    async def leave_room(self, sid: str, namespace: str, room: Any) -> None:
        if self.local.has_sid(namespace, sid):
            self.basic_leave_room(sid, namespace, room)
        else:
            await self.engine.sockets_leave(namespace, Selector([sid], []), room, False)

    async def close_room(self, room: Any, namespace: str) -> None:
        if self.is_sid_room(namespace, room):
            raise ValueError("cannot close a sid room")
        await self.engine.sockets_leave(namespace, _selector(room, None), room, False)

    # -- Node's cross-server API ---------------------------------------------


    async def server_count(self, namespace: str = "/") -> int:
        """Return how many servers serve ``namespace`` (this one included).

        Counts the subscribers of the namespace's request channel, as Node's
        ``serverCount()`` does.

        Note: this method is a coroutine.
        """
        return await self.engine.server_count(namespace)

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
        return await self.engine.fetch_sockets(namespace, _selector(rooms, except_rooms), local)

    async def all_rooms(self, namespace: str = "/", local: bool = False) -> set[Any]:
        """Return every room of ``namespace`` on every server (sid rooms included).

        Note: this method is a coroutine.
        """
        return await self.engine.all_rooms(namespace, local)

    async def sockets_join(
        self, join: Any, rooms: Any = None, except_rooms: Any = None, namespace: str = "/",
        local: bool = False,
    ) -> None:
        """Make the matching sockets of every server join the room(s) ``join``.

        The sockets are those in ``rooms`` (all when omitted) and not in
        ``except_rooms``, as Node's ``io.in(rooms).except(...).socketsJoin()``.

        Note: this method is a coroutine.
        """
        await self.engine.sockets_join(namespace, _selector(rooms, except_rooms), join, local)

    async def sockets_leave(
        self, leave: Any, rooms: Any = None, except_rooms: Any = None, namespace: str = "/",
        local: bool = False,
    ) -> None:
        """Make the matching sockets of every server leave the room(s) ``leave``.

        Note: this method is a coroutine.
        """
        await self.engine.sockets_leave(namespace, _selector(rooms, except_rooms), leave, local)

    async def disconnect_sockets(
        self, close: bool = False, rooms: Any = None, except_rooms: Any = None,
        namespace: str = "/", local: bool = False,
    ) -> None:
        """Disconnect the matching sockets of every server.

        :param close: also close the underlying connection (every namespace).

        Note: this method is a coroutine.
        """
        await self.engine.disconnect_sockets(
            namespace, _selector(rooms, except_rooms), close, local
        )

    def on_server_side_event(
        self, event: str, handler: ServerSideHandler | None = None, namespace: str = "/"
    ) -> Any:
        """Register a handler for events sent with ``server_side_emit``.

        The handler gets the event's arguments; its return value (awaited if
        a coroutine) is the acknowledgement sent to a ``server_side_call``.
        Use it directly or as a decorator::

            @mgr.on_server_side_event("ping")
            async def ping(n):
                return n + 1

        """
        def register(function: ServerSideHandler) -> ServerSideHandler:
            self.engine.handlers[(namespace, event)] = function
            return function

        return register(handler) if handler is not None else register

    async def server_side_emit(self, event: str, *args: Any, namespace: str = "/") -> None:
        """Send an event to every *other* server (Node's ``serverSideEmit``).

        Note: this method is a coroutine.
        """
        await self.engine.server_side_emit(namespace, [event, *args])

    async def server_side_call(self, event: str, *args: Any, namespace: str = "/") -> list[Any]:
        """Send an event to every other server and return one reply from each.

        Raises :class:`RequestTimeoutError` (its ``responses`` holds the
        replies that came) when a server does not reply within
        ``requests_timeout``.  Replies travel as JSON.

        Note: this method is a coroutine.
        """
        return await self.engine.server_side_call(namespace, [event, *args])

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
        return await self.engine.emit_with_ack(
            namespace, [event, *event_args(data)], room_list(to), room_list(except_rooms),
            timeout, local,
        )


__all__ = ["AsyncClusterAPI"]
