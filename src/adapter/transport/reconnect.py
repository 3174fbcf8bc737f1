"""When a lost subscriber connection is made again: the policy every subscriber shares.

The asyncio subscribers (:class:`~.subscriber.SubscriberBase`) and the
blocking one (:class:`~.blocking_pubsub.BlockingPubSub`) run the same loop
with different sleeps; this is the part that decides, kept in one place.
"""

from __future__ import annotations

#: a connection Redis closes again within this many seconds of the last one it closed
#: waits for the backoff (never a busy loop of connections)
REPEAT_DROP_WINDOW = 1.0


class ReconnectPolicy:
    """The delays between attempts to make a subscriber connection.

    After a connection that was up and that Redis (or the network) closed,
    the next attempt is at once, unless Redis closed one less than
    :data:`REPEAT_DROP_WINDOW` seconds before; after one that was up and
    ended otherwise, :attr:`min_delay`; after a failed attempt, the delay
    doubles, up to :attr:`max_delay`, or :attr:`max_refused_delay` while Redis
    refuses the connection (a wrong password is not retried every half second).

    :param min_delay: the first delay after a failure.
    :param max_delay: the longest delay while Redis cannot be reached.
    :param max_refused_delay: the longest delay while Redis refuses.
    """

    __slots__ = ("min_delay", "max_delay", "max_refused_delay", "_delay", "_dropped_at")

    def __init__(self, min_delay: float, max_delay: float, max_refused_delay: float) -> None:
        self.min_delay = min_delay
        self.max_delay = max_delay
        self.max_refused_delay = max_refused_delay
        self._delay = min_delay
        self._dropped_at = float("-inf")

    def next_delay(self, *, was_up: bool, closed_by_peer: bool, refused: bool, now: float
                   ) -> float:
        """The seconds to wait before the next attempt (0.0: at once), after a session
        that ended; ``now`` is a monotonic clock's time."""
        if was_up:
            self._delay = self.min_delay
            if closed_by_peer and now - self._dropped_at > REPEAT_DROP_WINDOW:
                self._dropped_at = now
                return 0.0
        delay = self._delay
        self._delay = min(delay * 2, self.max_refused_delay if refused else self.max_delay)
        return delay


__all__ = ["REPEAT_DROP_WINDOW", "ReconnectPolicy"]
