"""Helpers shared by the tests of mixed Node/Python clusters."""

from __future__ import annotations

from typing import Any

from socketio_redis_adapter import AsyncRedisAdapter, AsyncShardedRedisAdapter

from .node_peer import NodePeer


async def emit_from(
    sender: str,
    node: NodePeer,
    adapter: AsyncRedisAdapter | AsyncShardedRedisAdapter,
    event: str,
    args: list[Any],
    *,
    nsp: str = "/",
    rooms: list[Any] | None = None,
    except_rooms: list[Any] | None = None,
    local: bool = False,
) -> None:
    """Broadcast the same event from the Node peer (``"node"``) or a Python adapter."""
    if sender == "node":
        await node.command(
            "emit", nsp=nsp, event=event, args=args, rooms=rooms or [],
            except_=except_rooms or [], local=local,
        )
    else:
        await adapter.emit(
            event, tuple(args), nsp, to=rooms, except_rooms=except_rooms, ignore_queue=local
        )
