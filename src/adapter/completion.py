"""Running a coroutine that never suspends to its end, in the calling thread.

The engine and the topologies are written once, as coroutines; a synchronous
manager gives them I/O that blocks instead of suspending, so one
``send(None)`` runs such a coroutine to its end (see :mod:`.manager.sync_base`).
A leaf module: every layer may import it.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


class SuspendedError(RuntimeError):
    """A coroutine run by :func:`run_to_completion` tried to suspend (a bug: in a
    synchronous manager everything it awaits must block instead)."""


def run_to_completion(awaitable: Awaitable[T]) -> T:
    """Run ``awaitable`` to its end in this thread and return its result.

    Raises what it raises, or :class:`SuspendedError` (after closing it) if
    it tried to suspend, as an asyncio primitive would.
    """
    steps = awaitable.__await__()
    try:
        steps.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    close = getattr(steps, "close", None)
    if close is not None:
        close()
    raise SuspendedError(f"{awaitable!r} suspended in a synchronous manager")


__all__ = ["SuspendedError", "run_to_completion"]
