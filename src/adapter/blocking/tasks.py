"""Background work of a synchronous manager, on the server's own tasks.

The cross-server engine is written once, as coroutines; a synchronous manager
runs each to its end with :func:`~..completion.run_to_completion` (nothing it
awaits there ever suspends).  :class:`ServerTasks` is the engine's ``Spawner``
there: each coroutine runs to completion in a task of the server's own kind
(thread, greenlet).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from ..completion import run_to_completion


class ServerTasks:
    """Background work of a synchronous manager, on the server's own tasks.

    ``spawn(awaitable)`` runs it to completion in a background task of the
    server (``server.start_background_task``: a thread, a gevent greenlet
    or an eventlet green thread, by the server's async mode); failures are
    logged.  Threads cannot be cancelled: :meth:`close` refuses new work and
    waits (bounded) for the running work to end.

    :param logger: returns the logger for failures.

    :meth:`bind` it to the ``socketio.Server`` before the first ``spawn``.
    """

    def __init__(self, logger: Callable[[], logging.Logger]) -> None:
        self._server: Any = None
        self._logger = logger
        self._lock = threading.Lock()
        self._running = 0
        self._closed = False

    def bind(self, server: Any) -> None:
        """Run work as ``server``'s background tasks."""
        self._server = server

    def __len__(self) -> int:
        return self._running

    def table_sizes(self) -> dict[str, int]:
        """``background_tasks``: the work still running."""
        return {"background_tasks": self._running}

    def spawn(self, awaitable: Awaitable[Any]) -> None:
        """Run ``awaitable`` to completion in a background task of the server."""
        if self._closed:
            close = getattr(awaitable, "close", None)
            if close is not None:
                close()  # never started: no "was never awaited" warning
            return
        with self._lock:
            self._running += 1
        self._server.start_background_task(self._run, awaitable)

    def _run(self, awaitable: Awaitable[Any]) -> None:
        try:
            run_to_completion(awaitable)
        except Exception as exc:
            self._logger().error("adapter task failed: %r", exc)
        finally:
            with self._lock:
                self._running -= 1

    def close(self, timeout: float = 5.0) -> None:
        """Start no more work; wait up to ``timeout`` seconds for what runs."""
        self._closed = True
        waited = 0.0
        while self._running and waited < timeout and self._server is not None:
            self._server.sleep(0.01)
            waited += 0.01


__all__ = ["ServerTasks"]
