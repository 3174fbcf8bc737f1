"""The delays between subscriber reconnect attempts (shared by the asyncio and blocking
subscribers; their behaviour against a real Redis is in test_refusals and test_outage)."""

from __future__ import annotations

from socketio_redis_adapter.transport.reconnect import REPEAT_DROP_WINDOW, ReconnectPolicy


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
