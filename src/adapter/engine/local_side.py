"""This server as a cross-server engine sees it, and what any flavour's requests do to it.

The engine asks a :class:`LocalSide` about this server's sockets (the manager
implements it); :func:`join_or_leave` is the join/leave every flavour's requests share.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from ..protocol.requests import Selector

AckCallback = Callable[..., Any]


class LocalSide(Protocol):
    """This server as the engine sees it."""

    def has_namespace(self, nsp: str) -> bool:
        """True when a socket ever connected to ``nsp`` here."""

    def has_sid(self, nsp: str, sid: Any) -> bool:
        """True when the socket ``sid`` is connected to ``nsp`` here."""

    def select(self, nsp: str, selector: Selector) -> dict[str, str]:
        """``{sid: eio_sid}`` of the local sockets the selector picks."""

    def rooms(self, nsp: str) -> set[Any]:
        """Every local room of ``nsp``, sid rooms included."""

    def describe(self, nsp: str, selector: Selector, handshake_json: bool = False
                 ) -> list[dict[str, Any]]:
        """Node's ``SocketDetails`` of the local sockets the selector picks; with
        ``handshake_json``, each ``handshake`` is a ``JsonFragment`` (its JSON text,
        for ``json_dumps_spliced``)."""

    def join(self, nsp: str, sid: str, room: Any) -> None:
        """Put a local socket in a room (raises ``ValueError`` when it cannot)."""

    def leave(self, nsp: str, sid: str, room: Any) -> None:
        """Take a local socket out of a room."""

    def deliver_with_acks(
        self, nsp: str, payload: list[Any], rooms: list[Any], except_rooms: list[Any],
        on_ack: AckCallback, expires: float | None,
    ) -> int:
        """Send each selected local socket the event with its own packet id.

        ``on_ack`` gets each client's acknowledgement; ids still unanswered
        after ``expires`` seconds are forgotten.  Returns the client count.
        """


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


__all__ = ["AckCallback", "LocalSide", "join_or_leave"]
