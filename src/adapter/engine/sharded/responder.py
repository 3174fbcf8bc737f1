"""The answering side of the sharded protocol: what this server does with a message.

socket.io-adapter's ``ClusterAdapter.onMessage``: joins and leaves are
applied at once, broadcasts with acks are delivered at once (their client
count is the answer, the acks go to ``send_later`` as they come), and the
rest comes back as an :class:`~..answers.Answer` (disconnects, a fetch's
sockets, a server-side event to run) for the manager to carry out.
Responses go to the requester's own channel, ``P#NSP#<uid>#``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ...protocol.errors import MalformedMessage
from ...protocol.sharded import (
    ClusterMessage,
    MessageType,
    broadcast_ack_data,
    client_count_data,
    fetch_sockets_response_data,
    server_side_emit_response_data,
)
from ...protocol.sharded_codec import (
    ShardedCodec,
    read_broadcast,
    read_request_id,
    read_rooms,
    read_selector,
    read_server_side_event,
)
from ..answers import Answer, Reply, ServerSideCall, ServerSideHandler
from ..local_side import LocalSide, join_or_leave


class ShardedResponder:
    """Answers the sharded messages of Node and Python servers.

    :param codec: the server's sharded codec (its uid and channels).
    :param local: this server's sockets.
    :param handlers: ``(namespace, event) -> handler`` for server-side events.
    :param send_later: publishes a reply made after :meth:`on_message`
                       returned (a client's acknowledgement).
    :param callback_timeout: seconds an acknowledgement is awaited when the
                             broadcast gives no timeout.
    """

    def __init__(
        self,
        codec: ShardedCodec,
        local: LocalSide,
        handlers: dict[tuple[str, str], ServerSideHandler],
        send_later: Callable[[Reply], None],
        *,
        callback_timeout: float,
        logger: Callable[[], logging.Logger],
    ) -> None:
        self.codec = codec
        self.local = local
        self.handlers = handlers
        self.send_later = send_later
        self.callback_timeout = callback_timeout
        self._logger = logger

    def on_message(self, nsp: str, message: ClusterMessage) -> Answer:
        """Act on one message from another server; raise ``MalformedMessage`` before acting
        on a bad one."""
        kind = message.type
        data = message.data
        if kind == MessageType.BROADCAST:
            return self._broadcast(nsp, message)
        if kind in (MessageType.SOCKETS_JOIN, MessageType.SOCKETS_LEAVE):
            selector, rooms = read_selector(data), read_rooms(data)
            if self.local.has_namespace(nsp) and rooms:
                join_or_leave(self.local, nsp, list(self.local.select(nsp, selector)), rooms,
                              kind == MessageType.SOCKETS_JOIN, self._logger)
            return Answer(nsp)
        if kind == MessageType.DISCONNECT_SOCKETS:
            selector = read_selector(data)
            if not self.local.has_namespace(nsp):
                return Answer(nsp)
            return Answer(nsp, disconnect=list(self.local.select(nsp, selector)),
                          close=bool(data.get("close")))
        if kind == MessageType.FETCH_SOCKETS:
            selector, request_id = read_selector(data), read_request_id(data)
            assert request_id is not None
            sockets = self.local.describe(nsp, selector) if self.local.has_namespace(nsp) else []
            return Answer(nsp, replies=[self._reply(
                nsp, message.uid, MessageType.FETCH_SOCKETS_RESPONSE,
                fetch_sockets_response_data(request_id, sockets),
            )])
        if kind == MessageType.SERVER_SIDE_EMIT:
            return self._server_side_event(nsp, message)
        self._logger().debug("ignoring sharded message of type %r", kind)
        return Answer(nsp)

    def _broadcast(self, nsp: str, message: ClusterMessage) -> Answer:
        broadcast = read_broadcast(message, nsp)
        request_id = broadcast.request_id
        event = broadcast.message
        if request_id is None:  # plain broadcasts are delivered by the receiver
            return Answer(nsp)
        requester = message.uid
        count = 0
        if self.local.has_namespace(nsp):
            def on_ack(*args: Any) -> None:
                self.send_later(self._reply(
                    nsp, requester, MessageType.BROADCAST_ACK,
                    broadcast_ack_data(request_id, args[0] if args else None),
                ))

            timeout = event.flags.get("timeout")
            expires = (
                timeout / 1000 if isinstance(timeout, (int, float)) and timeout > 0
                else self.callback_timeout
            )
            count = self.local.deliver_with_acks(
                nsp, event.data, event.rooms, event.except_rooms, on_ack, expires
            )
        return Answer(nsp, replies=[self._reply(
            nsp, requester, MessageType.BROADCAST_CLIENT_COUNT,
            client_count_data(request_id, count),
        )])

    def _server_side_event(self, nsp: str, message: ClusterMessage) -> Answer:
        event, args, request_id = read_server_side_event(message.data)
        handler = self.handlers.get((nsp, event))
        if handler is None:
            self._logger().debug("no handler for server-side event %r", event)
            return Answer(nsp)
        reply = None
        if request_id is not None:
            requester = message.uid

            def reply(result: Any) -> Reply:
                return self._reply(nsp, requester, MessageType.SERVER_SIDE_EMIT_RESPONSE,
                                   server_side_emit_response_data(request_id, result))

        return Answer(nsp, call=ServerSideCall(handler, args, reply))

    def _reply(self, nsp: str, requester: Any, kind: MessageType, data: dict[str, Any]
               ) -> Reply:
        if not isinstance(requester, str) or not requester:
            raise MalformedMessage("a request without the requester's uid")
        return Reply(self.codec.channels.response(nsp, requester),
                     self.codec.encode(kind, data, nsp))


__all__ = ["ShardedResponder"]
