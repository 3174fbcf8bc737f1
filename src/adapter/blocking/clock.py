"""Deadlines and signals for a synchronous manager, on the server's own events and tasks.

:class:`BlockingClock` is the :class:`~..core.clock.Clock` of a synchronous
manager: its signals block the waiting thread (or greenlet) on an event of
the server's async mode (``server.eio.create_event()``), and its timers run
in one background task of the server that sleeps until the next deadline.
Answers (the listener), deadlines (the timer task) and ``close()`` (a
request thread) may settle a signal at once: the first one wins.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from ..core.clock import Cancellable, Signal
from ..core.waiters import AdapterClosedError

logger = logging.getLogger("socketio_redis_adapter")

_RESULT, _ERROR, _CANCELLED = 1, 2, 3


class BlockingSignal:
    """A :class:`~..core.clock.Signal` whose ``outcome()`` blocks until it is settled."""

    __slots__ = ("_event", "_lock", "_state", "_value")

    def __init__(self, event: Any) -> None:
        self._event = event
        self._lock = threading.Lock()
        self._state = 0
        self._value: Any = None

    def done(self) -> bool:
        return self._state != 0

    def _settle(self, state: int, value: Any) -> bool:
        with self._lock:
            if self._state:
                return False
            self._state, self._value = state, value
        self._event.set()
        return True

    def settle(self, result: Any, error: BaseException | None) -> bool:
        return self._settle(_RESULT, result) if error is None else self._settle(_ERROR, error)

    def cancel(self) -> bool:
        return self._settle(_CANCELLED, None)

    async def outcome(self) -> Any:
        """Block until settled (a coroutine that never suspends; see :mod:`..completion`)."""
        self._event.wait()
        if self._state == _RESULT:
            return self._value
        if self._state == _ERROR:
            raise self._value
        raise AdapterClosedError("the wait was cancelled")


class _Timer:
    __slots__ = ("when", "callback", "args", "cancelled")

    def __init__(self, when: float, callback: Callable[..., None], args: tuple[Any, ...]
                 ) -> None:
        self.when = when
        self.callback = callback
        self.args = args
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class BlockingClock:
    """Timers in one background task of the server, and blocking signals.

    The timer task starts with the first timer and sleeps on a server event
    until the next deadline (at most a second), so it follows the server's
    async mode.  Callbacks run in that task; one that raises is logged.

    :meth:`bind` it to the ``socketio.Server`` (its ``eio.create_event`` and
    ``start_background_task``) before the first timer or signal.
    """

    #: the most cancelled timers kept in the heap before it is rebuilt without them
    max_cancelled = 1024

    def __init__(self) -> None:
        self._server: Any = None
        self._heap: list[tuple[float, int, _Timer]] = []
        self._order = itertools.count()
        self._lock = threading.Lock()
        self._wake: Any = None
        self._started = False
        self._closed = False

    def bind(self, server: Any) -> None:
        """Use ``server``'s events and background tasks."""
        self._server = server
        self._wake = server.eio.create_event()

    def signal(self) -> Signal:
        return BlockingSignal(self._server.eio.create_event())

    def call_later(self, delay: float, callback: Callable[..., None], *args: Any
                   ) -> Cancellable:
        timer = _Timer(time.monotonic() + delay, callback, args)
        with self._lock:
            earliest = not self._heap or timer.when < self._heap[0][0]
            heapq.heappush(self._heap, (timer.when, next(self._order), timer))
            start = not self._started and not self._closed
            self._started = self._started or start
            if len(self._heap) > self.max_cancelled and self._compact_needed():
                self._heap = [entry for entry in self._heap if not entry[2].cancelled]
                heapq.heapify(self._heap)
        if start:
            self._server.start_background_task(self._run)
        elif earliest:
            self._wake.set()
        return timer

    def _compact_needed(self) -> bool:
        cancelled = sum(1 for entry in self._heap if entry[2].cancelled)
        return cancelled > self.max_cancelled or cancelled * 2 > len(self._heap)

    def __len__(self) -> int:
        """Timers not yet run or cancelled."""
        with self._lock:
            return sum(1 for entry in self._heap if not entry[2].cancelled)

    def _due(self) -> tuple[list[_Timer], float]:
        """Take the timers that are due; return them and the seconds to the next one."""
        now = time.monotonic()
        due = []
        with self._lock:
            heap = self._heap
            while heap and (heap[0][0] <= now or heap[0][2].cancelled):
                timer = heapq.heappop(heap)[2]
                if not timer.cancelled:
                    due.append(timer)
            wait = min(heap[0][0] - now, 1.0) if heap else 1.0
        return due, max(wait, 0.0)

    def _run(self) -> None:
        while not self._closed:
            self._wake.clear()
            due, wait = self._due()
            for timer in due:
                try:
                    timer.callback(*timer.args)
                except Exception:
                    logger.exception("error in an adapter timer")
            if not due:
                self._wake.wait(timeout=wait)

    def close(self) -> None:
        """Stop the timer task; timers not run yet never run."""
        self._closed = True
        with self._lock:
            self._heap.clear()
        if self._wake is not None:
            self._wake.set()


__all__ = ["BlockingClock", "BlockingSignal"]
