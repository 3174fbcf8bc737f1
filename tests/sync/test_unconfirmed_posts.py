"""Publishes a lost blocking connection left unconfirmed, or confirmed in its last read:
handed back, in order, to be sent again (the synchronous manager's offline queue takes
them), or counted as maybe lost.

Real Redis: ``CLIENT PAUSE`` keeps it from running the PUBLISHes already written, then
it is killed, so their replies never come.  The first PUBLISH's reply is read by the
next post: it is the last read's, less than a second before the loss, so it is handed
back too (Redis may have died before writing the subscribers' copies).
"""

from __future__ import annotations

import logging
import time

import pytest
import redis

from socketio_redis_adapter.transport.blocking_pubsub import BlockingPubSub
from tests.support.redis_server import RedisServer


def _unanswered_posts(own_redis: RedisServer, transport: BlockingPubSub) -> None:
    transport.post_now(b"ch", b"first")  # the connection is made and works
    client = redis.Redis.from_url(own_redis.url)
    client.execute_command("CLIENT", "PAUSE", "5000", "ALL")
    for data in (b"one", b"two", b"three"):
        transport.post_now(b"ch", data)  # written; Redis runs none of them
    client.close()
    own_redis.kill()


def test_a_lost_connection_hands_its_unconfirmed_posts_back_in_order(
    own_redis: RedisServer
) -> None:
    transport = BlockingPubSub(own_redis.url, connect_timeout=1.0)
    handed: list[list[tuple[bytes, bytes]]] = []
    transport.on_lost_posts = handed.append
    try:
        _unanswered_posts(own_redis, transport)
        try:
            transport.post_now(b"ch", b"four")
        except (ConnectionError, OSError):
            pass
        else:
            raise AssertionError("a post on a connection Redis closed did not raise")
        assert handed == [[(b"ch", b"first"), (b"ch", b"one"), (b"ch", b"two"),
                           (b"ch", b"three")]]
        assert transport.stats()["publish_failures"] == 0
    finally:
        transport.close()


def test_without_a_handler_they_are_counted_as_maybe_lost(own_redis: RedisServer) -> None:
    transport = BlockingPubSub(own_redis.url, connect_timeout=1.0)
    try:
        _unanswered_posts(own_redis, transport)
        try:
            transport.post_now(b"ch", b"four")  # tried once more on a new connection: down
        except (ConnectionError, OSError):
            pass
        assert transport.stats()["publish_failures"] == 4
    finally:
        transport.close()


def test_close_waits_for_confirmations_and_counts_only_the_unconfirmed(
    own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """``close()`` reads the replies owed to what was posted, up to its timeout: with
    Redis paused past it, the three unanswered publishes are counted and logged once,
    before ``close()`` returns (the one answered before the pause is not)."""
    caplog.set_level(logging.WARNING, logger="socketio_redis_adapter")
    transport = BlockingPubSub(own_redis.url, connect_timeout=1.0)
    client = redis.Redis.from_url(own_redis.url)
    try:
        transport.post_now(b"ch", b"first")
        client.execute_command("CLIENT", "PAUSE", "3000", "ALL")
        for data in (b"one", b"two", b"three"):
            transport.post_now(b"ch", data)
        started = time.monotonic()
        transport.close(timeout=0.5)
        assert time.monotonic() - started < 2.0
        assert transport.stats()["publish_failures"] == 3
        lost = [r.getMessage() for r in caplog.records if "may be lost" in r.getMessage()]
        assert lost == ["3 publishes may be lost: Redis had not confirmed them when the "
                        "connection was closed"]
    finally:
        client.execute_command("CLIENT", "UNPAUSE")
        client.close()
        transport.close()


def test_close_after_posts_redis_answered_logs_nothing(
    own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="socketio_redis_adapter")
    transport = BlockingPubSub(own_redis.url, connect_timeout=1.0)
    client = redis.Redis.from_url(own_redis.url)
    try:
        transport.post_now(b"ch", b"first")
        client.execute_command("CLIENT", "PAUSE", "300", "ALL")  # shorter than the wait
        for seq in range(50):
            transport.post_now(b"ch", str(seq).encode())
        transport.close(timeout=2.0)
        assert transport.stats()["publish_failures"] == 0
        assert [r for r in caplog.records if r.name.startswith("socketio_redis_adapter")] == []
    finally:
        client.close()
        transport.close()
