"""Requests this server is waiting on, and the responses that settle them.

Shared by every manager that asks other servers: nothing here does I/O or
awaits; responses are fed in as decoded maps and waiters settle themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..core.clock import AsyncioClock, Clock
from ..core.waiters import AckWaiter, AdapterClosedError, ResponseWaiter
from ..protocol.requests import RequestType, read_kind


class PendingRequests:
    """The open requests (``requests``) and broadcasts with acks (``acks``), by request id.

    :param clock: the deadlines and signals of the waiters (the running event
                  loop's by default; a synchronous manager gives its own).
    """

    __slots__ = ("requests", "acks", "clock")

    def __init__(self, clock: Clock | None = None) -> None:
        self.requests: dict[str, ResponseWaiter] = {}
        self.acks: dict[str, AckWaiter] = {}
        self.clock: Clock = clock if clock is not None else AsyncioClock()

    def wait_for_responses(
        self, request_id: str, kind: int, expected: int | None, timeout: float,
        timeout_message: Callable[[int, int], str],
    ) -> ResponseWaiter:
        """Open the waiter of a request that expects ``expected`` responses (None: not
        known yet, see :meth:`ResponseWaiter.expect`)."""
        return ResponseWaiter(self.requests, request_id, kind, expected, timeout,
                              timeout_message, self.clock)

    def wait_for_acks(
        self, request_id: str, timeout: float, *, single: bool = False,
        on_done: Callable[[AckWaiter], None] | None = None,
    ) -> AckWaiter:
        """Open the waiter of a broadcast with acks (see :class:`AckWaiter`)."""
        return AckWaiter(self.acks, request_id, timeout, self.clock, single=single,
                         on_done=on_done)

    def __contains__(self, request_id: object) -> bool:
        """True for a request or a broadcast with acks this server sent (and still waits on)."""
        return request_id in self.requests or request_id in self.acks

    def on_response(self, response: dict[str, Any]) -> None:
        """Feed one classic response (from any server) to the waiter it answers, if any."""
        request_id = response.get("requestId")
        if not isinstance(request_id, str):
            return
        if request_id in self.acks:
            kind = read_kind(response)
            if kind == RequestType.BROADCAST_CLIENT_COUNT:
                self.client_count(request_id, response.get("clientCount"))
            elif kind == RequestType.BROADCAST_ACK:
                self.client_ack(request_id, response.get("packet"))
            return
        waiter = self.requests.get(request_id)
        if waiter is None:
            return
        if waiter.kind == RequestType.ALL_ROOMS:
            rooms = response.get("rooms")
            if isinstance(rooms, list):
                waiter.add([room for room in rooms if not isinstance(room, (list, dict))])
        elif waiter.kind == RequestType.REMOTE_FETCH:
            self.sockets(request_id, response.get("sockets"))
        elif waiter.kind == RequestType.SERVER_SIDE_EMIT:
            waiter.add(response.get("data"))

    # -- typed feeds, shared by every flavour ---------------------------------

    def client_count(self, request_id: Any, count: Any) -> None:
        """A server's client count for a broadcast with acks (a bad count is 0)."""
        ack = self.acks.get(request_id) if isinstance(request_id, str) else None
        if ack is not None:
            ack.add_count(count if isinstance(count, int) and not isinstance(count, bool) else 0)

    def client_ack(self, request_id: Any, packet: Any) -> None:
        """One client's acknowledgement of a broadcast with acks."""
        ack = self.acks.get(request_id) if isinstance(request_id, str) else None
        if ack is not None:
            ack.add_ack(packet)

    def sockets(self, request_id: Any, sockets: Any) -> None:
        """A server's sockets for a fetch (entries that are not socket details are left out)."""
        waiter = self.requests.get(request_id) if isinstance(request_id, str) else None
        if waiter is not None and isinstance(sockets, list):
            waiter.add([s for s in sockets if isinstance(s, dict) and "id" in s])

    def reply(self, request_id: Any, value: Any) -> None:
        """A server's reply to a server-side event."""
        waiter = self.requests.get(request_id) if isinstance(request_id, str) else None
        if waiter is not None:
            waiter.add(value)

    def table_sizes(self) -> dict[str, int]:
        """``pending_requests`` and ``pending_acks``: the requests still waited on."""
        return {"pending_requests": len(self.requests), "pending_acks": len(self.acks)}

    def cancel_all(self) -> None:
        """End every open request with :class:`AdapterClosedError` (the manager is closing)."""
        for waiter in list(self.requests.values()):
            waiter.fail(AdapterClosedError(
                "the adapter was closed before every server answered"
            ))
        for ack in list(self.acks.values()):
            ack.fail(AdapterClosedError(
                "the adapter was closed before every acknowledgement arrived"
            ))


__all__ = ["PendingRequests"]
