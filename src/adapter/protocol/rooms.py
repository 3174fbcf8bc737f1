"""Rooms as the protocol knows them: names that are strings or numbers.

One rule serves every caller that takes rooms from a user (the managers'
``to``/``except_rooms``/``sockets_join``... and the emitters' ``to()``/
``except_()``...): one room, or an iterable of rooms, where a room is a
``str``, ``int`` or ``float`` (not ``bool``), as Node's ``Room`` type.  A
second rule, :func:`parse_rooms`, reads room lists that arrive on the wire.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .errors import MalformedMessage


def is_room(value: Any) -> bool:
    """True for a room name: a ``str``, ``int`` or ``float`` that is not a ``bool``."""
    return isinstance(value, (str, int, float)) and not isinstance(value, bool)


def _checked(room: Any) -> Any:
    if is_room(room):
        return room
    raise TypeError(f"a room is a str or a number, not {type(room).__name__}")


def room_list(value: Any, *, none_is_empty: bool = True) -> list[Any]:
    """Return the rooms of a room argument as a list.

    :param value: a room, or an iterable of rooms (``None`` is no room when
                  ``none_is_empty``).
    :param none_is_empty: ``False`` where a room must be named (an emitter's
                          ``to(None)`` is an error).

    Raises ``TypeError`` for anything that is not a room or an iterable of
    rooms (``bytes``, a ``dict``, ``bool``...).
    """
    kind = type(value)
    if kind is str or kind is int:  # the common case, without a call (emit's hot path)
        return [value]
    if value is None and none_is_empty:
        return []
    if isinstance(value, (str, bytes, bytearray, dict)) or not isinstance(value, Iterable):
        return [_checked(value)]
    return [_checked(room) for room in value]


def sid_list(value: Any) -> list[Any]:
    """python-socketio's ``skip_sid``: a sid, a list of sids, or None (None items skipped)."""
    if value is None:
        return []
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_checked(sid) for sid in value if sid is not None]
    return [_checked(value)]


def room_text(room: Any) -> str:
    """Return a room's name as it appears in a channel (JavaScript ``String()``)."""
    if isinstance(room, str):
        return room
    if isinstance(room, bool):
        return "true" if room else "false"
    if isinstance(room, float) and room.is_integer():
        return str(int(room))
    return str(room)


def parse_rooms(value: Any, what: str) -> list[Any]:
    """Read a room list from a decoded message (``opts.rooms``, ``opts.except``...).

    ``None`` is no room.  Raises ``MalformedMessage`` for anything else that
    is not a list of room names.
    """
    if value is None:
        return []
    if not isinstance(value, (list, tuple)) or not all(is_room(room) for room in value):
        raise MalformedMessage(f"opts.{what} is not a list of room names")
    return list(value)


__all__ = ["is_room", "parse_rooms", "room_list", "room_text", "sid_list"]
