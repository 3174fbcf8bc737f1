"""The synchronous offline queue's driver under threads: emits from several threads while
Redis goes away and comes back lose nothing and keep each thread's order.

A real ``socketio.Server`` in threading mode runs the publisher's task and gives its
events; the transport's ``post`` and the server count stand for Redis being up or down
(what they do with a real Redis is in ``test_sync_adapter.py``).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pytest
import socketio

from socketio_redis_adapter import OfflineQueue, OfflineQueueFull
from socketio_redis_adapter.blocking.publisher import BlockingBroadcastPublisher

LOGGER = logging.getLogger("test-blocking-publisher")


class _Redis:
    """Takes posts while up, refuses them while down; counts one server."""

    def __init__(self) -> None:
        self.up = True
        self.posted: list[bytes] = []
        self.lock = threading.Lock()
        self.resubscribing = False

    async def post(self, channel: bytes, data: bytes) -> None:
        if not self.up:
            raise ConnectionError("Redis is down")
        with self.lock:
            self.posted.append(data)

    async def count(self) -> int:
        if not self.up:
            raise ConnectionError("Redis is down")
        return 1


def _publisher(redis: _Redis, limits: OfflineQueue | None) -> BlockingBroadcastPublisher:
    server = socketio.Server(async_mode="threading")
    publisher = BlockingBroadcastPublisher(redis.post, redis, redis.count, limits,
                                           lambda: LOGGER, count_interval=0.05)
    publisher.bind(server)
    publisher.start()
    return publisher


def _emit(publisher: BlockingBroadcastPublisher, redis: _Redis, data: bytes) -> None:
    """What a synchronous manager's ``emit`` does with a broadcast."""
    publisher.send(b"ch", data)


def _wait(predicate: Any, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_emits_from_threads_through_outages_arrive_once_each_in_order() -> None:
    """Four threads emit while Redis goes down and up again every few milliseconds, so
    recoveries end while broadcasts are being held."""
    redis = _Redis()
    # room for every emit: this is about order and loss, not about the limits
    publisher = _publisher(redis, OfflineQueue(max_messages=100_000, wait_for_servers=0.05))
    threads, per_thread = 4, 3000

    failures: list[BaseException] = []

    def emitter(number: int) -> None:
        try:
            for seq in range(per_thread):
                _emit(publisher, redis, f"{number}:{seq}".encode())
                if seq % 100 == 0:
                    time.sleep(0.001)
        except BaseException as exc:  # reported by the test, not lost in the thread
            failures.append(exc)

    workers = [threading.Thread(target=emitter, args=(n,)) for n in range(threads)]
    try:
        for worker in workers:
            worker.start()
        outages = 0
        while any(worker.is_alive() for worker in workers) and outages < 200:
            redis.up = False
            time.sleep(0.005)
            redis.up = True
            time.sleep(0.01)
            outages += 1
        for worker in workers:
            worker.join(timeout=20)
        assert not failures, f"emits raised: {failures[:3]!r}"
        _wait(lambda: not publisher.holding and publisher.depth == 0, "the queue to empty")
        with redis.lock:
            posted = [data.decode() for data in redis.posted]
        for number in range(threads):
            mine = [int(item.split(":")[1]) for item in posted if item.startswith(f"{number}:")]
            assert mine == list(range(per_thread)), f"thread {number}: {mine[:20]}..."
        stats = publisher.stats()
        assert stats["offline_queued"] > 0, "the outages held nothing: they tested nothing"
        assert stats["offline_flushed"] == stats["offline_queued"]
        assert stats["offline_rejected"] == stats["offline_dropped"] == 0
    finally:
        publisher.close()


def test_without_a_queue_an_emit_in_an_outage_raises_and_publishing_resumes() -> None:
    redis = _Redis()
    publisher = _publisher(redis, None)
    try:
        redis.up = False
        with pytest.raises(OfflineQueueFull):
            _emit(publisher, redis, b"lost")
        redis.up = True
        _wait(lambda: not publisher.holding, "the publisher to see Redis back")
        _emit(publisher, redis, b"after")
        assert redis.posted == [b"after"]
    finally:
        publisher.close()


def test_close_publishes_what_is_held_when_redis_is_back_and_counts_the_rest() -> None:
    redis = _Redis()
    publisher = _publisher(redis, OfflineQueue(wait_for_servers=0.1))
    redis.up = False
    _emit(publisher, redis, b"one")
    _emit(publisher, redis, b"two")
    assert publisher.depth == 2
    redis.up = True
    publisher.close()  # waits for the recovery, which publishes them
    assert redis.posted == [b"one", b"two"]
    assert publisher.stats()["offline_dropped"] == 0

    redis = _Redis()
    publisher = _publisher(redis, OfflineQueue(wait_for_servers=0.1))
    redis.up = False
    _emit(publisher, redis, b"never")
    started = time.monotonic()
    publisher.close(timeout=0.3)  # Redis stays down: dropped, counted, logged
    assert time.monotonic() - started < 3.0
    assert publisher.stats()["offline_dropped"] == 1
    assert publisher.depth == 0 and redis.posted == []
