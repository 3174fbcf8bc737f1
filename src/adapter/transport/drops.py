"""Subscriber connections Redis closed: count them and say why (a slow consumer, usually).

Redis closes a subscriber whose output buffer passes ``client-output-buffer-limit
pubsub`` (the server read too slowly: a blocked event loop, a burst it could not
keep up with).  The client only sees the connection end.  When a new connection
succeeds at once, Redis was reachable all along, so it closed this one itself;
the transports then call :meth:`DropReport.sample` with ``suspect=True``.  Where
``INFO stats`` may be asked, Redis' own ``client_output_buffer_limit_disconnections``
before (sampled at each new subscriber connection) and after tells whether the
limit was the cause ("confirmed"); otherwise the warning names it as the likely
cause.  INFO is never required: a refusal or an error only means "cannot tell".
The count exists in recent Redis and Valkey versions (Valkey 9 has it); Redis 6.2
and 7.0 have none, under any name: a server whose ``INFO stats`` lacks it is not
asked again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable

logger = logging.getLogger("socketio_redis_adapter")

#: the setting whose limit makes Redis drop a subscriber that reads too slowly
BUFFER_LIMIT_SETTING = "client-output-buffer-limit pubsub"

Probe = Callable[[], Awaitable["int | None"]]
"""Reads ``client_output_buffer_limit_disconnections`` (None when it cannot be known)."""


class DropReport:
    """Counts subscriber connections Redis closed and logs the likely cause.

    :ivar closed_by_redis: subscriber connections Redis closed while it stayed reachable.
    :ivar slow_consumer_disconnects: of those, the ones ``INFO stats`` counted as
        output-buffer-limit disconnections, plus those it could not tell about
        (the usual cause).
    """

    __slots__ = ("closed_by_redis", "slow_consumer_disconnects", "_before", "_no_info",
                 "_tasks")

    def __init__(self) -> None:
        self.closed_by_redis = 0
        self.slow_consumer_disconnects = 0
        self._before: dict[Hashable, int | None] = {}
        self._no_info = False
        self._tasks: set[asyncio.Task[None]] = set()

    def sample(self, node: Hashable, probe: Probe, suspect: bool, where: str) -> None:
        """A subscriber connection to ``node`` is up: read Redis' count in the background.

        ``suspect``: it replaces one Redis closed; report that against the count.
        """
        if suspect:
            self.closed_by_redis += 1
        task = asyncio.ensure_future(self._sample(node, probe, suspect, where))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _sample(self, node: Hashable, probe: Probe, suspect: bool, where: str) -> None:
        count: int | None = None
        if not self._no_info:
            try:
                count = await probe()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # refused (ACL) or failed: never fatal, stop asking
                logger.debug("INFO stats not available (%r); not asking again", exc)
                self._no_info = True
            else:
                # not counted by this server (Redis 6.2, 7.0), or not to be asked: the
                # next connections cannot tell either
                self._no_info = count is None
        before = self._before.get(node)
        self._before[node] = count
        if suspect:
            self.report(None if before is None or count is None else count - before, where)

    def report(self, rise: int | None, where: str) -> None:
        """Log (and count) one connection Redis closed; ``rise``: Redis' own count, if known."""
        lead = (f"Redis closed the subscriber connection{where} (reconnected and subscribed "
                "again at once; the messages Redis dropped with it are lost)")
        if rise is None:
            self.slow_consumer_disconnects += 1
            logger.warning(
                "%s; the likely cause is a slow consumer: this server read too slowly and "
                "passed Redis' '%s' setting", lead, BUFFER_LIMIT_SETTING,
            )
        elif rise > 0:
            self.slow_consumer_disconnects += 1
            logger.warning(
                "%s: a slow consumer, confirmed by INFO stats "
                "(client_output_buffer_limit_disconnections +%d): this server read too slowly "
                "and passed Redis' '%s' setting", lead, rise, BUFFER_LIMIT_SETTING,
            )
        else:
            logger.warning(
                "%s; not Redis' '%s' setting (INFO stats counted no output-buffer-limit "
                "disconnection): CLIENT KILL, a timeout or an ACL change?",
                lead, BUFFER_LIMIT_SETTING,
            )

    def stats(self) -> dict[str, int]:
        """``closed_by_redis`` and ``slow_consumer_disconnects``."""
        return {"closed_by_redis": self.closed_by_redis,
                "slow_consumer_disconnects": self.slow_consumer_disconnects}

    def close(self) -> None:
        """Stop asking Redis."""
        for task in list(self._tasks):
            task.cancel()
        self._tasks.clear()


__all__ = ["BUFFER_LIMIT_SETTING", "DropReport"]
