"""The classic subscriptions of a server: per namespace, one pattern and three channels."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Iterable
from typing import Any

from ...protocol.channels import Channels
from ...transport.base import PubSubTransport
from ..flavour import report_subscription


class ClassicSubscriptions:
    """Subscribe each namespace like a Node server, in the background.

    ``key#nsp#*`` (broadcasts), ``key-request#nsp#``, ``key-response#nsp#``
    and ``key-response#nsp#<uid>#``.  Each namespace's subscription is a
    future that :meth:`wait` awaits (and retries when it failed).
    """

    __slots__ = ("transport", "channels", "uid", "_futures", "_logger", "started", "closed")

    def __init__(self, transport: PubSubTransport, channels: Channels, uid: str,
                 logger: Callable[[], logging.Logger]) -> None:
        self.transport = transport
        self.channels = channels
        self.uid = uid
        self._futures: dict[str, asyncio.Future[None]] = {}
        self._logger = logger
        self.started = False
        self.closed = False

    def start(self, namespaces: Iterable[str]) -> None:
        """Subscribe ``namespaces`` now, and from now on each namespace :meth:`add` gets."""
        self.started = True
        for nsp in namespaces:
            self.add(nsp)

    def add(self, nsp: str, index: Any = None) -> None:
        """Subscribe ``nsp`` once started (nothing when it is under way or done); the
        classic channels are per namespace, not per room (``index`` is not read)."""
        if nsp in self._futures or self.closed or not self.started:
            return
        future = asyncio.ensure_future(self._subscribe(nsp))
        future.add_done_callback(functools.partial(self._subscribed, nsp))
        self._futures[nsp] = future

    async def wait(self) -> None:
        """Wait until Redis confirmed every namespace; retry the ones that failed."""
        for nsp, future in list(self._futures.items()):
            if future.done() and (future.cancelled() or future.exception() is not None):
                del self._futures[nsp]
                self.add(nsp)
        await asyncio.gather(*self._futures.values())

    def room_created(self, nsp: str, room: Any, is_sid_room: bool) -> None:
        """Nothing: a classic server subscribes every room of a namespace at once."""

    def room_deleted(self, nsp: str, room: Any) -> None:
        """Nothing (see :meth:`room_created`)."""

    def table_sizes(self) -> dict[str, int]:
        """``subscribed_namespaces``: the namespaces subscribed or being subscribed."""
        return {"subscribed_namespaces": len(self._futures)}

    def close(self) -> None:
        self.closed = True
        for future in self._futures.values():
            future.cancel()

    async def _subscribe(self, nsp: str) -> None:
        channels = self.channels
        await self.transport.psubscribe(channels.broadcast_pattern(nsp))
        await self.transport.subscribe(
            channels.request(nsp), channels.response(nsp), channels.specific_response(nsp, self.uid)
        )

    def _subscribed(self, nsp: str, future: asyncio.Future[None]) -> None:
        report_subscription(self._logger(), nsp, future)


__all__ = ["ClassicSubscriptions"]
