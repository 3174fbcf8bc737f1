"""The answering side of the classic protocol: what this server does with a request.

Joins, leaves and local deliveries happen at once; everything else comes
back as an :class:`~..answers.Answer` for the manager to carry out, so the same
responder serves an asyncio manager and a synchronous one.  Acks of a
broadcast request arrive later and go to ``send_later``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ...protocol.classic import ClassicCodec
from ...protocol.errors import MalformedMessage
from ...protocol.requests import (
    QUERY_REQUESTS,
    SOCKET_REQUESTS,
    RequestType,
    Selector,
    SocketsRequest,
    ack_response,
    client_count_response,
    done_response,
    read_kind,
    read_request_id,
    read_server_side_event,
    read_sockets_request,
    rooms_response,
    server_side_response,
    sockets_response,
)
from ..answers import Answer, Reply, ServerSideCall, ServerSideHandler
from ..local_side import LocalSide, join_or_leave
from ..pending import PendingRequests


class Responder:
    """Answers the classic requests of Node and Python servers (and emitters).

    :param codec: the server's codec (its uid, channels and parser).
    :param local: this server's sockets.
    :param pending: this server's own open requests, which it must not answer.
    :param handlers: ``(namespace, event) -> handler`` for server-side events.
    :param send_later: publishes a reply made after :meth:`on_request` returned
                       (a client's acknowledgement).
    :param specific_response_channel: answer on the requester's own channel.
    :param callback_timeout: seconds an acknowledgement is awaited when the
                             request gives no timeout.
    """

    def __init__(
        self,
        codec: ClassicCodec,
        local: LocalSide,
        pending: PendingRequests,
        handlers: dict[tuple[str, str], ServerSideHandler],
        send_later: Callable[[Reply], None],
        *,
        specific_response_channel: bool,
        callback_timeout: float,
        logger: Callable[[], logging.Logger],
    ) -> None:
        self.codec = codec
        self.local = local
        self.pending = pending
        self.handlers = handlers
        self.send_later = send_later
        self.specific_response_channel = specific_response_channel
        self.callback_timeout = callback_timeout
        self._logger = logger

    def on_request(self, nsp: str, request: dict[str, Any]) -> Answer:
        """Act on one decoded request; raise ``MalformedMessage`` before acting on a bad one."""
        kind = read_kind(request)
        if kind in SOCKET_REQUESTS:
            assert kind is not None
            if request.get("uid") == self.codec.uid:
                return Answer(nsp)  # ours were applied when sent
            return self.apply(nsp, read_sockets_request(kind, request), request.get("uid"))
        if kind == RequestType.BROADCAST:
            return self._broadcast(nsp, request)
        if kind == RequestType.SERVER_SIDE_EMIT:
            return self._server_side_event(nsp, request)
        if kind in QUERY_REQUESTS:
            request_id = read_request_id(request)
            if request_id in self.pending.requests:
                return Answer(nsp)  # our own request
            return Answer(nsp, replies=[self._query(nsp, kind, request, request_id)])
        self._logger().debug("ignoring request of type %r", request.get("type"))
        return Answer(nsp)

    # -- joins, leaves, disconnects ---------------------------------------

    def apply(self, nsp: str, request: SocketsRequest, requester: Any = None) -> Answer:
        """Apply a join/leave/disconnect to this server's sockets.

        Joins and leaves happen now; the disconnects (and the legacy form's
        reply) are in the answer.
        """
        answer = Answer(nsp)
        if not self.local.has_namespace(nsp):
            return answer
        if request.selector is None:  # the legacy by-sid form: only the owner answers
            if not isinstance(request.sid, str) or not self.local.has_sid(nsp, request.sid):
                return answer
            targets = [request.sid]
        else:
            targets = list(self.local.select(nsp, request.selector))
        if request.rooms:
            join_or_leave(self.local, nsp, targets, request.rooms,
                          request.kind == RequestType.REMOTE_JOIN, self._logger)
        if request.kind == RequestType.REMOTE_DISCONNECT:
            answer.disconnect = targets
            answer.close = request.close
        if request.request_id is not None:
            answer.after.append(self._reply(nsp, requester, done_response(request.request_id)))
        return answer

    # -- broadcasts with acks ---------------------------------------------

    def _broadcast(self, nsp: str, request: dict[str, Any]) -> Answer:
        request_id = request.get("requestId")
        if not isinstance(request_id, str):
            raise MalformedMessage("a broadcast request without requestId")
        if request_id in self.pending.acks:
            return Answer(nsp)  # our own
        message = self.codec.read_broadcast(
            [request.get("uid"), request.get("packet"), request.get("opts")]
        )
        requester = request.get("uid")
        count = 0
        if self.local.has_namespace(nsp):
            def on_ack(*args: Any) -> None:
                self.send_later(self._reply(
                    nsp, requester, ack_response(request_id, args[0] if args else None),
                    use_parser=True,
                ))

            timeout = message.flags.get("timeout")
            expires = (
                timeout / 1000 if isinstance(timeout, (int, float)) and timeout > 0
                else self.callback_timeout
            )
            count = self.local.deliver_with_acks(
                nsp, message.data, message.rooms, message.except_rooms, on_ack, expires
            )
        return Answer(nsp, replies=[
            self._reply(nsp, requester, client_count_response(request_id, count))
        ])

    # -- server-side events -------------------------------------------------

    def _server_side_event(self, nsp: str, request: dict[str, Any]) -> Answer:
        if request.get("uid") == self.codec.uid:
            return Answer(nsp)
        event = read_server_side_event(request)
        handler = self.handlers.get((nsp, event.event))
        if handler is None:
            self._logger().debug("no handler for server-side event %r", event.event)
            return Answer(nsp)
        request_id = event.request_id
        reply = None
        if request_id is not None:
            channel = self.codec.channels.response(nsp)

            def reply(result: Any) -> Reply:
                # Node always answers server-side events on the shared channel
                return Reply(channel, self.codec.encode_json(
                    server_side_response(request_id, result)
                ))

        return Answer(nsp, call=ServerSideCall(handler, event.args, reply))

    # -- queries -------------------------------------------------------------

    def _query(self, nsp: str, kind: RequestType, request: dict[str, Any], request_id: str
               ) -> Reply:
        if kind == RequestType.ALL_ROOMS:
            response = rooms_response(request_id, list(self.local.rooms(nsp)))
        elif kind == RequestType.REMOTE_FETCH:
            opts = request.get("opts")
            if not isinstance(opts, dict):
                raise MalformedMessage("opts is not a map")
            response = sockets_response(
                request_id, self.local.describe(nsp, Selector.read(opts), handshake_json=True)
            )
        else:
            selector = Selector.read({"rooms": request.get("rooms")})
            response = sockets_response(request_id, list(self.local.select(nsp, selector)))
        return self._reply(nsp, request.get("uid"), response)

    def _reply(self, nsp: str, requester: Any, response: dict[str, Any],
               use_parser: bool = False) -> Reply:
        channels = self.codec.channels
        if self.specific_response_channel and isinstance(requester, str):
            channel = channels.specific_response(nsp, requester)
        else:
            channel = channels.response(nsp)
        payload = (
            self.codec.encode_with_parser(response) if use_parser
            else self.codec.encode_json(response)
        )
        return Reply(channel, payload)


__all__ = ["Responder"]
