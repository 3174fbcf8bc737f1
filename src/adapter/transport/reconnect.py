"""When a lost connection to Redis is made again: the one policy every connection uses.

Every loop that makes a connection to Redis again after it failed asks a
:class:`ReconnectPolicy` how long to wait: the asyncio subscribers
(:class:`~.subscriber.SubscriberBase`), the blocking one
(:class:`~.blocking_pubsub.BlockingPubSub`), the sharded subscriber
connections (:class:`~.sharded.ShardedPubSub`) and the offline queue's
recovery (``core.offline_queue.HeldBroadcasts``), which asks Redis for the
server count until it answers.  Each configures its own
delays; the subscribers all use the defaults below:

* the first delay after a failed attempt: :data:`MIN_DELAY` (50 ms), doubling
  after each further failure up to :data:`MAX_DELAY` (0.5 s), so that
  deliveries resume within about half a second of Redis being back;
* while Redis refuses the connection (a wrong password, an ACL that refuses a
  discovery command), up to :data:`MAX_REFUSED_DELAY` (5 s) instead;
* after a connection that was up and that Redis (or the network) closed, at
  once, unless Redis closed one less than :data:`REPEAT_DROP_WINDOW` (1 s)
  before (then :data:`MIN_DELAY`: never a busy loop of connections).

The offline queue's recovery waits 20 ms doubling to 0.25 s, refused or not
(``HeldBroadcasts.max_retry_delay``).
"""

from __future__ import annotations

#: the first delay after a failed attempt to connect (seconds)
MIN_DELAY = 0.05
#: the longest delay while Redis cannot be reached (seconds)
MAX_DELAY = 0.5
#: the longest delay while Redis refuses the connection (AUTH, ACL) (seconds)
MAX_REFUSED_DELAY = 5.0
#: a connection Redis closes again within this many seconds of the last one it closed
#: waits for the backoff (never a busy loop of connections)
REPEAT_DROP_WINDOW = 1.0


class ReconnectPolicy:
    """The delays between attempts to make a connection to Redis (see the module doc).

    After a connection that was up and that Redis (or the network) closed,
    the next attempt is at once, unless Redis closed one less than
    :data:`REPEAT_DROP_WINDOW` seconds before; after one that was up and
    ended otherwise, :attr:`min_delay`; after a failed attempt, the delay
    doubles, up to :attr:`max_delay`, or :attr:`max_refused_delay` while Redis
    refuses the connection (a wrong password is not retried every half second).
    A loop that does not end sessions (it only attempts) calls :meth:`failed`
    after a failed attempt and :meth:`succeeded` after one that worked.

    :param min_delay: the first delay after a failure.
    :param max_delay: the longest delay while Redis cannot be reached.
    :param max_refused_delay: the longest delay while Redis refuses.
    """

    __slots__ = ("min_delay", "max_delay", "max_refused_delay", "_delay", "_dropped_at")

    def __init__(self, min_delay: float = MIN_DELAY, max_delay: float = MAX_DELAY,
                 max_refused_delay: float = MAX_REFUSED_DELAY) -> None:
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
        return self.failed(refused=refused)

    def failed(self, *, refused: bool) -> float:
        """An attempt failed (``refused``: Redis refused it): the seconds to wait before
        the next one; the delay after that doubles, up to its cap."""
        delay = self._delay
        self._delay = min(delay * 2, self.max_refused_delay if refused else self.max_delay)
        return delay

    def succeeded(self) -> None:
        """An attempt succeeded: the next failure waits :attr:`min_delay` again."""
        self._delay = self.min_delay


__all__ = [
    "MAX_DELAY",
    "MAX_REFUSED_DELAY",
    "MIN_DELAY",
    "REPEAT_DROP_WINDOW",
    "ReconnectPolicy",
]
