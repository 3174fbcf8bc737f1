"""What every pub/sub subscriber shares: its subscriptions, confirmations and reconnects."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

from .base import ChannelFilter, MessageHandler

logger = logging.getLogger("socketio_redis_adapter")


def _ignore_message(pattern: bytes | None, channel: bytes, data: bytes, route: Any) -> None:
    return None


_CONFIRMATIONS = frozenset((b"subscribe", b"psubscribe", b"unsubscribe", b"punsubscribe"))


class SubscriberBase:
    """What every subscriber shares: the subscriptions it must hold, the
    waiters for Redis' confirmations, dispatching, and the reconnect loop.

    Subclasses implement :meth:`_session` (connect, subscribe to everything,
    call :meth:`_session_up`, serve until the connection is lost) and
    :meth:`_send` (send a (P)(UN)SUBSCRIBE on the live connection).
    """

    min_reconnect_delay = 0.05
    max_reconnect_delay = 1.0

    def __init__(self, confirm_timeout: float, idle_ping_interval: float) -> None:
        self.confirm_timeout = confirm_timeout
        self.idle_ping_interval = idle_ping_interval
        self.on_message: MessageHandler = _ignore_message
        #: pattern messages whose channel it rejects are dropped (see ChannelFilter)
        self.channel_filter: ChannelFilter | None = None
        self.channels: set[bytes] = set()
        self.patterns: set[bytes] = set()
        #: how many times the subscriber connection was lost
        self.reconnects = 0
        #: exceptions raised by ``on_message`` (logged, never fatal)
        self.handler_errors = 0
        self._connected = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None
        self._confirmations: dict[tuple[bytes, bytes], list[asyncio.Future[None]]] = {}
        self._closed = False
        self._was_up = False

    @property
    def connected(self) -> bool:
        """True while the subscriber connection is up and subscribed."""
        return self._connected.is_set()

    def stats(self) -> dict[str, int]:
        """``reconnects``, ``handler_errors`` and ``publish_failures`` so far."""
        return {
            "reconnects": self.reconnects,
            "handler_errors": self.handler_errors,
            "publish_failures": self.publish_failures,
        }

    def table_sizes(self) -> dict[str, int]:
        """``channels`` and ``patterns`` held, ``subscribe_confirmations`` awaited."""
        return {
            "channels": len(self.channels),
            "patterns": len(self.patterns),
            "subscribe_confirmations": sum(map(len, self._confirmations.values())),
        }

    @property
    def publish_failures(self) -> int:
        """Posted publishes that failed or may be lost (0 where ``post`` waits for Redis)."""
        return 0

    async def subscribe(self, *channels: bytes) -> None:
        await self._add(b"subscribe", self.channels, channels)

    async def psubscribe(self, *patterns: bytes) -> None:
        await self._add(b"psubscribe", self.patterns, patterns)

    async def unsubscribe(self, *channels: bytes) -> None:
        await self._remove(b"unsubscribe", self.channels, channels)

    async def punsubscribe(self, *patterns: bytes) -> None:
        await self._remove(b"punsubscribe", self.patterns, patterns)

    async def _send(self, kind: bytes, names: list[bytes]) -> None:
        raise NotImplementedError

    async def _session(self) -> None:
        raise NotImplementedError

    async def _add(self, kind: bytes, names: set[bytes], new: Iterable[bytes]) -> None:
        if self._closed:
            raise ConnectionError("the connection is closed")
        fresh = [name for name in new if name not in names]
        if not fresh:
            return
        names.update(fresh)
        loop = asyncio.get_running_loop()
        waiters = []
        for name in fresh:
            future: asyncio.Future[None] = loop.create_future()
            self._confirmations.setdefault((kind, name), []).append(future)
            waiters.append(future)
        if self._reader is None or self._reader.done():
            self._reader = asyncio.ensure_future(self._run())
        elif self._connected.is_set():
            try:
                await self._send(kind, fresh)
            except Exception as exc:  # the reconnect subscribes again
                logger.debug("%s failed, will retry on reconnect: %r", kind, exc)
        await asyncio.wait_for(asyncio.gather(*waiters), self.confirm_timeout)

    async def _remove(self, kind: bytes, names: set[bytes], old: Iterable[bytes]) -> None:
        gone = [name for name in old if name in names]
        if not gone:
            return
        names.difference_update(gone)
        if self._connected.is_set():
            try:
                await self._send(kind, gone)
            except Exception as exc:
                logger.debug("%s failed: %r", kind, exc)

    def _dispatch(self, reply: Any) -> None:
        """Handle one reply of the subscriber connection."""
        try:
            kind = reply[0]
            if kind == b"pmessage":
                channel_filter = self.channel_filter
                route = None
                if channel_filter is not None:
                    route = channel_filter.route(reply[2])
                    if route is None:
                        return
                self.on_message(reply[1], reply[2], reply[3], route)
            elif kind == b"message":
                self.on_message(None, reply[1], reply[2], None)
            elif kind in _CONFIRMATIONS:
                for future in self._confirmations.pop((kind, reply[1]), ()):
                    if not future.done():
                        future.set_result(None)
        except Exception:
            self.handler_errors += 1
            logger.exception("error while handling a Redis message")

    def _session_up(self) -> None:
        self._was_up = True
        self._connected.set()

    async def _run(self) -> None:
        delay = self.min_reconnect_delay
        while not self._closed:
            self._was_up = False
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not self._closed:
                    logger.warning("Redis subscriber connection failed: %r", exc)
            finally:
                self._connected.clear()
            if self._closed:
                break
            if self._was_up:
                delay = self.min_reconnect_delay
            self.reconnects += 1
            logger.warning("Redis subscriber disconnected; reconnecting in %.2fs", delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.max_reconnect_delay)

    async def _stop(self) -> None:
        """Stop the reconnect loop and drop every pending confirmation."""
        self._closed = True
        self.channels.clear()
        self.patterns.clear()
        if self._reader is not None:
            self._reader.cancel()
            try:
                await self._reader
            except (asyncio.CancelledError, Exception):
                pass
            self._reader = None
        for futures in self._confirmations.values():
            for future in futures:
                if not future.done():
                    future.cancel()
        self._confirmations.clear()


__all__ = ["SubscriberBase"]
