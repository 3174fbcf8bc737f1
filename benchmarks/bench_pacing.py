"""What pacing the fan-out costs a message that needs no pacing (``core/pacing.py``).

Every message from Redis passes through ``FanoutPacer`` on its way to the
receiver.  While the loop turn's deliveries stay under ``turn_deliveries``
(always, but in a burst for a big room), the pacer calls the receiver at once
and adds up what it delivered.  The two rows compare a handler called
directly and through the pacer, with a handler that does nothing, so the
difference is the pacer's own cost per message::

    pytest benchmarks/bench_pacing.py --benchmark-group-by=group --benchmark-columns=min,median
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from socketio_redis_adapter.core.pacing import FanoutPacer
from socketio_redis_adapter.core.stats import Counters

MESSAGES = 1000


def _handler(pattern: bytes | None, channel: bytes, data: bytes, route: Any) -> None:
    return None


@pytest.mark.parametrize("way", ["direct", "through the pacer"])
def test_hand_on_1000_messages(benchmark: Any, way: str) -> None:
    benchmark.group = "hand on 1000 messages (no pacing needed)"
    handler: Any = _handler
    if way == "through the pacer":
        logger = logging.getLogger("socketio_redis_adapter")
        pacer = FanoutPacer(_handler, Counters(), None, lambda: logger)
        pacer.turn_deliveries = 2**62  # never reached: this measures the direct path
        handler = pacer.on_message
    channel, data = b"socket.io#/#room#", b"\x93\xa6emitter\x83"

    def run() -> None:
        for _ in range(MESSAGES):
            handler(None, channel, data, None)

    benchmark(run)
