"""Timers and completion signals: what waiting needs, for asyncio managers and blocking ones.

A :class:`~.waiters.ResponseWaiter` or :class:`~.waiters.AckWaiter` waits
for other servers through a :class:`Clock`: a deadline (``call_later``) and
a :class:`Signal` that is settled once, by the first of its outcomes (every
answer came, the deadline passed, the adapter closed).  :class:`AsyncioClock`
gives the running event loop's timers and futures; a synchronous manager
gives its own clock, whose signals block the waiting thread or greenlet
(``core/sync_clock.py``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol


class Cancellable(Protocol):
    """A scheduled callback."""

    def cancel(self) -> None: ...


class Signal(Protocol):
    """The outcome of one wait, settled once: a result, an error, or cancelled."""

    def done(self) -> bool:
        """True once settled."""

    def settle(self, result: Any, error: BaseException | None) -> bool:
        """Settle with ``error`` (when not None) or ``result``; False if it already was."""

    def cancel(self) -> bool:
        """Settle as cancelled; False if it already was settled."""

    async def outcome(self) -> Any:
        """The result, or raise the error (``CancelledError`` when cancelled)."""


class Clock(Protocol):
    """Deadlines and signals for one manager."""

    def call_later(self, delay: float, callback: Callable[..., None], *args: Any
                   ) -> Cancellable: ...

    def signal(self) -> Signal: ...


class _FutureSignal:
    """A :class:`Signal` on an asyncio future."""

    __slots__ = ("_future",)

    def __init__(self, future: asyncio.Future[Any]) -> None:
        self._future = future

    def done(self) -> bool:
        return self._future.done()

    def settle(self, result: Any, error: BaseException | None) -> bool:
        future = self._future
        if future.done():
            return False
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)
            future.exception()  # retrieved: a callback's waiter has nobody awaiting it
        return True

    def cancel(self) -> bool:
        return self._future.cancel()

    async def outcome(self) -> Any:
        return await self._future


class AsyncioClock:
    """The running event loop's timers and futures (asyncio managers)."""

    __slots__ = ()

    def call_later(self, delay: float, callback: Callable[..., None], *args: Any
                   ) -> Cancellable:
        return asyncio.get_running_loop().call_later(delay, callback, *args)

    def signal(self) -> Signal:
        return _FutureSignal(asyncio.get_running_loop().create_future())


__all__ = ["AsyncioClock", "Cancellable", "Clock", "Signal"]
