"""What every asyncio cross-server engine shares, whatever its protocol.

The waiting (requests that expect one answer per other server, broadcasts
with acks, emits with a callback to a socket on another server), the local
half of a broadcast with acks, and the bookkeeping (:class:`PendingRequests`,
server-side event handlers, background tasks).  A flavour's engine adds how
its messages are built and published: the cross-server API
(:meth:`EngineBase.server_count`, :meth:`EngineBase.fetch_sockets`...,
which the managers' methods of the same names delegate to),
:meth:`EngineBase._publish_ack_request`, :meth:`EngineBase._publish_reply`
and the ids and flags it uses.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from ..core.clock import Clock
from ..core.remote_socket import RemoteSocket, SocketOperations
from ..core.tasks import Spawner
from ..core.waiters import AckWaiter
from ..protocol.requests import Selector
from .answers import Reply, ServerSideHandler
from .local_side import LocalSide
from .pending import PendingRequests

TimeoutMessage = Callable[[int, int], str]


class EngineBase:
    """The flavour-independent half of an engine (see the module doc).

    :param local: this server's sockets.
    :param server_ops: the manager's public API, for the ``RemoteSocket``\\ s
                       it returns.
    :param tasks: where background work runs.
    :param disconnect: ``disconnect(nsp, sid, close)`` disconnects a local
                       socket (and its whole connection when ``close``).
    :param requests_timeout: seconds to wait for the other servers' answers.
    :param callback_timeout: seconds after which an unanswered callback of an
                             emit to a socket on another server is dropped.
    :param clock: the waiters' deadlines and signals (the running event
                  loop's when omitted; a synchronous manager gives its own).
    """

    def __init__(
        self,
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
        self.local = local
        self.server_ops = server_ops
        self.tasks = tasks
        self.requests_timeout = requests_timeout
        self.callback_timeout = callback_timeout
        self.pending = PendingRequests(clock)
        #: the class of the sockets ``fetch_sockets`` returns (a blocking one in a sync manager)
        self.remote_socket: type[RemoteSocket] = RemoteSocket
        self.handlers: dict[tuple[str, str], ServerSideHandler] = {}
        self._disconnect = disconnect
        self._logger = logger

    def close(self) -> None:
        self.pending.cancel_all()

    def table_sizes(self) -> dict[str, int]:
        """The open requests (:meth:`PendingRequests.table_sizes`) and
        ``server_side_handlers``."""
        return {**self.pending.table_sizes(), "server_side_handlers": len(self.handlers)}

    # -- what a flavour provides: the cross-server API ------------------------------

    async def server_count(self, nsp: str) -> int:
        raise NotImplementedError

    async def fetch_sockets(self, nsp: str, selector: Selector, local: bool
                            ) -> list[RemoteSocket]:
        raise NotImplementedError

    async def all_rooms(self, nsp: str, local: bool) -> set[Any]:
        raise NotImplementedError

    async def sockets_join(self, nsp: str, selector: Selector, rooms: Any, local: bool) -> None:
        raise NotImplementedError

    async def sockets_leave(self, nsp: str, selector: Selector, rooms: Any, local: bool) -> None:
        raise NotImplementedError

    async def disconnect_sockets(self, nsp: str, selector: Selector, close: bool, local: bool
                                 ) -> None:
        raise NotImplementedError

    async def server_side_emit(self, nsp: str, data: list[Any]) -> None:
        raise NotImplementedError

    async def server_side_call(self, nsp: str, data: list[Any]) -> list[Any]:
        raise NotImplementedError

    # -- and how its messages are made and sent ----------------------------------

    def _new_request_id(self) -> str:
        raise NotImplementedError

    async def _publish_ack_request(
        self, nsp: str, request_id: str, payload: list[Any], rooms: list[Any],
        except_rooms: list[Any], flags: dict[str, Any],
    ) -> None:
        raise NotImplementedError

    async def _publish_reply(self, channel: bytes, payload: bytes) -> Any:
        raise NotImplementedError

    def _callback_flags(self) -> dict[str, Any]:
        """The flags of the broadcast that carries an emit with a callback."""
        return {"timeout": int(self.callback_timeout * 1000)}

    # -- shared flows ------------------------------------------------------------

    def _send_later(self, reply: Reply) -> None:
        self.tasks.spawn(self._publish_reply(reply.channel, reply.payload))

    async def emit_with_ack(
        self, nsp: str, payload: list[Any], rooms: list[Any], except_rooms: list[Any],
        timeout: float, local: bool,
    ) -> list[Any]:
        """Deliver here and (unless ``local``) everywhere; return every client's ack."""
        waiter = self.pending.wait_for_acks(self._new_request_id(), timeout)
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

        waiter = self.pending.wait_for_acks(
            self._new_request_id(), self.callback_timeout, single=True, on_done=done,
        )
        try:
            await self._publish_ack_request(
                nsp, waiter.request_id, payload, rooms, except_rooms, self._callback_flags()
            )
        except BaseException:
            waiter.cancel()
            raise

    async def _ask(
        self, nsp: str, kind: int, send: Callable[[str], Awaitable[None]],
        timeout_message: TimeoutMessage,
    ) -> list[Any]:
        """Ask every other server (``send(request_id)`` publishes); return each answer."""
        expected = await self.server_count(nsp) - 1
        if expected <= 0:
            return []
        request_id = self._new_request_id()
        waiter = self.pending.wait_for_responses(
            request_id, kind, expected, self.requests_timeout, timeout_message,
        )
        try:
            await send(request_id)
        except BaseException:
            waiter.cancel()
            raise
        return await waiter.wait()

    async def _ask_counting(
        self, nsp: str, kind: int, publish: Callable[[str], Awaitable[int]],
        timeout_message: TimeoutMessage,
    ) -> list[Any]:
        """:meth:`_ask` in one round trip, for a transport that can: ``publish(request_id)``
        sends the request with the command that counts the servers and returns the
        count (so the request goes out when no other server is there to answer it)."""
        request_id = self._new_request_id()
        waiter = self.pending.wait_for_responses(
            request_id, kind, None, self.requests_timeout, timeout_message,
        )
        try:
            servers = await publish(request_id)
        except BaseException:
            waiter.cancel()
            raise
        waiter.expect(servers - 1)
        return await waiter.wait()

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


__all__ = ["EngineBase"]
