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

import logging
from collections.abc import Callable
from typing import Any

from ...core.clock import Clock
from ...core.remote_socket import RemoteSocket, SocketOperations
from ...core.tasks import Spawner
from ...protocol.classic import ClassicCodec
from ...protocol.requests import (
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
from ...protocol.rooms import room_list
from ...transport.base import PubSubTransport, abilities
from ...uid import new_uid
from ..answers import Answer, carry_out
from ..base import EngineBase
from ..local_side import LocalSide
from .responder import Responder


class ClassicEngine(EngineBase):
    """Every cross-server operation of the classic protocol, both sides.

    :param codec: the server's codec.
    :param transport: publishes and counts subscribers.
    :param specific_response_channel: answer on the requester's own channel.

    The other parameters are :class:`~.base.EngineBase`'s.
    """

    def __init__(
        self,
        codec: ClassicCodec,
        transport: PubSubTransport,
        local: LocalSide,
        server_ops: SocketOperations,
        tasks: Spawner,
        disconnect: Callable[[str, str, bool], Any],
        *,
        requests_timeout: float,
        callback_timeout: float,
        specific_response_channel: bool,
        logger: Callable[[], logging.Logger],
        clock: Clock | None = None,
    ) -> None:
        super().__init__(
            local, server_ops, tasks, disconnect, requests_timeout=requests_timeout,
            callback_timeout=callback_timeout, logger=logger, clock=clock,
        )
        self.codec = codec
        self.transport = transport
        #: what the transport can do beyond its interface (``count_and_publish``)
        self.abilities = abilities(transport)
        self.responder = Responder(
            codec, local, self.pending, self.handlers, self._send_later,
            specific_response_channel=specific_response_channel,
            callback_timeout=callback_timeout, logger=logger,
        )

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
        await carry_out(answer, self.transport.publish, self._disconnect)

    # -- asking the other servers -------------------------------------------

    async def server_count(self, nsp: str) -> int:
        return await self.transport.numsub(self.codec.channels.request(nsp))

    async def fetch_sockets(self, nsp: str, selector: Selector, local: bool
                            ) -> list[RemoteSocket]:
        details = self.local.describe(nsp, selector)
        if not local:
            for response in await self._ask_request(
                nsp, RequestType.REMOTE_FETCH, "fetchSockets",
                lambda request_id: fetch_request(self.codec.uid, request_id, selector),
            ):
                details.extend(response)
        return [self.remote_socket(self.server_ops, nsp, item) for item in details]

    async def all_rooms(self, nsp: str, local: bool) -> set[Any]:
        rooms = self.local.rooms(nsp)
        if not local:
            for response in await self._ask_request(
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
        return await self._ask_request(
            nsp, RequestType.SERVER_SIDE_EMIT, "",
            lambda request_id: server_side_request(self.codec.uid, data, request_id),
            lambda got, want: f"timeout reached: only {got} responses received out of {want}",
        )

    # -- helpers -------------------------------------------------------------

    async def _ask_request(
        self, nsp: str, kind: RequestType, what: str,
        build: Callable[[str], dict[str, Any]],
        timeout_message: Callable[[int, int], str] | None = None,
    ) -> list[Any]:
        """Ask every other server a classic request; return the payload of each response.

        On a transport that :attr:`~.TransportAbilities.counts_and_publishes` the
        request goes out with the ``PUBSUB NUMSUB`` that counts the servers, in one
        round trip.
        """
        message = timeout_message or (
            lambda got, want: f"timeout reached while waiting for {what} response"
        )
        if self.abilities.counts_and_publishes:
            count_and_publish = self.abilities.count_and_publish
            channel = self.codec.channels.request(nsp)

            async def publish(request_id: str) -> int:
                payload = self.codec.encode_json(build(request_id))
                return int(await count_and_publish(channel, payload))

            return await self._ask_counting(nsp, kind, publish, message)

        async def send(request_id: str) -> None:
            await self._publish_request(nsp, build(request_id))

        return await super()._ask(nsp, kind, send, message)

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

    def _new_request_id(self) -> str:
        return new_uid()

    def _callback_flags(self) -> dict[str, Any]:
        return {"timeout": int(self.callback_timeout * 1000), "expectSingleResponse": True}

    async def _publish_reply(self, channel: bytes, payload: bytes) -> Any:
        return await self.transport.publish(channel, payload)

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
