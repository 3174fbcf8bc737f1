"""The namespace every room benchmark works on, and the churn they measure."""

from __future__ import annotations

from typing import Any


def fill(rooms: Any, size: int) -> Any:
    """Connect ``size`` sockets to ``rooms`` (anything with ``connect`` and ``join``).

    Socket ``i`` is ``sid-{i:08d}`` (Engine.IO ``eio-{i:08d}``) and is in rooms
    ``r{i % 10}`` and ``t{i % 100}``, so ``r1`` holds a tenth of the sockets
    and ``t11`` a hundredth, inside ``r1``.  Returns ``rooms``.
    """
    for i in range(size):
        sid = f"sid-{i:08d}"
        rooms.connect(sid, f"eio-{i:08d}")
        rooms.join(sid, f"r{i % 10}")
        rooms.join(sid, f"t{i % 100}")
    return rooms


def newcomer_cycle(rooms: Any) -> None:
    """A socket connects, joins three rooms and disconnects (``rooms`` as in ``fill``)."""
    rooms.connect("newcomer", "eio-newcomer")
    rooms.join("newcomer", "r1")
    rooms.join("newcomer", "t5")
    rooms.join("newcomer", "private")
    rooms.disconnect("newcomer")
