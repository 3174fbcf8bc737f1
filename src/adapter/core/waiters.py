"""Waiting for other servers: pending requests, their responses and timeouts.

Nothing here knows Redis or Socket.IO; the adapter opens a waiter before it
publishes a request, feeds it the responses it receives, and awaits it.
Every waiter removes itself from its registry when it completes, fails or
times out, so nothing is left behind.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .clock import Clock


class RequestTimeoutError(TimeoutError):
    """Not every server answered in time.

    :ivar responses: the responses that did arrive.
    """

    def __init__(self, message: str, responses: list[Any]) -> None:
        super().__init__(message)
        self.responses = responses


class AdapterClosedError(ConnectionError):
    """The adapter was closed while this was waiting (for other servers'
    answers, for acknowledgements) or before it could be published."""


class _Waiter:
    """A signal with a deadline that leaves its registry when it is settled.

    Settled once, by the first outcome (complete, expire, cancel, fail):
    only that one takes the waiter out of its registry and runs what
    settling runs, even where answers, the deadline and ``close()`` come
    from different threads (a synchronous manager).
    """

    __slots__ = ("request_id", "responses", "_signal", "_timer", "_registry")

    def __init__(self, registry: dict[str, Any], request_id: str, timeout: float,
                 clock: Clock) -> None:
        self.request_id = request_id
        self.responses: list[Any] = []
        self._registry = registry
        self._signal = clock.signal()
        registry[request_id] = self
        self._timer = clock.call_later(timeout, self._expire)

    @property
    def done(self) -> bool:
        return self._signal.done()

    def _timeout_message(self) -> str:
        raise NotImplementedError

    def _complete(self) -> None:
        if self._signal.settle(self.responses, None):
            self._finish()

    def _expire(self) -> None:
        if self._signal.settle(None, RequestTimeoutError(self._timeout_message(),
                                                         self.responses)):
            self._finish()

    def cancel(self) -> None:
        """Give up waiting (the request failed to go out, or the adapter is closing)."""
        if self._signal.cancel():
            self._finish()

    def fail(self, error: BaseException) -> None:
        """End the wait with ``error`` (the adapter is closing)."""
        if self._signal.settle(None, error):
            self._finish()

    def _finish(self) -> None:
        self._timer.cancel()
        if self._registry.get(self.request_id) is self:
            del self._registry[self.request_id]

    async def wait(self) -> list[Any]:
        """Return every response, or raise :class:`RequestTimeoutError`."""
        result: list[Any] = await self._signal.outcome()
        return result


class ResponseWaiter(_Waiter):
    """Collects responses to one request until ``expected`` arrived.

    ``expected`` may be None when the waiter opens (the request went out with
    the command that counts the servers): responses are kept, and
    :meth:`expect` says how many to wait for once it is known.

    :param registry: the dict (request id -> waiter) the waiter removes itself
                     from when it is done.
    :param timeout_message: builds the error message from (received,
                            expected).
    """

    __slots__ = ("kind", "expected", "_message")

    def __init__(
        self,
        registry: dict[str, Any],
        request_id: str,
        kind: int,
        expected: int | None,
        timeout: float,
        timeout_message: Callable[[int, int], str],
        clock: Clock,
    ) -> None:
        self.kind = kind
        self.expected = expected
        self._message = timeout_message
        super().__init__(registry, request_id, timeout, clock)
        if expected is not None and expected <= 0:
            self._complete()

    def expect(self, expected: int) -> None:
        """Wait for ``expected`` responses (those already in count)."""
        self.expected = expected
        if not self._signal.done() and len(self.responses) >= expected:
            self._complete()

    def add(self, response: Any) -> None:
        """Record one server's response."""
        if not self._signal.done():
            self.responses.append(response)
            if self.expected is not None and len(self.responses) >= self.expected:
                self._complete()

    def _timeout_message(self) -> str:
        return self._message(len(self.responses), self.expected or 0)


class AckWaiter(_Waiter):
    """Collects client acknowledgements of a broadcast across servers.

    It completes when every server reported how many clients it sent the
    event to (``BROADCAST_CLIENT_COUNT``) and that many acknowledgements
    (``BROADCAST_ACK``) arrived, as Socket.IO does; with ``single`` it
    completes with the first acknowledgement.  ``expected_servers`` may be
    set after the waiter was opened (Node counts servers after publishing).
    ``on_done`` is called once the waiter is settled, whichever way.
    """

    __slots__ = ("single", "_clients", "_servers", "_expected_servers", "_on_done")

    def __init__(
        self,
        registry: dict[str, Any],
        request_id: str,
        timeout: float,
        clock: Clock,
        *,
        single: bool = False,
        on_done: Callable[[AckWaiter], None] | None = None,
    ) -> None:
        self.single = single
        self._clients = 0
        self._servers = 0
        self._expected_servers: int | None = None
        self._on_done = on_done
        super().__init__(registry, request_id, timeout, clock)

    def add_count(self, clients: int) -> None:
        """Record one server's client count (the local server counts too)."""
        self._servers += 1
        self._clients += clients
        self._check()

    def expect_servers(self, servers: int) -> None:
        self._expected_servers = servers
        self._check()

    def add_ack(self, response: Any) -> None:
        if not self._signal.done():
            self.responses.append(response)
            self._check()

    def _check(self) -> None:
        if self._signal.done():
            return
        if self.single:
            if self.responses:
                self._complete()
        elif (
            self._expected_servers is not None
            and self._servers >= self._expected_servers
            and len(self.responses) >= self._clients
        ):
            self._complete()

    def _timeout_message(self) -> str:
        return "operation has timed out"

    def _finish(self) -> None:
        super()._finish()
        if self._on_done is not None:
            self._on_done(self)
