"""What every pub/sub subscriber shares: its subscriptions, confirmations and reconnects."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from typing import Any

from .base import ChannelFilter, MessageHandler, TransportAbilities
from .errors import RedisRefusedError
from .sent_commands import CONFIRMATIONS
from .subscription_book import SubscriptionBook, logger


def _ignore_message(pattern: bytes | None, channel: bytes, data: bytes, route: Any) -> None:
    return None


class SubscriberBase(SubscriptionBook, TransportAbilities):
    """What every asyncio subscriber shares: the subscriptions it must hold (its
    :class:`~.subscription_book.SubscriptionBook`), the waiters for Redis'
    confirmations, dispatching, and the reconnect loop.

    Subclasses implement :meth:`_session` (connect, subscribe to everything,
    call :meth:`_session_up`, serve until the connection is lost; set
    :attr:`_lost_by_peer` when it ends because Redis or the network closed
    it) and :meth:`_send` (send a (P)(UN)SUBSCRIBE on the live connection);
    every command they write on the subscriber connection is recorded with
    :meth:`_sent_command`, in order, so that an error reply (RESP2 gives one
    per refused command, naming nothing) is matched to the command it answers.

    Refusals: a (P)SUBSCRIBE that Redis refuses (``NOPERM``, ``NOAUTH``) fails
    its waiters at once with :class:`~.errors.RedisRefusedError` and its names
    are no longer held (subscribing them again, e.g. by calling the adapter's
    ``start()`` again, sends the command again).  A refused ``AUTH`` (or a
    refused discovery command) fails every waiter, and every ``subscribe``
    while it lasts, at once; the connection keeps trying in the background
    (backoff up to :attr:`max_refused_delay`), logging the refusal once and
    then once a minute, and subscribes everything once Redis accepts it.

    Reconnects: after a connection that Redis (or the network) closed while
    it was up, at once; after a failed attempt, with a backoff from
    :attr:`min_reconnect_delay` doubling to :attr:`max_reconnect_delay`.  When
    a connection Redis closed is replaced at once (Redis was reachable all
    along), a warning names the usual cause, a slow consumer past Redis'
    ``client-output-buffer-limit pubsub``, and :attr:`drops` counts it (see
    :class:`~.drops.DropReport` and :meth:`_buffer_limit_disconnections`).
    """

    def __init__(self, confirm_timeout: float, idle_ping_interval: float) -> None:
        self._open_books()
        #: the books change on the event loop's thread only
        self._lock = contextlib.nullcontext()
        self.confirm_timeout = confirm_timeout
        self.idle_ping_interval = idle_ping_interval
        self.on_message: MessageHandler = _ignore_message
        #: pattern messages whose channel it rejects are dropped (see ChannelFilter)
        self.channel_filter: ChannelFilter | None = None
        self._connected = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None
        self._confirmations: dict[tuple[bytes, bytes], list[asyncio.Future[None]]] = {}
        self._was_up = False
        self._ever_up = False
        #: set by a session that ended because Redis or the network closed its connection
        self._lost_by_peer = False
        #: set by :meth:`pause_reading`: the subscriber connection is left unread
        self.reading_paused = False

    @property
    def connected(self) -> bool:
        """True while the subscriber connection is up and Redis has confirmed every
        subscription it made again (a PUBLISH Redis runs from then on reaches it)."""
        return self._connected.is_set() and not self._resubscription

    @property
    def resubscribing(self) -> bool:
        """True while a subscriber connection that was up is being made again (until
        Redis has confirmed its subscriptions)."""
        return self._ever_up and not self.connected

    def stats(self) -> dict[str, int]:
        """``reconnects``, ``resubscribed``, ``handler_errors``, ``publish_failures``,
        ``closed_by_redis``, ``slow_consumer_disconnects`` and ``refusals`` so far."""
        return {
            "reconnects": self.reconnects,
            "resubscribed": self.resubscribed,
            "handler_errors": self.handler_errors,
            "publish_failures": self.publish_failures,
            **self.drops.stats(),
            "refusals": self.refusals,
        }

    def table_sizes(self) -> dict[str, int]:
        """``channels`` and ``patterns`` held, ``subscribe_confirmations`` awaited."""
        return {
            "channels": len(self.channels),
            "patterns": len(self.patterns),
            "subscribe_confirmations": sum(map(len, self._confirmations.values())),
        }

    def pause_reading(self) -> None:
        """Stop reading messages (the receiver is behind) until :meth:`resume_reading`.

        What Redis sends meanwhile waits in the socket and in Redis' output
        buffer for this client; the idle check does not count the pause as
        silence.  A reconnect keeps the pause.
        """
        if not self.reading_paused:
            self.reading_paused = True
            self._reading_switched()

    def resume_reading(self) -> None:
        """Read messages again after :meth:`pause_reading`."""
        if self.reading_paused:
            self.reading_paused = False
            self._reading_switched()

    def _reading_switched(self) -> None:
        """Apply :attr:`reading_paused` to the live connection (override)."""

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
        loop = asyncio.get_running_loop()
        fresh: list[bytes] = []
        waiters = []
        for name in dict.fromkeys(new):
            if (name in names and (kind, name) not in self._confirmations
                    and self._connected.is_set() and not self._sent.owes(kind, name)):
                continue  # held and confirmed (not on its way again after a reconnect)
            if name not in names:
                names.add(name)
                fresh.append(name)
            # held but not confirmed yet (an earlier wait timed out): wait for it too
            future: asyncio.Future[None] = loop.create_future()
            self._confirmations.setdefault((kind, name), []).append(future)
            waiters.append(future)
        if not waiters:
            return
        if self._reader is None or self._reader.done():
            self._reader = asyncio.ensure_future(self._run())
        elif self._connected.is_set():
            if fresh:
                try:
                    await self._send(kind, fresh)
                except Exception as exc:  # the reconnect subscribes again
                    logger.debug("%s failed, will retry on reconnect: %r", kind, exc)
        elif self._refusal is not None:  # Redis refuses the connection: say so now
            self._fail_waiters(self._refusal)
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
            elif kind in CONFIRMATIONS:
                self._answered(kind, reply[1])
                for future in self._confirmations.pop((kind, reply[1]), ()):
                    if not future.done():
                        future.set_result(None)
            elif kind == b"pong" or reply == b"PONG":  # PONG: nothing was subscribed
                self._answered(b"ping", None)
        except Exception:
            self.handler_errors += 1
            logger.exception("error while handling a Redis message")

    # -- what each reply answers -------------------------------------------

    def _sent_command(self, kind: bytes, names: list[bytes]) -> None:
        """Record a command written on the subscriber connection (in the order sent)."""
        self._sent.add(kind, names)

    def _drop_refused(self, kind: bytes, held: set[bytes], names: Iterable[bytes],
                      refusal: RedisRefusedError) -> None:
        for name in names:
            held.discard(name)
            for future in self._confirmations.pop((kind, name), ()):
                if not future.done():
                    future.set_exception(refusal)

    def _fail_waiters(self, refusal: RedisRefusedError) -> None:
        """Fail every confirmation awaited with ``refusal`` (the names stay held)."""
        for futures in self._confirmations.values():
            for future in futures:
                if not future.done():
                    future.set_exception(refusal)
            futures.clear()

    def _session_up(self) -> None:
        self._was_up = self._ever_up = True
        self._connection_accepted()
        self._connected.set()
        self._expect_resubscription()
        self._resubscription_sent()

    def _report_replaced_drop(self, suspect: bool) -> None:
        self.drops.sample(None, self._buffer_limit_disconnections, suspect, "")

    async def _buffer_limit_disconnections(self) -> int | None:
        """``client_output_buffer_limit_disconnections`` of ``INFO stats`` on the
        subscriber's node, or None when it cannot be known (override)."""
        return None

    async def _run(self) -> None:
        policy = self._reconnect_policy()
        while not self._closed:
            self._was_up = False
            self._lost_by_peer = False
            self._sent.clear()
            refused = False
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except RedisRefusedError as exc:
                refused = True
                self._refusal = exc
                self._connection_refused(exc)
                self._fail_waiters(exc)
            except Exception as exc:
                self._connection_failed(exc)
            finally:
                self._connected.clear()
            if self._closed:
                break
            await asyncio.sleep(self._next_attempt_delay(
                policy, was_up=self._was_up, lost_by_peer=self._lost_by_peer,
                refused=refused, now=asyncio.get_running_loop().time(),
            ))

    async def _stop(self) -> None:
        """Stop the reconnect loop and drop every pending confirmation."""
        self._closed = True
        self.channels.clear()
        self.patterns.clear()
        self.drops.close()
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
