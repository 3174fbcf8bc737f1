"""Joins, leaves and disconnects of this server's sockets, as any flavour's requests ask."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from .host import LocalSide


def join_or_leave(
    local: LocalSide, nsp: str, sids: Iterable[str], rooms: list[Any], join: bool,
    logger: Callable[[], logging.Logger],
) -> None:
    """Put each local socket of ``sids`` in (``join``) or out of every room of ``rooms``.

    A room a socket cannot join (another socket's own room) is logged and skipped.
    """
    for sid in sids:
        for room in rooms:
            if not join:
                local.leave(nsp, sid, room)
                continue
            try:
                local.join(nsp, sid, room)
            except ValueError as exc:
                logger().debug("cannot join %s to %r: %s", sid, room, exc)


__all__ = ["join_or_leave"]
