"""One wrapper around python-engineio's ``_websocket_handler``, for the servers that ask.

Direct frames (:mod:`.thread_writer` for threading mode, :mod:`.async_writer`
for asyncio servers) adopt each websocket client as python-engineio starts
serving it.  The socket class's ``_websocket_handler`` is wrapped once per
process; the wrapper acts only for an Engine.IO server that has an owner
(:func:`set_owner`), so other servers in the process are not affected.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

_lock = threading.Lock()
_ORIGINAL = "_socketio_redis_adapter_original_websocket_handler"
_OWNER = "_socketio_redis_adapter_direct_frames"


def hook_websocket_handler(socket_class: type, make_handler: Callable[[Any], Any]) -> None:
    """Replace ``socket_class._websocket_handler`` by ``make_handler(original)``, once."""
    with _lock:
        if _ORIGINAL not in vars(socket_class):
            original = socket_class._websocket_handler  # type: ignore[attr-defined]
            setattr(socket_class, _ORIGINAL, original)
            socket_class._websocket_handler = make_handler(original)  # type: ignore


def owner_of(eio_server: Any) -> Any:
    """What adopts ``eio_server``'s websocket clients, or None."""
    return getattr(eio_server, _OWNER, None)


def set_owner(eio_server: Any, owner: Any, only_if: Any = None) -> None:
    """Let ``owner`` adopt ``eio_server``'s websocket clients (None: nobody).  With
    ``only_if``, only while that is the current owner."""
    if only_if is not None and owner_of(eio_server) is not only_if:
        return
    if owner is None:
        if hasattr(eio_server, _OWNER):
            delattr(eio_server, _OWNER)
    else:
        setattr(eio_server, _OWNER, owner)


__all__ = ["hook_websocket_handler", "owner_of", "set_owner"]
