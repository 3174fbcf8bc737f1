"""Cluster-wide operations: Node's request/response protocol, both sides.

Requests go to ``key-request#nsp#`` (JSON, or the parser for broadcasts with
acks) and responses come back on ``key-response#nsp#`` or the requester's
``key-response#nsp#<uid>#``.  This mixin gives :class:`AsyncRedisAdapter`
the Python API (``fetch_sockets``, ``all_rooms``, ``server_count``,
``sockets_join``/``sockets_leave``/``disconnect_sockets``,
``server_side_emit``/``server_side_call``, ``emit_with_ack``) and answers
the same requests from Node or Python servers.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from . import codec
from .codec import Channels, MalformedMessage, RequestType
from .connection import PubSubConnection
from .fastpath import RoomIndex, parse_broadcast
from .remote_socket import RemoteSocket, handshake_from_environ
from .requests import AckWaiter, RequestTimeoutError, ResponseWaiter
from .uid import new_uid

ServerSideHandler = Callable[..., Any]


def as_rooms(value: Any) -> list[Any]:
    """Normalize a room, a list of rooms or None to a list of rooms."""
    if value is None:
        return []
    if isinstance(value, (str, bytes, int, float)):
        return [value]
    return list(value)


def as_args(data: Any) -> list[Any]:
    """python-socketio's rule: a tuple is several arguments, None is none."""
    if isinstance(data, tuple):
        return list(data)
    if data is None:
        return []
    return [data]


def _opts(rooms: Any, except_rooms: Any) -> dict[str, Any]:
    return {"rooms": as_rooms(rooms), "except": as_rooms(except_rooms)}


class ClusterMixin:
    """Cross-server requests for :class:`AsyncRedisAdapter` (see the module doc)."""

    # provided by AsyncRedisAdapter
    uid: str
    channels: Channels
    connection: PubSubConnection
    parser: codec.Parser
    server: Any
    requests_timeout: float
    callback_timeout: float
    publish_on_specific_response_channel: bool
    _indexes: dict[str, RoomIndex]
    _get_logger: Callable[[], logging.Logger]
    _schedule: Callable[[Any], None]
    _has_sid: Callable[[str, str], bool]
    basic_enter_room: Callable[..., None]
    basic_leave_room: Callable[[str, str, Any], None]
    _deliver_with_acks: Callable[..., int]

    def _init_cluster(self) -> None:
        self._requests: dict[str, ResponseWaiter] = {}
        self._ack_requests: dict[str, AckWaiter] = {}
        self._server_side_handlers: dict[tuple[str, str], ServerSideHandler] = {}

    def _close_cluster(self) -> None:
        for waiter in list(self._requests.values()):
            waiter.cancel()
        for ack in list(self._ack_requests.values()):
            ack.cancel()

    # -- the Python API -------------------------------------------------

    async def server_count(self, namespace: str = "/") -> int:
        """Return how many servers serve ``namespace`` (this one included).

        Counts the subscribers of the namespace's request channel, as Node's
        ``serverCount()`` does.

        Note: this method is a coroutine.
        """
        return await self.connection.numsub(self.channels.request(namespace))

    async def fetch_sockets(
        self,
        rooms: Any = None,
        except_rooms: Any = None,
        namespace: str = "/",
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
        opts = _opts(rooms, except_rooms)
        details = self._local_socket_details(namespace, opts)
        if not local:
            for response in await self._request(
                namespace, RequestType.REMOTE_FETCH, {"opts": opts}, "fetchSockets"
            ):
                details.extend(response)
        return [RemoteSocket(self, namespace, item) for item in details]  # type: ignore[arg-type]

    async def all_rooms(self, namespace: str = "/", local: bool = False) -> set[Any]:
        """Return every room of ``namespace`` on every server (sid rooms included).

        Note: this method is a coroutine.
        """
        rooms = self._local_rooms(namespace)
        if not local:
            for response in await self._request(
                namespace, RequestType.ALL_ROOMS, {}, "allRooms"
            ):
                rooms.update(response)
        return rooms

    async def sockets_join(
        self,
        join: Any,
        rooms: Any = None,
        except_rooms: Any = None,
        namespace: str = "/",
        local: bool = False,
    ) -> None:
        """Make the matching sockets of every server join the room(s) ``join``.

        The sockets are those in ``rooms`` (all when omitted) and not in
        ``except_rooms``, as Node's ``io.in(rooms).except(...).socketsJoin()``.

        Note: this method is a coroutine.
        """
        await self._socket_request(
            namespace, RequestType.REMOTE_JOIN, _opts(rooms, except_rooms),
            {"rooms": as_rooms(join)}, local,
        )

    async def sockets_leave(
        self,
        leave: Any,
        rooms: Any = None,
        except_rooms: Any = None,
        namespace: str = "/",
        local: bool = False,
    ) -> None:
        """Make the matching sockets of every server leave the room(s) ``leave``.

        Note: this method is a coroutine.
        """
        await self._socket_request(
            namespace, RequestType.REMOTE_LEAVE, _opts(rooms, except_rooms),
            {"rooms": as_rooms(leave)}, local,
        )

    async def disconnect_sockets(
        self,
        close: bool = False,
        rooms: Any = None,
        except_rooms: Any = None,
        namespace: str = "/",
        local: bool = False,
    ) -> None:
        """Disconnect the matching sockets of every server.

        :param close: also close the underlying connection (every namespace).

        Note: this method is a coroutine.
        """
        await self._socket_request(
            namespace, RequestType.REMOTE_DISCONNECT, _opts(rooms, except_rooms),
            {"close": bool(close)}, local,
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
            self._server_side_handlers[(namespace, event)] = function
            return function

        return register(handler) if handler is not None else register

    async def server_side_emit(self, event: str, *args: Any, namespace: str = "/") -> None:
        """Send an event to every *other* server (Node's ``serverSideEmit``).

        Note: this method is a coroutine.
        """
        await self._publish_request(
            namespace,
            {"uid": self.uid, "type": RequestType.SERVER_SIDE_EMIT, "data": [event, *args]},
        )

    async def server_side_call(
        self, event: str, *args: Any, namespace: str = "/"
    ) -> list[Any]:
        """Send an event to every other server and return one reply from each.

        Raises :class:`RequestTimeoutError` (its ``responses`` holds the
        replies that came) when a server does not reply within
        ``requests_timeout``.  Replies travel as JSON.

        Note: this method is a coroutine.
        """
        expected = await self.server_count(namespace) - 1
        if expected <= 0:
            return []
        request_id = new_uid()
        waiter = ResponseWaiter(
            self._requests, request_id, RequestType.SERVER_SIDE_EMIT, expected,
            self.requests_timeout,
            lambda got, want: f"timeout reached: only {got} responses received out of {want}",
        )
        try:
            await self._publish_request(namespace, {
                "uid": self.uid, "requestId": request_id,
                "type": RequestType.SERVER_SIDE_EMIT, "data": [event, *args],
            })
        except BaseException:
            waiter.cancel()
            raise
        return await waiter.wait()

    async def emit_with_ack(
        self,
        event: str,
        data: Any = None,
        namespace: str = "/",
        to: Any = None,
        except_rooms: Any = None,
        timeout: float = 5.0,
        local: bool = False,
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
        payload = [event, *as_args(data)]
        rooms, excepted = as_rooms(to), as_rooms(except_rooms)
        waiter = AckWaiter(self._ack_requests, new_uid(), timeout)
        try:
            if not local:
                await self._publish_ack_request(
                    namespace, waiter.request_id, payload, rooms, excepted,
                    {"timeout": int(timeout * 1000)},
                )
            waiter.add_count(
                self._local_acks(namespace, payload, rooms, excepted, waiter, timeout)
            )
            waiter.expect_servers(1 if local else await self.server_count(namespace))
        except BaseException:
            waiter.cancel()
            raise
        return await waiter.wait()

    # -- helpers for the requester side --------------------------------

    async def _request(
        self, namespace: str, kind: RequestType, fields: dict[str, Any], what: str
    ) -> list[Any]:
        """Ask every other server; return the payload of each response."""
        expected = await self.server_count(namespace) - 1
        if expected <= 0:
            return []
        request_id = new_uid()
        waiter = ResponseWaiter(
            self._requests, request_id, kind, expected, self.requests_timeout,
            lambda got, want: f"timeout reached while waiting for {what} response",
        )
        try:
            await self._publish_request(
                namespace, {"uid": self.uid, "requestId": request_id, "type": kind, **fields}
            )
        except BaseException:
            waiter.cancel()
            raise
        return await waiter.wait()

    async def _socket_request(
        self, namespace: str, kind: RequestType, opts: dict[str, Any],
        fields: dict[str, Any], local: bool,
    ) -> None:
        request = {"uid": self.uid, "type": kind, "opts": opts, **fields}
        pending = self._apply_socket_request(namespace, kind, request)
        if pending is not None:
            await pending
        if not local:
            await self._publish_request(namespace, request)

    def _local_acks(
        self, namespace: str, payload: list[Any], rooms: list[Any],
        except_rooms: list[Any], waiter: AckWaiter, timeout: float,
    ) -> int:
        index = self._indexes.get(namespace)
        if index is None:
            return 0
        return self._deliver_with_acks(
            index, namespace, payload, rooms, except_rooms,
            lambda *args: waiter.add_ack(args[0] if args else None), timeout,
        )

    async def _publish_ack_request(
        self, namespace: str, request_id: str, payload: list[Any], rooms: list[Any],
        except_rooms: list[Any], flags: dict[str, Any],
    ) -> None:
        message = self.parser.encode({
            "uid": self.uid,
            "requestId": request_id,
            "type": RequestType.BROADCAST,
            "packet": {"type": 2, "data": payload, "nsp": namespace},
            "opts": {"rooms": rooms, "except": except_rooms, "flags": flags},
        })
        await self.connection.publish(self.channels.request(namespace), message)

    async def _emit_with_callback(
        self,
        namespace: str,
        payload: list[Any],
        rooms: list[Any],
        except_rooms: list[Any],
        callback: Callable[..., Any],
    ) -> None:
        """python-socketio's emit callback, for one sid on any server."""
        if len(rooms) != 1:
            raise ValueError("callbacks are only supported when emitting to a single sid")
        index = self._indexes.get(namespace)
        if index is not None and self._has_sid(namespace, rooms[0]):
            self._deliver_with_acks(index, namespace, payload, rooms, except_rooms, callback)
            return

        def done(waiter: AckWaiter) -> None:
            if waiter.responses:
                result = callback(waiter.responses[0])
                if inspect.isawaitable(result):
                    self._schedule(result)

        waiter = AckWaiter(
            self._ack_requests, new_uid(), self.callback_timeout, single=True, on_done=done
        )
        try:
            await self._publish_ack_request(
                namespace, waiter.request_id, payload, rooms, except_rooms,
                {"timeout": int(self.callback_timeout * 1000), "expectSingleResponse": True},
            )
        except BaseException:
            waiter.cancel()
            raise

    # -- the responder side ----------------------------------------------

    def _on_request(self, nsp: str, request: dict[str, Any]) -> None:
        kind = request.get("type")
        request_id = request.get("requestId")
        if kind in (RequestType.REMOTE_JOIN, RequestType.REMOTE_LEAVE,
                    RequestType.REMOTE_DISCONNECT):
            if request.get("uid") != self.uid:  # ours were applied when sent
                pending = self._apply_socket_request(nsp, kind, request)
                if pending is not None:
                    self._schedule(pending)
        elif kind == RequestType.BROADCAST:
            self._on_broadcast_request(nsp, request)
        elif kind == RequestType.SERVER_SIDE_EMIT:
            self._on_server_side_emit(nsp, request)
        elif kind in (RequestType.SOCKETS, RequestType.ALL_ROOMS, RequestType.REMOTE_FETCH):
            if not isinstance(request_id, str):
                raise MalformedMessage("a request without requestId")
            if request_id in self._requests:
                return  # our own request
            if kind == RequestType.ALL_ROOMS:
                answer: dict[str, Any] = {"rooms": list(self._local_rooms(nsp))}
            elif kind == RequestType.REMOTE_FETCH:
                opts = request.get("opts")
                if not isinstance(opts, dict):
                    raise MalformedMessage("opts is not a map")
                answer = {"sockets": self._local_socket_details(nsp, opts)}
            else:
                rooms = codec.parse_rooms(request.get("rooms"), "rooms")
                index = self._indexes.get(nsp)
                answer = {"sockets": list(index.select(rooms, None)) if index else []}
            self._schedule(self._respond(nsp, request, {"requestId": request_id, **answer}))
        else:
            self._get_logger().debug("ignoring request of type %r", kind)

    def _apply_socket_request(
        self, nsp: str, kind: int, request: dict[str, Any]
    ) -> Coroutine[Any, Any, None] | None:
        """Apply a join/leave/disconnect request to this server's sockets.

        Joins and leaves happen now (a malformed request raises
        ``MalformedMessage`` before anything changes); the disconnects and the
        legacy form's response come back as a coroutine to run.
        """
        index = self._indexes.get(nsp)
        if index is None:
            return None
        if "sid" in request:  # the legacy by-sid form: only the owner answers
            sid = request["sid"]
            if not isinstance(sid, str) or sid not in index.rooms[None]:
                return None
            targets = [sid]
            rooms = [request.get("room")]
        else:
            opts = request.get("opts") or {}
            if not isinstance(opts, dict):
                raise MalformedMessage("opts is not a map")
            targets = list(index.select(
                codec.parse_rooms(opts.get("rooms"), "rooms"),
                codec.parse_rooms(opts.get("except"), "except"),
            ))
            rooms = (
                codec.parse_rooms(request.get("rooms"), "rooms")
                if kind != RequestType.REMOTE_DISCONNECT else []
            )
        for sid in targets:
            for room in rooms:
                if kind == RequestType.REMOTE_JOIN:
                    try:
                        self.basic_enter_room(sid, nsp, room)
                    except ValueError as exc:
                        self._get_logger().debug("cannot join %s to %r: %s", sid, room, exc)
                else:
                    self.basic_leave_room(sid, nsp, room)
        close = bool(request.get("close"))
        disconnect = targets if kind == RequestType.REMOTE_DISCONNECT else []
        request_id = request.get("requestId") if "sid" in request else None
        if not disconnect and not isinstance(request_id, str):
            return None
        return self._finish_socket_request(nsp, index, disconnect, close, request, request_id)

    async def _finish_socket_request(
        self, nsp: str, index: RoomIndex, disconnect: list[str], close: bool,
        request: dict[str, Any], request_id: Any,
    ) -> None:
        for sid in disconnect:
            eio_sid = index.rooms[None].get(sid)
            await self.server.disconnect(sid, namespace=nsp, ignore_queue=True)
            if close and eio_sid is not None:
                await self.server.eio.disconnect(eio_sid)
        if isinstance(request_id, str):
            await self._respond(nsp, request, {"requestId": request_id})

    def _on_broadcast_request(self, nsp: str, request: dict[str, Any]) -> None:
        request_id = request.get("requestId")
        if not isinstance(request_id, str):
            raise MalformedMessage("a broadcast request without requestId")
        if request_id in self._ack_requests:
            return  # our own
        message = parse_broadcast(
            [request.get("uid"), request.get("packet"), request.get("opts")]
        )
        index = self._indexes.get(nsp)
        count = 0
        if index is not None:
            def on_ack(*args: Any) -> None:
                self._schedule(self._respond(
                    nsp, request,
                    {"type": RequestType.BROADCAST_ACK, "requestId": request_id,
                     "packet": args[0] if args else None},
                    use_parser=True,
                ))

            timeout = message.flags.get("timeout")
            expires = (
                timeout / 1000 if isinstance(timeout, (int, float)) and timeout > 0
                else self.callback_timeout
            )
            count = self._deliver_with_acks(
                index, nsp, message.data, message.rooms, message.except_rooms, on_ack, expires
            )
        self._schedule(self._respond(
            nsp, request,
            {"type": RequestType.BROADCAST_CLIENT_COUNT, "requestId": request_id,
             "clientCount": count},
        ))

    def _on_server_side_emit(self, nsp: str, request: dict[str, Any]) -> None:
        if request.get("uid") == self.uid:
            return
        data = request.get("data")
        if not isinstance(data, list) or not data or not isinstance(data[0], str):
            raise MalformedMessage("a server-side event without [event, ...args]")
        handler = self._server_side_handlers.get((nsp, data[0]))
        if handler is None:
            self._get_logger().debug("no handler for server-side event %r", data[0])
            return
        request_id = request.get("requestId")
        self._schedule(self._run_server_side_handler(
            nsp, handler, data[1:], request_id if isinstance(request_id, str) else None
        ))

    async def _run_server_side_handler(
        self, nsp: str, handler: ServerSideHandler, args: list[Any], request_id: str | None
    ) -> None:
        result = handler(*args)
        if inspect.isawaitable(result):
            result = await result
        if request_id is not None:
            # Node always answers server-side events on the shared channel
            await self.connection.publish(
                self.channels.response(nsp),
                codec.json_dumps(
                    {"type": RequestType.SERVER_SIDE_EMIT, "requestId": request_id,
                     "data": result}
                ),
            )

    def _on_response(self, response: dict[str, Any]) -> None:
        request_id = response.get("requestId")
        if not isinstance(request_id, str):
            return
        ack = self._ack_requests.get(request_id)
        if ack is not None:
            kind = response.get("type")
            if kind == RequestType.BROADCAST_CLIENT_COUNT:
                count = response.get("clientCount")
                ack.add_count(count if isinstance(count, int) else 0)
            elif kind == RequestType.BROADCAST_ACK:
                ack.add_ack(response.get("packet"))
            return
        waiter = self._requests.get(request_id)
        if waiter is None:
            return
        if waiter.kind == RequestType.ALL_ROOMS:
            rooms = response.get("rooms")
            if isinstance(rooms, list):
                waiter.add([room for room in rooms if not isinstance(room, (list, dict))])
        elif waiter.kind == RequestType.REMOTE_FETCH:
            sockets = response.get("sockets")
            if isinstance(sockets, list):
                waiter.add([s for s in sockets if isinstance(s, dict) and "id" in s])
        elif waiter.kind == RequestType.SERVER_SIDE_EMIT:
            waiter.add(response.get("data"))

    # -- local answers -------------------------------------------------

    def _local_rooms(self, nsp: str) -> set[Any]:
        index = self._indexes.get(nsp)
        return {room for room in index.rooms if room is not None} if index else set()

    def _local_socket_details(self, nsp: str, opts: dict[str, Any]) -> list[dict[str, Any]]:
        index = self._indexes.get(nsp)
        if index is None:
            return []
        selected = index.select(
            codec.parse_rooms(opts.get("rooms"), "rooms"),
            codec.parse_rooms(opts.get("except"), "except"),
        )
        details = []
        sockets = self.server.eio.sockets
        for sid, eio_sid in selected.items():
            socket = sockets.get(eio_sid)
            environ = self.server.environ.get(eio_sid, {})
            session = socket.session.get(nsp, {}) if socket is not None else {}
            details.append({
                "id": sid,
                "handshake": handshake_from_environ(environ),
                "rooms": index.rooms_of(sid),
                "data": session.get("data") if isinstance(session, dict) else None,
            })
        return details

    # -- publishing ------------------------------------------------------

    async def _publish_request(self, nsp: str, request: dict[str, Any]) -> None:
        await self.connection.publish(self.channels.request(nsp), codec.json_dumps(request))

    async def _respond(
        self, nsp: str, request: dict[str, Any], response: dict[str, Any],
        use_parser: bool = False,
    ) -> None:
        uid = request.get("uid")
        if self.publish_on_specific_response_channel and isinstance(uid, str):
            channel = self.channels.specific_response(nsp, uid)
        else:
            channel = self.channels.response(nsp)
        data = self.parser.encode(response) if use_parser else codec.json_dumps(response)
        await self.connection.publish(channel, data)


__all__ = ["ClusterMixin", "RequestTimeoutError", "as_args", "as_rooms"]
