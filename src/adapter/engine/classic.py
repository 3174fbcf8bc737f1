"""The cross-server engine of the classic protocol, for asyncio managers.

Requests go to ``key-request#nsp#`` and responses come back on
``key-response#nsp#`` or the requester's ``key-response#nsp#<uid>#``.  The
engine asks the other servers (``fetch_sockets``, ``all_rooms``,
``sockets_join``... with :class:`PendingRequests` waiting for the answers)
and, through its :class:`Responder`, answers them.  It reaches Redis only
through ``transport`` (``publish`` and ``numsub``) and this server only
through a :class:`LocalSide`; background work goes to ``tasks``.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any

from ..core.remote_socket import RemoteSocket, SocketOperations
from ..core.tasks import BackgroundTasks
from ..core.waiters import AckWaiter, ResponseWaiter
from ..protocol.classic import ClassicCodec
from ..protocol.requests import (
    RequestType,
    Selector,
    SocketsRequest,
    ack_broadcast_request,
    all_rooms_request,
    disconnect_request,
    fetch_request,
    join_request,
    leave_request,
    server_side_request,
)
from ..protocol.rooms import room_list
from ..transport.base import PubSubTransport
from ..uid import new_uid
from .host import Answer, LocalSide, Reply
from .pending import PendingRequests
from .responder import Responder, ServerSideHandler


class ClassicEngine:
    """Every cross-server operation of the classic protocol, both sides.

    :param codec: the server's codec.
    :param transport: publishes and counts subscribers.
    :param local: this server's sockets.
    :param server_ops: the manager's public API, for the ``RemoteSocket``\\ s
                       it returns.
    :param tasks: where background work runs.
    :param disconnect: ``disconnect(nsp, sid, close)`` disconnects a local
                       socket (and its whole connection when ``close``).
    """

    def __init__(
        self,
        codec: ClassicCodec,
        transport: PubSubTransport,
        local: LocalSide,
        server_ops: SocketOperations,
        tasks: BackgroundTasks,
        disconnect: Callable[[str, str, bool], Any],
        *,
        requests_timeout: float,
        callback_timeout: float,
        specific_response_channel: bool,
        logger: Callable[[], logging.Logger],
    ) -> None:
        self.codec = codec
        self.transport = transport
        self.local = local
        self.server_ops = server_ops
        self.tasks = tasks
        self.requests_timeout = requests_timeout
        self.callback_timeout = callback_timeout
        self.pending = PendingRequests()
        self.handlers: dict[tuple[str, str], ServerSideHandler] = {}
        self._disconnect = disconnect
        self._logger = logger
        self.responder = Responder(
            codec, local, self.pending, self.handlers, self._send_later,
            specific_response_channel=specific_response_channel,
            callback_timeout=callback_timeout, logger=logger,
        )

    def close(self) -> None:
        self.pending.cancel_all()

    # -- incoming --------------------------------------------------------

    def on_request(self, nsp: str, request: dict[str, Any]) -> None:
        """Answer one decoded request (raises ``MalformedMessage`` for a bad one)."""
        answer = self.responder.on_request(nsp, request)
        if answer:
            self.tasks.spawn(self.carry_out(answer))

    def on_response(self, response: dict[str, Any]) -> None:
        self.pending.on_response(response)

    async def carry_out(self, answer: Answer) -> None:
        """Publish an answer's replies and do its work, in order."""
        for reply in answer.replies:
            await self.transport.publish(reply.channel, reply.payload)
        for sid in answer.disconnect:
            await self._disconnect(answer.nsp, sid, answer.close)
        for reply in answer.after:
            await self.transport.publish(reply.channel, reply.payload)
        call = answer.call
        if call is not None:
            result = call.handler(*call.args)
            if inspect.isawaitable(result):
                result = await result
            if call.reply is not None:
                reply = call.reply(result)
                await self.transport.publish(reply.channel, reply.payload)

    def _send_later(self, reply: Reply) -> None:
        self.tasks.spawn(self.transport.publish(reply.channel, reply.payload))

    # -- asking the other servers -------------------------------------------

    async def server_count(self, nsp: str) -> int:
        return await self.transport.numsub(self.codec.channels.request(nsp))

    async def fetch_sockets(self, nsp: str, selector: Selector, local: bool
                            ) -> list[RemoteSocket]:
        details = self.local.describe(nsp, selector)
        if not local:
            for response in await self._ask(
                nsp, RequestType.REMOTE_FETCH, "fetchSockets",
                lambda request_id: fetch_request(self.codec.uid, request_id, selector),
            ):
                details.extend(response)
        return [RemoteSocket(self.server_ops, nsp, item) for item in details]

    async def all_rooms(self, nsp: str, local: bool) -> set[Any]:
        rooms = self.local.rooms(nsp)
        if not local:
            for response in await self._ask(
                nsp, RequestType.ALL_ROOMS, "allRooms",
                lambda request_id: all_rooms_request(self.codec.uid, request_id),
            ):
                rooms.update(response)
        return rooms

    async def sockets_join(self, nsp: str, selector: Selector, rooms: Any, local: bool) -> None:
        request = join_request(self.codec.uid, selector, room_list(rooms))
        await self._sockets_request(nsp, RequestType.REMOTE_JOIN, request, local)

    async def sockets_leave(self, nsp: str, selector: Selector, rooms: Any, local: bool) -> None:
        request = leave_request(self.codec.uid, selector, room_list(rooms))
        await self._sockets_request(nsp, RequestType.REMOTE_LEAVE, request, local)

    async def disconnect_sockets(self, nsp: str, selector: Selector, close: bool, local: bool
                                 ) -> None:
        request = disconnect_request(self.codec.uid, selector, close)
        await self._sockets_request(nsp, RequestType.REMOTE_DISCONNECT, request, local)

    async def server_side_emit(self, nsp: str, data: list[Any]) -> None:
        await self._publish_request(nsp, server_side_request(self.codec.uid, data))

    async def server_side_call(self, nsp: str, data: list[Any]) -> list[Any]:
        return await self._ask(
            nsp, RequestType.SERVER_SIDE_EMIT, "",
            lambda request_id: server_side_request(self.codec.uid, data, request_id),
            lambda got, want: f"timeout reached: only {got} responses received out of {want}",
        )

    async def emit_with_ack(
        self, nsp: str, payload: list[Any], rooms: list[Any], except_rooms: list[Any],
        timeout: float, local: bool,
    ) -> list[Any]:
        waiter = AckWaiter(self.pending.acks, new_uid(), timeout)
        try:
            if not local:
                await self._publish_ack_request(
                    nsp, waiter.request_id, payload, rooms, except_rooms,
                    {"timeout": int(timeout * 1000)},
                )
            waiter.add_count(self._local_acks(nsp, payload, rooms, except_rooms, waiter, timeout))
            waiter.expect_servers(1 if local else await self.server_count(nsp))
        except BaseException:
            waiter.cancel()
            raise
        return await waiter.wait()

    async def emit_with_callback(
        self, nsp: str, payload: list[Any], rooms: list[Any], except_rooms: list[Any],
        callback: Callable[..., Any],
    ) -> None:
        """python-socketio's emit callback, for one sid on any server."""
        if len(rooms) != 1:
            raise ValueError("callbacks are only supported when emitting to a single sid")
        if self.local.has_sid(nsp, rooms[0]):
            self.local.deliver_with_acks(nsp, payload, rooms, except_rooms, callback, None)
            return

        def done(waiter: AckWaiter) -> None:
            if waiter.responses:
                result = callback(waiter.responses[0])
                if inspect.isawaitable(result):
                    self.tasks.spawn(result)

        waiter = AckWaiter(
            self.pending.acks, new_uid(), self.callback_timeout, single=True, on_done=done
        )
        try:
            await self._publish_ack_request(
                nsp, waiter.request_id, payload, rooms, except_rooms,
                {"timeout": int(self.callback_timeout * 1000), "expectSingleResponse": True},
            )
        except BaseException:
            waiter.cancel()
            raise

    # -- helpers -------------------------------------------------------------

    async def _ask(
        self, nsp: str, kind: RequestType, what: str,
        build: Callable[[str], dict[str, Any]],
        timeout_message: Callable[[int, int], str] | None = None,
    ) -> list[Any]:
        """Ask every other server; return the payload of each response."""
        expected = await self.server_count(nsp) - 1
        if expected <= 0:
            return []
        request_id = new_uid()
        waiter = ResponseWaiter(
            self.pending.requests, request_id, kind, expected, self.requests_timeout,
            timeout_message or (
                lambda got, want: f"timeout reached while waiting for {what} response"
            ),
        )
        try:
            await self._publish_request(nsp, build(request_id))
        except BaseException:
            waiter.cancel()
            raise
        return await waiter.wait()

    async def _sockets_request(
        self, nsp: str, kind: RequestType, request: dict[str, Any], local: bool
    ) -> None:
        selector = Selector(request["opts"]["rooms"], request["opts"]["except"])
        answer = self.responder.apply(nsp, SocketsRequest(
            kind, self.codec.uid, selector, request.get("rooms", []),
            bool(request.get("close")),
        ))
        if answer:
            await self.carry_out(answer)
        if not local:
            await self._publish_request(nsp, request)

    def _local_acks(
        self, nsp: str, payload: list[Any], rooms: list[Any], except_rooms: list[Any],
        waiter: AckWaiter, timeout: float,
    ) -> int:
        if not self.local.has_namespace(nsp):
            return 0
        return self.local.deliver_with_acks(
            nsp, payload, rooms, except_rooms,
            lambda *args: waiter.add_ack(args[0] if args else None), timeout,
        )

    async def _publish_ack_request(
        self, nsp: str, request_id: str, payload: list[Any], rooms: list[Any],
        except_rooms: list[Any], flags: dict[str, Any],
    ) -> None:
        message = self.codec.encode_with_parser(ack_broadcast_request(
            self.codec.uid, request_id, nsp, payload, rooms, except_rooms, flags
        ))
        await self.transport.publish(self.codec.channels.request(nsp), message)

    async def _publish_request(self, nsp: str, request: dict[str, Any]) -> None:
        await self.transport.publish(
            self.codec.channels.request(nsp), self.codec.encode_json(request)
        )


__all__ = ["ClassicEngine"]
