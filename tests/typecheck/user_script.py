"""A user's script, for the py.typed check: type-checked, never run.

scripts/check_dist.sh runs ``mypy --strict`` on this file against the package
installed from the sdist (not the checkout): the package must ship ``py.typed``
and its public names must carry their types (``assert_type`` fails on ``Any``,
and an unused ``type: ignore`` fails under ``--strict``).
"""

from __future__ import annotations

import logging
from typing import assert_type

import socketio_redis_adapter
from socketio_redis_adapter import (
    FASTPATH,
    AsyncRedisAdapter,
    Emitter,
    OfflineQueue,
    RedisAdapter,
    SyncEmitter,
)

assert_type(FASTPATH, bool)
assert_type(socketio_redis_adapter.__version__, str)
not_a_str: str = FASTPATH  # type: ignore[assignment]


def make_managers() -> tuple[AsyncRedisAdapter, RedisAdapter]:
    """The two adapters, as a server would create them."""
    async_manager = AsyncRedisAdapter(
        "redis://127.0.0.1:6379/0",
        key="socket.io",
        offline_queue=OfflineQueue(),
        logger=logging.getLogger("app"),
    )
    sync_manager = RedisAdapter("redis://127.0.0.1:6379/0", key="socket.io")
    return async_manager, sync_manager


async def notify(room: str) -> None:
    """Emit from a worker through the asyncio emitter."""
    async with Emitter("redis://127.0.0.1:6379/0") as emitter:
        chat = emitter.of("/chat")
        assert_type(chat, Emitter)
        await chat.to(room).except_("muted").emit("news", {"text": "hello"})
        await emitter.server_side_emit("ping", 1)


def notify_sync(room: str) -> None:
    """Emit from a worker through the blocking emitter."""
    with SyncEmitter("redis://127.0.0.1:6379/0") as emitter:
        assert_type(emitter.to(room), SyncEmitter)
        emitter.to(room).volatile.emit("news", "hello")
