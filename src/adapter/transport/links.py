"""Command connections to the nodes of a topology: one per node, opened on demand."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from .endpoints import Address, ConnectionSettings, open_link
from .resp_connection import RespProtocol, decode_command, encode_command, logger


class NodeLinks:
    """One command connection per node, opened on first use and again after a loss.

    :param settings: how connections are opened (credentials, TLS).
    :param on_refused: given to each connection (see ``RespProtocol.on_refused``).

    A publish posted on a connection that is lost before Redis confirms it
    (or that its last read confirmed, see ``RespProtocol``) goes to
    :attr:`on_lost_posts` as ``(channel, data)``, in order, to be sent again;
    without a handler an unconfirmed one is logged and counted in :attr:`failures`.
    """

    __slots__ = ("settings", "on_refused", "on_lost_posts", "closed", "_links", "_locks",
                 "_lost_failures")

    def __init__(self, settings: ConnectionSettings,
                 on_refused: Callable[[Exception], None] | None = None) -> None:
        self.settings = settings
        self.on_refused = on_refused
        self.on_lost_posts: Callable[[list[tuple[bytes, bytes]]], None] | None = None
        self.closed = False
        self._links: dict[Address, RespProtocol] = {}
        self._locks: dict[Address, asyncio.Lock] = {}
        self._lost_failures = 0

    def cached(self, address: Address) -> RespProtocol | None:
        """The live connection to ``address``, or None."""
        link = self._links.get(address)
        return link if link is not None and link.transport is not None else None

    async def get(self, address: Address) -> RespProtocol:
        """The connection to ``address``, opened now if there is none (raises when it cannot)."""
        link = self._links.get(address)
        if link is not None and link.connected:
            return link
        if self.closed:
            raise ConnectionError("the connection is closed")
        lock = self._locks.get(address)
        if lock is None:
            lock = self._locks[address] = asyncio.Lock()
        async with lock:
            link = self._links.get(address)
            if link is None or not link.connected:
                if link is not None:
                    self._lost_failures += link.failures
                link = await open_link(address, self.settings)
                link.on_refused = self.on_refused
                link.on_unconfirmed = self._unconfirmed
                if self.closed:
                    link.close()
                    raise ConnectionError("the connection is closed")
                self._links[address] = link
        return link

    async def command(self, address: Address, *args: Any) -> Any:
        """Run one command on ``address`` and return its reply."""
        link = await self.get(address)
        return await link.request(encode_command(*args))

    async def pubsub_sum(self, nodes: list[Address], kind: str, channel: bytes) -> int:
        """``PUBSUB <kind> channel`` (NUMSUB, SHARDNUMSUB) on each node, summed.

        Nodes that cannot answer are left out; raises when none can.
        """
        replies = await asyncio.gather(
            *(self.command(node, "PUBSUB", kind, channel) for node in nodes),
            return_exceptions=True,
        )
        counts = [pubsub_count(reply) for reply in replies if not isinstance(reply, BaseException)]
        if not counts:
            raise next(reply for reply in replies if isinstance(reply, BaseException))
        return sum(counts)

    def _unconfirmed(self, commands: list[bytes]) -> None:
        """A lost connection left ``commands`` (PUBLISH or SPUBLISH) unconfirmed."""
        handler = self.on_lost_posts
        if handler is None or self.closed:
            self._lost_failures += len(commands)
            logger.warning(
                "%d publishes may be lost: %s", len(commands),
                "Redis had not confirmed them when the connection was closed" if self.closed
                else "the Redis connection dropped before they were confirmed",
            )
            return
        posts = []
        for command in commands:
            arguments = decode_command(command)
            posts.append((arguments[1], arguments[2]))
        handler(posts)

    @property
    def failures(self) -> int:
        """Posted commands that failed or may be lost, on every connection so far."""
        return self._lost_failures + sum(link.failures for link in self._links.values())

    def close(self) -> None:
        """Close every connection now (replies still on the way are not read)."""
        self.closed = True
        for link in self._links.values():
            self._lost_failures += link.failures
            link.close()
        self._links.clear()

    async def close_when_answered(self, timeout: float) -> None:
        """Close every connection once Redis confirmed what was posted on it (waiting
        ``timeout`` seconds at most); the publishes still unconfirmed then are
        counted and logged before this returns."""
        self.closed = True
        links = list(self._links.values())
        self._links.clear()
        await asyncio.gather(*(link.close_when_answered(timeout) for link in links))
        for link in links:
            self._lost_failures += link.failures


def pubsub_count(reply: Any) -> int:
    """The count in a ``PUBSUB NUMSUB|SHARDNUMSUB`` reply for one channel."""
    return int(reply[1]) if reply and len(reply) > 1 else 0


__all__ = ["NodeLinks", "pubsub_count"]
