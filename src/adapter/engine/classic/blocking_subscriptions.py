"""The classic subscriptions of a synchronous server, made on its blocking transport."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ...protocol.channels import Channels


class BlockingClassicSubscriptions:
    """Subscribe each namespace like a Node server: ``key#nsp#*``, ``key-request#nsp#``,
    ``key-response#nsp#`` and ``key-response#nsp#<uid>#``.

    :param transport: a blocking transport (``psubscribe``/``subscribe`` with
                      ``wait``, ``start()`` for its listener).
    :param channels: the codec's channel names.
    :param uid: this server's uid (its own response channel).
    """

    __slots__ = ("transport", "channels", "uid", "started", "_subscribed")

    def __init__(self, transport: Any, channels: Channels, uid: str) -> None:
        self.transport = transport
        self.channels = channels
        self.uid = uid
        self.started = False
        #: namespaces subscribed (or being subscribed)
        self._subscribed: set[str] = set()

    def start(self, namespaces: Iterable[str], wait: bool) -> None:
        """Subscribe ``namespaces`` (each namespace :meth:`add` gets from now on too);
        with ``wait``, block until Redis confirmed each (again, if it was)."""
        self.started = True
        for nsp in list(namespaces):
            self._subscribe(nsp, wait)

    def add(self, nsp: str, index: Any = None) -> None:
        """Subscribe a new namespace in the background, once started."""
        if self.started:
            self._subscribe(nsp, wait=False)

    def room_created(self, nsp: str, room: Any, is_sid_room: bool) -> None:
        """Nothing: a classic server subscribes every room of a namespace at once."""

    def room_deleted(self, nsp: str, room: Any) -> None:
        """Nothing (see :meth:`room_created`)."""

    def table_sizes(self) -> dict[str, int]:
        """``subscribed_namespaces``: the namespaces subscribed or being subscribed."""
        return {"subscribed_namespaces": len(self._subscribed)}

    def _subscribe(self, nsp: str, wait: bool) -> None:
        if nsp in self._subscribed and not wait:
            return
        self._subscribed.add(nsp)
        channels, transport = self.channels, self.transport
        transport.psubscribe(channels.broadcast_pattern(nsp), wait=wait)
        transport.subscribe(
            channels.request(nsp), channels.response(nsp),
            channels.specific_response(nsp, self.uid), wait=wait,
        )
        if not wait:
            transport.start()


__all__ = ["BlockingClassicSubscriptions"]
