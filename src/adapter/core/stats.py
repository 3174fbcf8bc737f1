"""The adapter's own counters, and one snapshot of every counter."""

from __future__ import annotations

from collections.abc import Mapping


class Counters:
    """What a manager counts itself (the transport and router count the rest).

    :ivar received: messages accepted from Redis (broadcasts, requests, responses).
    :ivar published: broadcasts published.
    :ivar malformed: messages that could not be used (logged and ignored).
    :ivar delivered: deliveries to this server's clients.
    """

    __slots__ = ("received", "published", "malformed", "delivered")

    def __init__(self) -> None:
        self.received = 0
        self.published = 0
        self.malformed = 0
        self.delivered = 0

    def snapshot(self, *others: Mapping[str, int]) -> dict[str, int]:
        """Return these counters and ``others`` (later ones win) as one dict."""
        values = {name: getattr(self, name) for name in self.__slots__}
        for other in others:
            values.update(other)
        return values


__all__ = ["Counters"]
