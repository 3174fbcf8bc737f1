"""The books a subscriber keeps, shared by the asyncio and the blocking subscribers.

Which channels and patterns it holds, which commands Redis still owes a reply
on the subscriber connection, when a new connection has every subscription
confirmed again, what a refused command does, and what happens between two
connections.  The asyncio subscribers (:class:`~.subscriber.SubscriberBase`)
and the blocking one (:class:`~.blocking_pubsub.BlockingPubSub`) differ only
in how they wait, lock and settle their waiters; each supplies that.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from contextlib import AbstractContextManager
from typing import Any

from .drops import DropReport
from .errors import RedisRefusedError, RefusalLog
from .reconnect import MAX_DELAY, MAX_REFUSED_DELAY, MIN_DELAY, ReconnectPolicy
from .sent_commands import SentCommand, SentCommands

logger = logging.getLogger("socketio_redis_adapter")


class SubscriptionBook:
    """What a subscriber connection's owner keeps track of, whatever it runs on.

    A host calls :meth:`_open_books` in its ``__init__`` and provides:

    * ``_lock``: a context manager held while the books change (the blocking
      subscriber's ``threading.Lock``; a no-op for the asyncio ones, which
      change them on the event loop's thread only);
    * :meth:`_report_replaced_drop`: a new connection has every subscription
      again; say whether it replaced one Redis closed;
    * :meth:`_drop_refused`: Redis refused a (P)SUBSCRIBE: stop holding its
      names and fail the confirmations awaited for them.

    Its session loop records every command it writes on the subscriber
    connection (:attr:`_sent`, in order: RESP2 error replies name nothing),
    calls :meth:`_connection_accepted` and :meth:`_expect_resubscription` when
    a connection is up, hands error replies to :meth:`_refused_reply`, and
    between two connections calls :meth:`_connection_refused` or
    :meth:`_connection_failed`, then waits :meth:`_next_attempt_delay`.
    """

    #: the :class:`~.reconnect.ReconnectPolicy` delays (its defaults: deliveries resume
    #: within ~0.5 s of Redis being back; a refusal is tried again every 5 s at most)
    min_reconnect_delay = MIN_DELAY
    max_reconnect_delay = MAX_DELAY
    max_refused_delay = MAX_REFUSED_DELAY

    _lock: AbstractContextManager[Any]
    _closed: bool

    def _open_books(self) -> None:
        self.channels: set[bytes] = set()
        self.patterns: set[bytes] = set()
        #: subscriber connections lost so far
        self.reconnects = 0
        #: channels and patterns subscribed again, and confirmed by Redis, on a connection
        #: that replaced one that was up (a lost connection, a failover)
        self.resubscribed = 0
        #: a subscriber connection was up before the current one
        self._had_connection = False
        #: the current connection replaces one that was up: its confirmations count
        self._replacing = False
        #: exceptions raised by ``on_message`` (logged, never fatal)
        self.handler_errors = 0
        #: commands Redis refused (AUTH, (P)SUBSCRIBE...)
        self.refusals = 0
        #: subscriber connections Redis closed, and why
        self.drops = DropReport()
        self._sent = SentCommands()
        #: the (P)SUBSCRIBEs a new connection sent that Redis has not confirmed yet
        self._resubscription: list[SentCommand] = []
        #: what Redis answered the last attempt to connect, while it refuses
        self._refusal: RedisRefusedError | None = None
        self._refusal_log = RefusalLog()
        #: the connection being replaced was up and closed by Redis (a slow consumer?)
        self._suspect_drop = False
        self._closed = False

    def _reconnect_policy(self) -> ReconnectPolicy:
        return ReconnectPolicy(self.min_reconnect_delay, self.max_reconnect_delay,
                               self.max_refused_delay)

    # -- a connection is up ----------------------------------------------------------

    def _connection_accepted(self) -> None:
        """Redis accepted a subscriber connection (said once after a refusal)."""
        if self._refusal is not None:
            logger.warning("Redis accepts the subscriber connection again")
        self._refusal = None
        self._refusal_log.reset()

    def _expect_resubscription(self) -> None:
        """A new connection recorded the (P)SUBSCRIBEs it sent: until Redis confirms
        them all, the subscriptions are being made again (held under ``_lock`` by a
        host that reads it from another thread)."""
        self._resubscription = self._sent.subscriptions_owed()
        self._replacing, self._had_connection = self._had_connection, True

    def _resubscription_sent(self) -> None:
        """Called once the connection is marked up: done at once when it sent nothing."""
        if not self._resubscription:
            self._resubscribed()

    def _check_resubscribed(self) -> None:
        if self._resubscription and not any(sent.owed for sent in self._resubscription):
            self._resubscribed()

    def _resubscribed(self) -> None:
        """Redis confirmed every subscription of a new connection: report a drop that
        the connection replaced (Redis was reachable all along)."""
        self._resubscription = []
        suspect, self._suspect_drop = self._suspect_drop, False
        self._report_replaced_drop(suspect)

    def _report_replaced_drop(self, suspect: bool) -> None:
        raise NotImplementedError

    # -- replies ---------------------------------------------------------------------

    def _answered(self, kind: bytes, name: bytes | None) -> None:
        """A reply of ``kind`` (for ``name``) came: strike it from the commands owed."""
        with self._lock:
            self._strike_answered(kind, name)
        self._check_resubscribed()

    def _strike_answered(self, kind: bytes, name: bytes | None) -> None:
        """Under ``_lock``: strike a reply from the commands owed, counting a name the
        connection subscribed again in ``resubscribed``."""
        if (self._replacing and name is not None and self._resubscription
                and any(sent.kind == kind and name in sent.owed
                        for sent in self._resubscription)):
            self.resubscribed += 1
        self._sent.answered(kind, name)

    def _refused_reply(self, error: object) -> None:
        """An error reply on the subscriber connection: it answers the oldest command owed."""
        with self._lock:
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
        self._drop_refused(sent.kind, held, sent.names, refusal)

    def _drop_refused(self, kind: bytes, held: set[bytes], names: Iterable[bytes],
                      refusal: RedisRefusedError) -> None:
        raise NotImplementedError

    # -- between two connections ------------------------------------------------------

    def _connection_refused(self, refusal: RedisRefusedError) -> None:
        """Redis refused the connection (AUTH, a discovery command): counted, logged
        once and then once a minute (the host fails its waiters)."""
        self.refusals += 1
        if not self._closed and self._refusal_log.should_log(str(refusal)):
            logger.error("%s (the subscriber keeps trying, every %.0f s at most)",
                         refusal, self.max_refused_delay)

    def _connection_failed(self, exc: Exception) -> None:
        if not self._closed:
            logger.warning("Redis subscriber connection failed: %r", exc)

    def _next_attempt_delay(self, policy: ReconnectPolicy, *, was_up: bool,
                            lost_by_peer: bool, refused: bool, now: float) -> float:
        """A connection ended (not by closing): count it, and return the seconds to
        wait before the next attempt."""
        self.reconnects += 1
        # Redis dropped a connection that was up (a slow consumer?): reported once the
        # next one is subscribed, which proves Redis was reachable all along (a failed
        # attempt means an outage)
        self._suspect_drop = was_up and lost_by_peer
        delay = policy.next_delay(was_up=was_up, closed_by_peer=lost_by_peer,
                                  refused=refused, now=now)
        if delay == 0.0:
            logger.warning("Redis closed the subscriber connection; reconnecting now")
        elif not refused:
            logger.warning("Redis subscriber disconnected; reconnecting in %.2fs", delay)
        return delay


__all__ = ["SubscriptionBook"]
