"""The cross-server API of a synchronous manager: the asyncio one, run to completion.

Every method of :class:`~.api.AsyncClusterAPI` asks only the engine, whose
coroutines never suspend in a synchronous manager (its transport and
waiters block instead, see ``core/blocking.py``); each is offered here as a
blocking method with the same name, arguments and result.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from typing import Any

from ..completion import run_to_completion
from .api import AsyncClusterAPI

_COROUTINE_NOTE = "\n\n        Note: this method is a coroutine.\n"


def blocking(method: Callable[..., Coroutine[Any, Any, Any]]) -> Any:
    """A blocking method that runs the coroutine method ``method`` to completion."""

    @functools.wraps(method)
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        return run_to_completion(method(self, *args, **kwargs))

    call.__doc__ = (method.__doc__ or "").replace(_COROUTINE_NOTE, "\n")
    return call


class SyncClusterAPI(AsyncClusterAPI):
    """``fetch_sockets``, ``all_rooms``, ``sockets_join``... as blocking methods (see
    :class:`~.api.AsyncClusterAPI` for each)."""

    can_disconnect = blocking(AsyncClusterAPI.can_disconnect)
    disconnect = blocking(AsyncClusterAPI.disconnect)
    enter_room = blocking(AsyncClusterAPI.enter_room)
    leave_room = blocking(AsyncClusterAPI.leave_room)
    close_room = blocking(AsyncClusterAPI.close_room)
    server_count = blocking(AsyncClusterAPI.server_count)
    fetch_sockets = blocking(AsyncClusterAPI.fetch_sockets)
    all_rooms = blocking(AsyncClusterAPI.all_rooms)
    sockets_join = blocking(AsyncClusterAPI.sockets_join)
    sockets_leave = blocking(AsyncClusterAPI.sockets_leave)
    disconnect_sockets = blocking(AsyncClusterAPI.disconnect_sockets)
    server_side_emit = blocking(AsyncClusterAPI.server_side_emit)
    server_side_call = blocking(AsyncClusterAPI.server_side_call)
    emit_with_ack = blocking(AsyncClusterAPI.emit_with_ack)


__all__ = ["SyncClusterAPI", "blocking"]
