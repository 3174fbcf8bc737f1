"""Broadcasts across Redis outages: a bounded offline queue, flushed in order
once this server and the others are subscribed again.

Redis pub/sub delivers a message to the subscribers connected at that
moment, and to no one else.  So a broadcast published while Redis is down,
or while the other servers are still resubscribing after it came back, is
lost; and one written to a connection that drops before Redis confirms it
may be lost.  :class:`BroadcastPublisher` stands between ``emit`` and the
transport:

* while Redis cannot be reached it keeps broadcasts in a queue bounded in
  messages, bytes and age (:class:`OfflineQueue`); a broadcast that does not
  fit makes ``emit`` raise :class:`OfflineQueueFull`, one that waited too long
  is dropped, logged and counted (``offline_expired``): never silently;
* publishes that a lost connection left unconfirmed are sent again, ahead of
  the queue (at least once: one Redis handled just before the connection
  dropped may arrive twice);
* once Redis answers, it waits (at most ``wait_for_servers`` seconds) until
  this server's subscriber is back and as many servers are subscribed as
  before the outage, then publishes the queue in order; new broadcasts wait
  behind it, so each server's order is kept.

Without a queue (``offline_queue=None``) ``emit`` raises while broadcasts are
held, and unconfirmed publishes are still sent again.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ..transport.errors import RedisRefusedError
from ..transport.reconnect import ReconnectPolicy
from .waiters import AdapterClosedError

#: what a transport raises when Redis cannot be reached (anything else is raised to ``emit``)
UNREACHABLE: tuple[type[BaseException], ...] = (
    OSError, asyncio.TimeoutError, RedisConnectionError, RedisTimeoutError,
)


class OfflineQueueFull(ConnectionError):
    """Redis is unreachable and the offline queue is full (or there is none):
    the broadcast was not published and not queued."""


@dataclass(frozen=True)
class OfflineQueue:
    """How broadcasts are kept while Redis is unreachable.

    While Redis cannot be reached, or this server or the others are still
    subscribing again after it came back, ``emit`` keeps each broadcast in
    this queue; once as many servers as before the outage are subscribed
    again (or ``wait_for_servers`` seconds have passed), the queue is
    published in order, and new broadcasts wait behind it.
    Publishes that a lost connection left unconfirmed are sent again ahead of
    the queue (at least once).  Pass ``offline_queue=None`` to the adapter to
    have ``emit`` raise :class:`OfflineQueueFull` instead.

    :param max_messages: broadcasts kept at most; ``emit`` raises
                         :class:`OfflineQueueFull` beyond.
    :param max_bytes: bytes of encoded broadcasts kept at most; ``emit``
                      raises :class:`OfflineQueueFull` beyond.
    :param max_age: seconds a broadcast may wait; older ones are dropped,
                    logged and counted in ``stats["offline_expired"]``.
    :param wait_for_servers: once Redis answers again, seconds to wait at most
                             for this server's subscriber and as many servers as
                             before the outage to be subscribed, before the
                             queue is published.
    """

    max_messages: int = 10_000
    max_bytes: int = 64 * 1024 * 1024
    max_age: float = 30.0
    wait_for_servers: float = 2.0

    def __post_init__(self) -> None:
        if self.max_messages < 0 or self.max_bytes < 0:
            raise ValueError("the offline queue's limits cannot be negative")
        if self.max_age <= 0:
            raise ValueError("max_age must be positive")
        if self.wait_for_servers < 0:
            raise ValueError("wait_for_servers cannot be negative")


#: the limits used with ``offline_queue=None``: nothing queued, the same wait for the servers
NO_QUEUE = OfflineQueue(max_messages=0, max_bytes=0)


class Subscriber(Protocol):
    """What the publisher reads of the transport's subscriber side."""

    @property
    def resubscribing(self) -> bool:
        """True while a subscriber connection that was up is being made again."""
        ...


Post = Callable[[bytes, bytes], Awaitable[Any]]


class HeldBroadcasts:
    """Holds broadcasts in order while the cluster is not back, and publishes them then:
    the queue and the recovery, whatever runs them.

    ``emit`` hands it every broadcast through :meth:`send`, which holds it
    while :attr:`holding` (or while the subscriber is resubscribing) and
    otherwise publishes it with the transport's ``post``; a post that raises
    one of :data:`UNREACHABLE` goes to :meth:`unreachable`.

    :param post: the transport's ``post(channel, data)`` (a coroutine function;
                 a synchronous manager's never suspends).
    :param subscriber: the transport (its ``resubscribing`` flag: see
                       :func:`~socketio_redis_adapter.transport.base.abilities`).
    :param count_servers: returns how many servers are subscribed now.
    :param limits: the offline queue's limits; None for no queue.
    :param logger: returns the logger to use.
    :param count_interval: seconds between two counts of the servers while
                           all is well (the number to wait for after an outage).

    A driver runs it (:class:`BroadcastPublisher` on an event loop,
    :class:`~..blocking.publisher.BlockingBroadcastPublisher` on a synchronous
    server's tasks): it gives the time, the sleeps, a count bounded in time,
    starts :meth:`_recover` in the background (:meth:`_ensure_recovery`) and
    a lock held while the queue changes (:attr:`_lock`: a no-op on one event
    loop's thread).
    """

    #: the recovery's ``transport.reconnect.ReconnectPolicy`` delays between two
    #: attempts to count the servers while Redis does not answer (or refuses)
    min_retry_delay = 0.02
    max_retry_delay = 0.25

    def __init__(
        self,
        post: Post,
        subscriber: Subscriber,
        count_servers: Callable[[], Awaitable[int]],
        limits: OfflineQueue | None,
        logger: Callable[[], logging.Logger],
        *,
        count_interval: float = 1.0,
    ) -> None:
        self._post = post
        self.subscriber = subscriber
        self._count_servers = count_servers
        self.limits = limits if limits is not None else NO_QUEUE
        self.queue_enabled = limits is not None
        self._logger = logger
        self.count_interval = count_interval
        #: True while broadcasts go to the queue instead of to Redis
        self.holding = False
        #: the number of subscribed servers last seen while all was well
        self.known_servers = 0
        self._items: collections.deque[tuple[bytes, bytes, float]] = collections.deque()
        self._bytes = 0
        self._lock = self._new_lock()
        self._closed = False
        #: broadcasts :meth:`requeue` put at the head since the flush took its item
        self._requeued = 0
        self.queued = 0
        self.flushed = 0
        self.expired = 0
        self.rejected = 0
        self.resent = 0
        self.dropped = 0
        self._init_driver()

    # -- what a driver gives -----------------------------------------------------

    def _new_lock(self) -> AbstractContextManager[Any]:
        """The lock held while the queue changes (none on one event loop's thread)."""
        return contextlib.nullcontext()

    def _init_driver(self) -> None:
        """Set the driver's own state (called at the end of ``__init__``)."""

    def _time(self) -> float:
        """A monotonic clock's time."""
        raise NotImplementedError

    async def _sleep(self, seconds: float) -> None:
        raise NotImplementedError

    async def _count_within(self, seconds: float) -> int:
        """The servers subscribed now; raises when Redis does not answer in time."""
        raise NotImplementedError

    def _ensure_recovery(self) -> None:
        """Run :meth:`_recover` in the background unless it runs already (called under
        :attr:`_lock`)."""
        raise NotImplementedError

    def _recovered(self) -> None:
        """The queue is empty and :attr:`holding` over (called under :attr:`_lock`)."""

    # -- publishing ------------------------------------------------------------

    def send(self, channel: bytes, data: bytes) -> Awaitable[Any] | None:
        """The way in for a broadcast: hold it while the cluster is not back, else
        publish it.

        Returns None once it is held (raises :class:`OfflineQueueFull` when it
        does not fit, :class:`AdapterClosedError` once closed); else the
        transport's ``post(channel, data)``, for the caller to await (so an
        ``emit`` awaits no coroutine of the publisher's own), passing one of
        :data:`UNREACHABLE` it raises to :meth:`unreachable`.
        """
        if self.holding or self.subscriber.resubscribing:
            self.hold(channel, data)
            return None
        return self._post(channel, data)

    def unreachable(self, channel: bytes, data: bytes, error: BaseException) -> None:
        """The transport's ``post`` raised ``error`` (one of :data:`UNREACHABLE`):
        hold the broadcast
        (a refusal, such as a wrong password, is no outage: it is raised)."""
        if isinstance(error, RedisRefusedError):
            raise error
        if self._closed:
            raise AdapterClosedError(
                "the adapter is closed: the broadcast was not published") from error
        self.hold(channel, data, error)

    def requeue(self, posts: list[tuple[bytes, bytes]]) -> None:
        """Publishes a lost connection left unconfirmed (or confirmed in its last
        instant, when Redis may have died before its subscribers' copies): send them
        again first."""
        if self._closed:
            self.dropped += len(posts)
            self._logger().warning(
                "%d broadcasts may be lost: the Redis connection dropped while the adapter "
                "was closing", len(posts),
            )
            return
        now = self._time()
        with self._lock:
            self._items.extendleft((channel, data, now) for channel, data in reversed(posts))
            self._bytes += sum(len(data) for _, data in posts)
            self.resent += len(posts)
            self._requeued += len(posts)
            self._start_holding(f"the connection was lost: {len(posts)} publishes it had not "
                                "confirmed, or confirmed in its last read, are sent again")

    def hold(self, channel: bytes, data: bytes, cause: BaseException | None = None) -> None:
        """Queue a broadcast for later (raises :class:`OfflineQueueFull` when it
        does not fit, :class:`AdapterClosedError` once closed)."""
        if self._closed:
            raise AdapterClosedError("the adapter is closed: the broadcast was not published")
        with self._lock:
            self._hold(channel, data, cause)

    def _hold(self, channel: bytes, data: bytes, cause: BaseException | None) -> None:
        now = self._time()
        self._expire(now)
        limits = self.limits
        if len(self._items) >= limits.max_messages or self._bytes + len(data) > limits.max_bytes:
            self.rejected += 1
            if not self.holding:
                self._start_holding(repr(cause) if cause else "the subscriber is reconnecting")
            if not self.queue_enabled:
                raise OfflineQueueFull(
                    "Redis is unreachable or the servers are resubscribing, and there is no "
                    "offline queue: the broadcast was not published"
                ) from cause
            raise OfflineQueueFull(
                f"Redis is unreachable and the offline queue is full ({len(self._items)} "
                f"broadcasts, {self._bytes} bytes): the broadcast was not published"
            ) from cause
        self._items.append((channel, data, now))
        self._bytes += len(data)
        self.queued += 1
        # started again when a recovery ended since the caller saw ``holding`` (threads)
        self._start_holding(repr(cause) if cause else "the subscriber is reconnecting")

    def _start_holding(self, why: str) -> None:
        if not self.holding:
            self.holding = True
            self._logger().warning(
                "Redis unreachable or resubscribing (%s): holding broadcasts until the "
                "servers are back", why,
            )
        self._ensure_recovery()

    def _expire(self, now: float) -> None:
        items, max_age = self._items, self.limits.max_age
        expired = 0
        while items and now - items[0][2] > max_age:
            self._bytes -= len(items.popleft()[1])
            expired += 1
        if expired:
            self.expired += expired
            self._logger().error(
                "%d queued broadcasts were dropped: Redis was unreachable for more than "
                "%.1fs (OfflineQueue.max_age)", expired, max_age,
            )

    # -- recovering ------------------------------------------------------------

    async def _recover(self) -> None:
        """Wait until Redis and the servers are back, then publish the queue in order."""
        policy = ReconnectPolicy(self.min_retry_delay, self.max_retry_delay,
                                 self.max_retry_delay)
        back_since: float | None = None
        count = 0
        while not self._closed:
            with self._lock:
                self._expire(self._time())
            try:
                count = await self._count_within(1.0)
            except Exception:  # unreachable still (or refused): try again shortly
                back_since = None
                await self._sleep(policy.failed(refused=False))
                continue
            now = self._time()
            if back_since is None:
                back_since = now
            servers_back = count >= self.known_servers and not self.subscriber.resubscribing
            waited = now - back_since
            if not servers_back and waited < self.limits.wait_for_servers:
                await self._sleep(0.02)
                continue
            if not servers_back:
                self._logger().warning(
                    "publishing %d held broadcasts with %d of %d servers subscribed after "
                    "waiting %.1fs for the others", len(self._items), count,
                    self.known_servers, waited,
                )
            # what is held now (emits go on behind it), then the rest with the lock held:
            # emits from other threads wait until the queue is empty and holding is over
            if not await self._flush(len(self._items)):
                back_since = None
                continue
            with self._lock:
                if not await self._flush(None):
                    back_since = None
                    continue
                self.holding = False
                self.known_servers = count
                self._recovered()
            self._logger().info("Redis is back: held broadcasts published")
            return

    async def _flush(self, most: int | None) -> bool:
        """Publish the queue in order, ``most`` broadcasts at most (None: until it is
        empty); False when Redis became unreachable again."""
        items = self._items
        left = len(items) if most is None else most
        while left > 0 or most is None:
            left -= 1
            with self._lock:
                if not items:
                    break
                item = items.popleft()
                self._bytes -= len(item[1])
                self._requeued = 0
            try:
                await self._post(item[0], item[1])
            except RedisRefusedError as exc:  # no outage: the next ones would be refused too
                self.dropped += 1
                self._logger().error("a held broadcast on %r was not published: %s",
                                     item[0], exc)
                continue
            except UNREACHABLE:
                self._put_back(item)
                return False
            except asyncio.CancelledError:
                self._put_back(item)
                raise
            except Exception as exc:  # refused by Redis (ACL...): the next ones may pass
                self.dropped += 1
                self._logger().error("Redis refused a held broadcast on %r: %r", item[0], exc)
                continue
            self.flushed += 1
        return True

    def _put_back(self, item: tuple[bytes, bytes, float]) -> None:
        """A broadcast the flush could not publish: back at the head, behind the earlier
        ones its failed connection left unconfirmed (handed back meanwhile)."""
        with self._lock:
            self._items.insert(min(self._requeued, len(self._items)), item)
            self._bytes += len(item[1])

    # -- state ------------------------------------------------------------------

    @property
    def depth(self) -> int:
        """Broadcasts waiting in the queue now."""
        return len(self._items)

    def table_sizes(self) -> dict[str, int]:
        """``offline_queue``: the broadcasts held now."""
        return {"offline_queue": len(self._items)}

    def stats(self) -> dict[str, int]:
        """``offline_queued``, ``offline_flushed``, ``offline_expired``,
        ``offline_rejected`` (emits that raised), ``offline_dropped`` (left
        when closing), ``resent`` (publishes a lost connection left unconfirmed, or confirmed
        in its last read, sent again)."""
        return {
            "offline_queued": self.queued,
            "offline_flushed": self.flushed,
            "offline_expired": self.expired,
            "offline_rejected": self.rejected,
            "offline_dropped": self.dropped,
            "resent": self.resent,
        }

    def _drop_left(self) -> None:
        """Closing: log and count what could not be published."""
        with self._lock:
            left = len(self._items)
            self._items.clear()
            self._bytes = 0
            self.holding = False
        if left:
            self.dropped += left
            self._logger().error(
                "%d held broadcasts were not published: the adapter was closed while Redis "
                "was unreachable", left,
            )


class BroadcastPublisher(HeldBroadcasts):
    """:class:`HeldBroadcasts` on the running event loop (asyncio managers)."""

    def _init_driver(self) -> None:
        self._recovery: asyncio.Task[None] | None = None
        self._counting: asyncio.Task[None] | None = None

    def _time(self) -> float:
        return asyncio.get_running_loop().time()

    async def _sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def _count_within(self, seconds: float) -> int:
        return await asyncio.wait_for(self._count_servers(), seconds)

    def _ensure_recovery(self) -> None:
        if self._recovery is None or self._recovery.done():
            self._recovery = asyncio.ensure_future(self._recover())

    # -- the number of servers to wait for ------------------------------------------------

    def start(self) -> None:
        """Start counting the servers now and then (the number to wait for after an outage)."""
        if self._counting is None and not self._closed:
            self._counting = asyncio.ensure_future(self._count_forever())

    async def _count_forever(self) -> None:
        while not self._closed:
            if not self.holding:
                try:
                    count = await self._count_within(self.count_interval)
                except Exception as exc:  # Redis is down: the recovery will tell
                    self._logger().debug("cannot count the servers: %r", exc)
                else:
                    if not self.holding:
                        self.known_servers = count
            await asyncio.sleep(self.count_interval)

    async def close(self, timeout: float | None = None) -> None:
        """Publish what is held if the cluster is back within ``timeout``
        seconds (by default ``wait_for_servers`` + 1); log and count what is
        left; stop."""
        counting, self._counting = self._counting, None
        if counting is not None:
            counting.cancel()
        recovery = self._recovery
        if self._items and recovery is not None and not recovery.done():
            if timeout is None:
                timeout = self.limits.wait_for_servers + 1.0
            await asyncio.wait({recovery}, timeout=timeout)
        self._closed = True
        recovery, self._recovery = self._recovery, None
        for task in (counting, recovery):
            if task is not None:
                task.cancel()
                try:
                    await task
                except BaseException:  # noqa: S110 - cancelled on purpose
                    pass
        self._drop_left()


__all__ = [
    "UNREACHABLE", "BroadcastPublisher", "HeldBroadcasts", "NO_QUEUE", "OfflineQueue",
    "OfflineQueueFull",
]
