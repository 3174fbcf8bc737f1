"""Background tasks a manager starts: referenced until done, logged when they fail."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol


class Spawner(Protocol):
    """Runs awaitables in the background (asyncio tasks, or threads and greenlets)."""

    def spawn(self, awaitable: Awaitable[Any]) -> Any: ...


class BackgroundTasks:
    """Run awaitables in the background without losing them.

    asyncio keeps only a weak reference to a task, so a task nobody holds may
    be collected mid-run; this set holds each one until it is done.  A task
    that fails is logged; :meth:`close` cancels what is still running and
    waits for it.

    :param logger: returns the logger for failures (read at failure time, so
                   it may change after the set is made).
    """

    __slots__ = ("_tasks", "_logger")

    def __init__(self, logger: Callable[[], logging.Logger]) -> None:
        self._tasks: set[asyncio.Future[Any]] = set()
        self._logger = logger

    def __len__(self) -> int:
        return len(self._tasks)

    def table_sizes(self) -> dict[str, int]:
        """``background_tasks``: the tasks still running."""
        return {"background_tasks": len(self._tasks)}

    def spawn(self, awaitable: Awaitable[Any]) -> asyncio.Future[Any]:
        """Start ``awaitable`` now and keep it until it is done."""
        task = asyncio.ensure_future(awaitable)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Future[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._logger().error("adapter task failed: %r", task.exception())

    async def close(self) -> None:
        """Cancel every task still running and wait until they all ended."""
        current = asyncio.current_task()
        tasks = [task for task in self._tasks if task is not current]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)


__all__ = ["BackgroundTasks", "Spawner"]
