"""What every pub/sub subscriber shares: its subscriptions, confirmations and reconnects."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

from .base import ChannelFilter, MessageHandler
from .drops import DropReport
from .errors import RedisRefusedError, RefusalLog
from .reconnect import ReconnectPolicy
from .sent_commands import CONFIRMATIONS, SentCommand, SentCommands

logger = logging.getLogger("socketio_redis_adapter")


def _ignore_message(pattern: bytes | None, channel: bytes, data: bytes, route: Any) -> None:
    return None


class SubscriberBase:
    """What every subscriber shares: the subscriptions it must hold, the
    waiters for Redis' confirmations, dispatching, and the reconnect loop.

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

    min_reconnect_delay = 0.05
    max_reconnect_delay = 0.5  # deliveries resume within ~0.5 s of Redis being back
    max_refused_delay = 5.0

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
        self._ever_up = False
        #: subscriber connections Redis closed, and why
        self.drops = DropReport()
        #: commands Redis refused (AUTH, (P)SUBSCRIBE...)
        self.refusals = 0
        #: set by a session that ended because Redis or the network closed its connection
        self._lost_by_peer = False
        self._suspect_drop = False
        self._sent = SentCommands()
        #: the (P)SUBSCRIBEs a new connection sent that Redis has not confirmed yet
        self._resubscription: list[SentCommand] = []
        self._refusal: RedisRefusedError | None = None
        self._refusal_log = RefusalLog()
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
        """``reconnects``, ``handler_errors``, ``publish_failures``, ``closed_by_redis``,
        ``slow_consumer_disconnects`` and ``refusals`` so far."""
        return {
            "reconnects": self.reconnects,
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

    def _answered(self, kind: bytes, name: bytes | None) -> None:
        """A reply of ``kind`` (for ``name``) came: strike it from the commands owed."""
        self._sent.answered(kind, name)
        self._check_resubscribed()

    def _check_resubscribed(self) -> None:
        if self._resubscription and not any(sent.owed for sent in self._resubscription):
            self._resubscribed()

    def _refused_reply(self, error: object) -> None:
        """An error reply on the subscriber connection: it answers the oldest command owed."""
        sent = self._sent.refused()
        self._check_resubscribed()
        refusal = sent.refusal(error) if sent is not None else None
        if sent is None or refusal is None:
            # not an ACL or password matter (a PING, an UNSUBSCRIBE, "max number of clients"):
            # the names stay held, the next connection subscribes them again
            what = sent.kind.decode().upper() if sent is not None else "a command"
            message = f"Redis refused {what} on the subscriber connection: {error}"
            if self._refusal_log.should_log(message):
                logger.error("%s", message)
            return
        self.refusals += 1
        logger.error("%s; not subscribed (subscribing again sends it again)", refusal)
        held = self.patterns if sent.kind == b"psubscribe" else self.channels
        for name in sent.names:
            held.discard(name)
            for future in self._confirmations.pop((sent.kind, name), ()):
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
        if self._refusal is not None:
            logger.warning("Redis accepts the subscriber connection again")
        self._refusal = None
        self._refusal_log.reset()
        self._connected.set()
        self._resubscription = self._sent.subscriptions_owed()
        if not self._resubscription:
            self._resubscribed()

    def _resubscribed(self) -> None:
        """Redis confirmed every subscription of a new connection: report a drop that
        the connection replaced (Redis was reachable all along)."""
        self._resubscription = []
        suspect, self._suspect_drop = self._suspect_drop, False
        self.drops.sample(None, self._buffer_limit_disconnections, suspect, "")

    async def _buffer_limit_disconnections(self) -> int | None:
        """``client_output_buffer_limit_disconnections`` of ``INFO stats`` on the
        subscriber's node, or None when it cannot be known (override)."""
        return None

    async def _run(self) -> None:
        policy = ReconnectPolicy(self.min_reconnect_delay, self.max_reconnect_delay,
                                 self.max_refused_delay)
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
                self.refusals += 1
                self._fail_waiters(exc)
                if not self._closed and self._refusal_log.should_log(str(exc)):
                    logger.error("%s (the subscriber keeps trying, every %.0f s at most)",
                                 exc, self.max_refused_delay)
            except Exception as exc:
                if not self._closed:
                    logger.warning("Redis subscriber connection failed: %r", exc)
            finally:
                self._connected.clear()
            if self._closed:
                break
            self.reconnects += 1
            # Redis dropped a connection that was up (a slow consumer?); if the next one
            # comes up, Redis was reachable all along (a failed one means an outage)
            self._suspect_drop = self._was_up and self._lost_by_peer
            delay = policy.next_delay(was_up=self._was_up, closed_by_peer=self._lost_by_peer,
                                      refused=refused, now=asyncio.get_running_loop().time())
            if delay == 0.0:
                logger.warning("Redis closed the subscriber connection; reconnecting now")
            elif not refused:
                logger.warning("Redis subscriber disconnected; reconnecting in %.2fs", delay)
            await asyncio.sleep(delay)

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
