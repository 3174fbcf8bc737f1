"""The delays between reconnect attempts: the one policy every connection uses (the
asyncio, blocking and sharded subscribers, the offline queue's recovery); the classic
subscribers' behaviour against a real Redis is in test_refusals and test_outage, the sharded
one's backoff while Redis is down is here."""

from __future__ import annotations

import asyncio
import logging
import re
import time

import pytest

from socketio_redis_adapter.core.offline_queue import HeldBroadcasts
from socketio_redis_adapter.transport.endpoints import Address, ConnectionSettings
from socketio_redis_adapter.transport.raw import RawPubSub
from socketio_redis_adapter.transport.reconnect import (
    MAX_DELAY,
    MAX_REFUSED_DELAY,
    MIN_DELAY,
    REPEAT_DROP_WINDOW,
    ReconnectPolicy,
)
from socketio_redis_adapter.transport.sharded import ShardedPubSub
from socketio_redis_adapter.transport.topology import Topology
from tests.support.redis_server import RedisServer


def _policy() -> ReconnectPolicy:
    return ReconnectPolicy(0.05, 0.5, 5.0)


def test_failed_attempts_back_off_doubling_up_to_the_cap() -> None:
    policy = _policy()
    delays = [policy.next_delay(was_up=False, closed_by_peer=False, refused=False, now=t)
              for t in range(7)]
    assert delays == [0.05, 0.1, 0.2, 0.4, 0.5, 0.5, 0.5]


def test_refusals_back_off_to_their_own_cap() -> None:
    policy = _policy()
    delays = [policy.next_delay(was_up=False, closed_by_peer=False, refused=True, now=t)
              for t in range(10)]
    assert delays[:4] == [0.05, 0.1, 0.2, 0.4]
    assert max(delays) == 5.0 and delays[-1] == 5.0


def test_a_connection_redis_closed_is_made_again_at_once_but_not_twice_in_a_row() -> None:
    policy = _policy()
    assert policy.next_delay(was_up=True, closed_by_peer=True, refused=False, now=100.0) == 0.0
    # closed again within the window: the backoff, never a busy loop of connections
    assert policy.next_delay(was_up=True, closed_by_peer=True, refused=False,
                             now=100.0 + REPEAT_DROP_WINDOW / 2) == 0.05
    assert policy.next_delay(was_up=True, closed_by_peer=True, refused=False,
                             now=100.0 + REPEAT_DROP_WINDOW * 2) == 0.0


def test_a_connection_that_was_up_starts_the_backoff_again() -> None:
    policy = _policy()
    for t in range(5):
        policy.next_delay(was_up=False, closed_by_peer=False, refused=False, now=t)
    # up, then lost by our own watchdog (silence): the shortest delay again
    assert policy.next_delay(was_up=True, closed_by_peer=False, refused=False, now=10) == 0.05
    assert policy.next_delay(was_up=False, closed_by_peer=False, refused=False, now=11) == 0.1


def test_an_attempt_loop_fails_and_succeeds_by_the_same_delays() -> None:
    # the sharded placer and the offline queue's recovery only attempt: failed(), succeeded()
    policy = _policy()
    assert [policy.failed(refused=False) for _ in range(6)] == [0.05, 0.1, 0.2, 0.4, 0.5, 0.5]
    policy.succeeded()
    assert [policy.failed(refused=True) for _ in range(9)][-3:] == [3.2, 5.0, 5.0]
    policy.succeeded()
    assert policy.failed(refused=False) == 0.05


def test_every_connection_kind_holds_the_one_policy_with_its_documented_delays() -> None:
    classic = RawPubSub(Topology(Address("127.0.0.1", 1), ConnectionSettings()))
    sharded = ShardedPubSub(Topology(Address("127.0.0.1", 1), ConnectionSettings()))
    for held in (classic._reconnect_policy(), sharded._reconnect_policy(), sharded._policy):
        assert isinstance(held, ReconnectPolicy)
        assert (held.min_delay, held.max_delay, held.max_refused_delay) == (
            MIN_DELAY, MAX_DELAY, MAX_REFUSED_DELAY) == (0.05, 0.5, 5.0)
    # configured per use: the offline queue's recovery asks every 20 ms doubling to 0.25 s
    assert (HeldBroadcasts.min_retry_delay, HeldBroadcasts.max_retry_delay) == (0.02, 0.25)


@pytest.mark.needs_sharded_pubsub
async def test_sharded_subscriber_backs_off_by_the_policy_while_redis_is_down(
    own_redis: RedisServer, caplog: pytest.LogCaptureFixture,
) -> None:
    """Redis killed: the sharded placer's attempts wait 50 ms doubling to 0.5 s (as the
    classic subscriber's), and once Redis is back the channel is subscribed again."""
    transport = ShardedPubSub(Topology(Address("127.0.0.1", own_redis.port),
                                       ConnectionSettings()))
    caplog.set_level(logging.WARNING, logger="socketio_redis_adapter")
    try:
        await transport.ssubscribe(b"reconnect-policy")
        assert transport.connected
        own_redis.kill()
        retries: list[tuple[float, float]] = []  # (when logged, delay announced)
        deadline = time.monotonic() + 6.0
        while len(retries) < 7 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
            for record in caplog.records[:]:
                match = re.search(r"cannot subscribe 1 sharded channels yet .*retrying in "
                                  r"([0-9.]+)s", record.getMessage())
                if match:
                    retries.append((record.created, float(match[1])))
            caplog.clear()
        delays = [delay for _, delay in retries]
        assert delays[:7] == [0.05, 0.1, 0.2, 0.4, 0.5, 0.5, 0.5], delays
        # each announced delay is waited (an attempt on a dead port fails at once)
        for (at, delay), (next_at, _) in zip(retries, retries[1:], strict=False):
            assert next_at - at >= delay - 0.01, (at, delay, next_at)
        own_redis.start()
        back = time.monotonic()
        while not transport.connected and time.monotonic() - back < 3.0:
            await asyncio.sleep(0.01)
        # within the cap (0.5 s) and an attempt's time of Redis being back
        assert transport.connected and time.monotonic() - back < 1.5
        assert own_redis.command("SPUBLISH", "reconnect-policy", "x") == b":1\r\n"
    finally:
        await transport.close()
