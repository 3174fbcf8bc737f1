"""LogLimiter: input from outside cannot flood the log, and the skipped lines are said."""

from __future__ import annotations

import pytest

from socketio_redis_adapter.core import log_limit
from socketio_redis_adapter.core.log_limit import LogLimiter


def test_at_most_burst_lines_per_interval_then_the_skipped_count(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [1000.0]
    monkeypatch.setattr(log_limit.time, "monotonic", lambda: now[0])
    limiter = LogLimiter(burst=3, interval=60.0)
    assert [limiter.allow() for _ in range(5)] == [0, 0, 0, None, None]
    assert limiter.suppressed == 2
    now[0] += 59.0
    assert limiter.allow() is None
    now[0] += 1.0  # a new window: the first line says how many were skipped
    skipped = limiter.allow()
    assert skipped == 3
    assert "3 more were not logged" in limiter.note(skipped)
    assert limiter.note(0) == ""
    assert limiter.suppressed == 0
