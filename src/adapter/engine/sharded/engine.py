"""The cross-server engine of the sharded protocol (Node's ``createShardedAdapter``).

socket.io-adapter's ``ClusterAdapter`` semantics: every message that is not a
response goes to ``P#NSP#`` (a one-room broadcast to the room's channel in
the dynamic modes), responses to the requester's ``P#NSP#<uid>#``; a
request expects ``SHARDNUMSUB - 1`` answers; joins, leaves and disconnects
are published first and then applied here, and a server ignores its own
messages.  The engine reaches Redis only through a
:class:`~..transport.base.ShardedTransport` and this server only through a
:class:`LocalSide`, as the classic engine does, and shares its waiters,
:class:`PendingRequests` and the :class:`Answer` model.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ...core.clock import Clock
from ...core.remote_socket import RemoteSocket, SocketOperations
from ...core.tasks import Spawner
from ...protocol.requests import RequestType, Selector
from ...protocol.rooms import room_list
from ...protocol.sharded import (
    RESPONSE_TYPES,
    ClusterMessage,
    MessageType,
    disconnect_sockets_data,
    fetch_sockets_data,
    new_server_uid,
    opts,
    server_side_emit_data,
    sockets_join_data,
    sockets_leave_data,
)
from ...protocol.sharded_codec import ShardedCodec
from ...transport.base import ShardedTransport
from ..answers import Answer, carry_out
from ..base import EngineBase
from ..local_side import LocalSide, join_or_leave
from .responder import ShardedResponder


def _timeout_message(got: int, want: int) -> str:
    return f"timeout reached: only {got} responses received out of {want}"


class ShardedEngine(EngineBase):
    """Every cross-server operation of the sharded protocol, both sides.

    :param codec: the server's sharded codec.
    :param transport: publishes (SPUBLISH) and counts subscribers (SHARDNUMSUB).

    The other parameters are :class:`~.base.EngineBase`'s.
    """

    def __init__(
        self,
        codec: ShardedCodec,
        transport: ShardedTransport,
        local: LocalSide,
        server_ops: SocketOperations,
        tasks: Spawner,
        disconnect: Callable[[str, str, bool], Any],
        *,
        requests_timeout: float,
        callback_timeout: float,
        logger: Callable[[], logging.Logger],
        clock: Clock | None = None,
    ) -> None:
        super().__init__(
            local, server_ops, tasks, disconnect, requests_timeout=requests_timeout,
            callback_timeout=callback_timeout, logger=logger, clock=clock,
        )
        self.codec = codec
        self.transport = transport
        self.responder = ShardedResponder(
            codec, local, self.handlers, self._send_later,
            callback_timeout=callback_timeout, logger=logger,
        )

    # -- incoming --------------------------------------------------------

    def on_message(self, nsp: str, message: ClusterMessage) -> None:
        """Act on one message of another server (raises ``MalformedMessage`` for a bad one)."""
        if message.type in RESPONSE_TYPES:
            self.on_response(message)
            return
        answer = self.responder.on_message(nsp, message)
        if answer:
            self.tasks.spawn(self.carry_out(answer))

    def on_response(self, message: ClusterMessage) -> None:
        """Feed a response to the request it answers."""
        data = message.data
        request_id = data.get("requestId")
        kind = message.type
        if kind == MessageType.FETCH_SOCKETS_RESPONSE:
            self.pending.sockets(request_id, data.get("sockets"))
        elif kind == MessageType.SERVER_SIDE_EMIT_RESPONSE:
            self.pending.reply(request_id, data.get("packet"))
        elif kind == MessageType.BROADCAST_CLIENT_COUNT:
            self.pending.client_count(request_id, data.get("clientCount"))
        elif kind == MessageType.BROADCAST_ACK:
            self.pending.client_ack(request_id, data.get("packet"))

    async def carry_out(self, answer: Answer) -> None:
        await carry_out(answer, self.transport.spublish, self._disconnect)

    # -- asking the other servers -------------------------------------------

    async def server_count(self, nsp: str) -> int:
        return await self.transport.shardnumsub(self.codec.channels.main(nsp))

    async def fetch_sockets(self, nsp: str, selector: Selector, local: bool
                            ) -> list[RemoteSocket]:
        details = self.local.describe(nsp, selector)
        if not local:
            for sockets in await self._fetch(nsp, selector):
                details.extend(sockets)
        return [self.remote_socket(self.server_ops, nsp, item) for item in details]

    async def all_rooms(self, nsp: str, local: bool) -> set[Any]:
        """Every room with a socket: the sharded protocol has no rooms request, so the
        rooms of every socket of the other servers (FETCH_SOCKETS) are added up."""
        rooms = self.local.rooms(nsp)
        if not local:
            for sockets in await self._fetch(nsp, Selector([], [])):
                for socket in sockets:
                    found = socket.get("rooms")
                    if isinstance(found, list):
                        rooms.update(r for r in found if not isinstance(r, (list, dict)))
        return rooms

    async def sockets_join(self, nsp: str, selector: Selector, rooms: Any, local: bool) -> None:
        rooms = room_list(rooms)
        if not local:
            await self._publish(nsp, MessageType.SOCKETS_JOIN,
                                sockets_join_data(self._opts(selector), rooms))
        join_or_leave(self.local, nsp, list(self.local.select(nsp, selector)), rooms, True,
                      self._logger)

    async def sockets_leave(self, nsp: str, selector: Selector, rooms: Any, local: bool) -> None:
        rooms = room_list(rooms)
        if not local:
            await self._publish(nsp, MessageType.SOCKETS_LEAVE,
                                sockets_leave_data(self._opts(selector), rooms))
        join_or_leave(self.local, nsp, list(self.local.select(nsp, selector)), rooms, False,
                      self._logger)

    async def disconnect_sockets(self, nsp: str, selector: Selector, close: bool, local: bool
                                 ) -> None:
        if not local:
            await self._publish(nsp, MessageType.DISCONNECT_SOCKETS,
                                disconnect_sockets_data(self._opts(selector), close))
        for sid in list(self.local.select(nsp, selector)):
            await self._disconnect(nsp, sid, close)

    async def server_side_emit(self, nsp: str, data: list[Any]) -> None:
        await self._publish(nsp, MessageType.SERVER_SIDE_EMIT, server_side_emit_data(data))

    async def server_side_call(self, nsp: str, data: list[Any]) -> list[Any]:
        return await self._ask_servers(
            nsp, RequestType.SERVER_SIDE_EMIT,
            lambda request_id: (MessageType.SERVER_SIDE_EMIT,
                                server_side_emit_data(data, request_id)),
        )

    # -- helpers -------------------------------------------------------------

    @staticmethod
    def _opts(selector: Selector) -> dict[str, Any]:
        return opts(selector.rooms, selector.except_rooms, {})

    async def _fetch(self, nsp: str, selector: Selector) -> list[Any]:
        return await self._ask_servers(
            nsp, RequestType.REMOTE_FETCH,
            lambda request_id: (MessageType.FETCH_SOCKETS,
                                fetch_sockets_data(self._opts(selector), request_id)),
        )

    async def _ask_servers(
        self, nsp: str, kind: RequestType,
        build: Callable[[str], tuple[MessageType, dict[str, Any]]],
    ) -> list[Any]:
        """Ask every other server; return each one's answer."""
        async def send(request_id: str) -> None:
            await self._publish(nsp, *build(request_id))

        return await self._ask(nsp, kind, send, _timeout_message)

    def _new_request_id(self) -> str:
        return new_server_uid()

    async def _publish_reply(self, channel: bytes, payload: bytes) -> Any:
        return await self.transport.spublish(channel, payload)

    async def _publish_ack_request(
        self, nsp: str, request_id: str, payload: list[Any], rooms: list[Any],
        except_rooms: list[Any], flags: dict[str, Any],
    ) -> None:
        channel, message = self.codec.encode_broadcast(
            nsp, payload, rooms, except_rooms, flags, request_id
        )
        await self.transport.spublish(channel, message)

    async def _publish(self, nsp: str, kind: MessageType, data: dict[str, Any]) -> None:
        await self.transport.spublish(
            self.codec.channels.main(nsp), self.codec.encode(kind, data, nsp)
        )


__all__ = ["ShardedEngine"]
