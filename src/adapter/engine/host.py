"""The narrow interface between a cross-server engine and its manager.

The engine never touches the manager's own attributes: it asks a
:class:`LocalSide` about this server's sockets and hands back
:class:`Answer` objects, the replies to publish and the work to do, so an
asyncio manager and a synchronous one can carry them out each its own way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
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


@dataclass(slots=True)
class Reply:
    """A message to publish."""

    channel: bytes
    payload: bytes


@dataclass(slots=True)
class ServerSideCall:
    """A server-side event handler to run; ``reply(result)`` answers the sender, if it waits."""

    handler: Callable[..., Any]
    args: list[Any]
    reply: Callable[[Any], Reply] | None


@dataclass(slots=True)
class Answer:
    """What a request asks of this server, beyond what was already done.

    Carry out in this order: publish ``replies``; disconnect ``disconnect``
    (the sids of namespace ``nsp``, their whole connection when ``close``);
    publish ``after``; run ``call``.
    """

    nsp: str
    replies: list[Reply] = field(default_factory=list)
    disconnect: list[str] = field(default_factory=list)
    close: bool = False
    after: list[Reply] = field(default_factory=list)
    call: ServerSideCall | None = None

    def __bool__(self) -> bool:
        return bool(self.replies or self.disconnect or self.after or self.call)


__all__ = ["AckCallback", "Answer", "LocalSide", "Reply", "ServerSideCall"]
