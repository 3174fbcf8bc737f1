"""Broadcasts across Redis outages for a synchronous manager.

The offline queue of :mod:`..core.offline_queue` (:class:`~..core.offline_queue.HeldBroadcasts`:
what is held, in which order, for how long, and when the cluster is back),
run by one background task of the ``socketio.Server`` (a thread, a gevent
greenlet or an eventlet green thread, by its async mode).  Emits come from
any thread: the queue changes under a lock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from ..completion import run_to_completion
from ..core.offline_queue import UNREACHABLE, HeldBroadcasts


class BlockingBroadcastPublisher(HeldBroadcasts):
    """:class:`~..core.offline_queue.HeldBroadcasts` on a synchronous server's tasks.

    One background task counts the servers every ``count_interval`` seconds
    while all is well, and runs the recovery while broadcasts are held; it
    sleeps on a server event that holding a broadcast and :meth:`close` set.
    ``post`` and ``count_servers`` are coroutine functions that never suspend
    (they block), as a synchronous manager's engine has them; ``post_now``,
    when given, is ``post`` as a plain function (what :meth:`send` calls).

    :meth:`bind` it to the server, then :meth:`start` it.
    """

    def __init__(self, *args: Any, post_now: Callable[[bytes, bytes], Any] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._post_now = post_now if post_now is not None else (
            lambda channel, data: run_to_completion(self._post(channel, data))
        )

    def send(self, channel: bytes, data: bytes) -> None:
        """The way in for a broadcast: hold it while the cluster is not back, else
        publish it now (a post that finds Redis unreachable holds it too).

        Raises :class:`~..core.offline_queue.OfflineQueueFull` when it is held and does
        not fit, :class:`~..core.waiters.AdapterClosedError` once closed; returns None,
        with nothing left to await.
        """
        if self.holding or self.subscriber.resubscribing:
            self.hold(channel, data)
            return
        try:
            self._post_now(channel, data)
        except UNREACHABLE as exc:
            self.unreachable(channel, data, exc)

    def _new_lock(self) -> AbstractContextManager[Any]:
        # reentrant: the recovery publishes the last broadcasts with it held
        return threading.RLock()

    def _init_driver(self) -> None:
        self._server: Any = None
        self._wake: Any = None
        self._stopped: Any = None
        #: True from a broadcast held until the recovery published the queue
        self._recovering = False
        self._running = False

    def bind(self, server: Any) -> None:
        """Use ``server``'s events and background tasks."""
        self._server = server
        # made again: gevent or eventlet have patched threading by the time a server is made
        self._lock = self._new_lock()
        self._wake = server.eio.create_event()
        self._stopped = server.eio.create_event()

    # -- what the queue asks of its driver ----------------------------------------

    def _time(self) -> float:
        return time.monotonic()

    async def _sleep(self, seconds: float) -> None:
        self._nap(seconds)

    async def _count_within(self, seconds: float) -> int:
        # the connection's own timeouts bound a blocking count
        return await self._count_servers()

    def _ensure_recovery(self) -> None:
        if not self._recovering:
            self._recovering = True
            if self._wake is not None:
                self._wake.set()
        if not self._running:
            self.start()  # held before the manager started: the task runs the recovery

    def _recovered(self) -> None:
        self._recovering = False

    # -- the task ----------------------------------------------------------------------

    def start(self) -> None:
        """Start the background task (once; after :meth:`bind`)."""
        if self._running or self._closed or self._server is None:
            return
        self._running = True
        self._stopped.clear()
        self._server.start_background_task(self._run)

    def _nap(self, seconds: float) -> None:
        """Sleep ``seconds``, or less when woken (a held broadcast, closing)."""
        if not self._closed:
            self._wake.wait(timeout=seconds)
            self._wake.clear()

    def _run(self) -> None:
        try:
            while not self._closed:
                if self._recovering:
                    try:
                        run_to_completion(self._recover())
                    except Exception as exc:  # never fatal: the next round tries again
                        self._logger().error("offline queue recovery failed: %r", exc)
                        self._nap(self.max_retry_delay)
                    continue
                try:
                    count = run_to_completion(self._count_within(self.count_interval))
                except Exception as exc:  # Redis is down: a held broadcast starts the recovery
                    self._logger().debug("cannot count the servers: %r", exc)
                else:
                    with self._lock:
                        if not self.holding:
                            self.known_servers = count
                self._nap(self.count_interval)
        finally:
            self._running = False
            self._stopped.set()

    def close(self, timeout: float | None = None) -> None:
        """Publish what is held if the cluster is back within ``timeout`` seconds (by
        default ``wait_for_servers`` + 1); log and count what is left; stop the task."""
        if self._items and self._running:
            if timeout is None:
                timeout = self.limits.wait_for_servers + 1.0
            deadline = time.monotonic() + timeout
            while self._items and self._running and time.monotonic() < deadline:
                self._server.sleep(0.02)
        self._closed = True
        if self._wake is not None:
            self._wake.set()
        if self._running:
            self._stopped.wait(timeout=2.0)
        self._drop_left()


__all__ = ["BlockingBroadcastPublisher"]
