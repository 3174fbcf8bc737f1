"""Pacing: a burst for a big room must not hold the event loop for seconds.

Delivering one broadcast to N local clients queues a packet on each of N
Engine.IO sockets, and wakes N writer tasks, which send everything queued
for them before they yield.  A burst of messages read from Redis at once
(one socket read can hold thousands) used to be delivered in one loop
iteration: 200 emits to a room of 10,000 clients are 2 million packets, and
the loop then ran nothing else (no timer, no ping, no new connection) for as
long as the writers took, 16 to 21 seconds on a 2-core machine, past
Engine.IO's ping timeout.

:class:`FanoutPacer` sits between the subscriber transport and the receiver.
It hands messages on at once while the deliveries since its last turn stay
within :attr:`FanoutPacer.turn_deliveries`; past that, messages wait in a
backlog, in arrival order, and are handed on a turn's worth per loop
iteration, after the writer tasks the previous turn woke.  Timers and other
connections run between turns, and each writer sends a turn's packets, not
the whole burst's.  Everything stays in order (a message never overtakes
one that arrived before it), so what clients receive does not change, only
when.

The backlog is bounded by :attr:`FanoutPacer.max_backlog_bytes`: past it the
pacer asks the transport to stop reading (``pause_reading()``), leaving the
rest in the socket and in Redis, and to read again (``resume_reading()``)
once the backlog is below half of it.  Redis' ``client-output-buffer-limit
pubsub`` is then the backstop of a server that cannot keep up for long: Redis
drops its subscriber, which the transport logs and counts
(``slow_consumer_disconnects``), as for any slow consumer.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Callable
from typing import Any

from .stats import Counters

TURN_DELIVERIES = 100_000
"""Deliveries per loop turn.

A turn's cost is mostly python-engineio's writer tasks: about 35 µs to wake
each recipient's writer (``asyncio.wait_for`` on its queue) plus about 9 µs
per packet it sends.  For a room of 10,000 websocket clients on a 2-core
machine shared with its clients (``benchmarks/reliability.py``, row d), a
burst of 200 emits (2 million deliveries) took, by deliveries per turn
(longest loop pause, then the time until every client had everything):
unpaced, 16 s and 18 s; 200,000: 6.9 s and 23 s; 100,000: 4.4 to 4.8 s and
26 to 27 s; 50,000: 3.8 to 4.2 s and 39 s; 20,000: 2.3 to 2.8 s and 53 to
62 s (smaller turns wake every writer more often).  100,000 keeps the
loop's longest pause well inside Engine.IO's 20 s ping timeout for about
1.5 times the drain time.
"""

MAX_BACKLOG_BYTES = 8 * 1024 * 1024
"""8 MiB, Redis' default soft ``client-output-buffer-limit pubsub``: past it, reading stops."""

_Message = tuple[bytes | None, bytes, bytes, Any]
#: ``on_message(pattern, channel, data, route)``, as the transport layer calls it
MessageHandler = Callable[[bytes | None, bytes, bytes, Any], None]


class FanoutPacer:
    """Hands Redis messages to ``handler`` in order, a bounded amount of fan-out per loop turn.

    :param handler: the receiver's ``on_message(pattern, channel, data, route)``.
    :param counters: whose ``delivered`` measures the fan-out each message caused.
    :param transport: the subscriber transport's abilities (see
                      :func:`~socketio_redis_adapter.transport.base.abilities`): its
                      ``pause_reading()`` and ``resume_reading()`` are called.
    :param logger: returns the adapter's logger.


    Each message handed on costs one delivery plus the deliveries it
    caused.  :meth:`on_message` is the transport's ``on_message``;
    :meth:`close` drops the backlog.
    """

    __slots__ = ("handler", "counters", "turn_deliveries", "max_backlog_bytes",
                 "_transport", "_logger", "_spent", "_backlog",
                 "_backlog_bytes", "_scheduled", "_paused", "_closed", "paced", "pauses",
                 "handler_errors")

    def __init__(self, handler: MessageHandler, counters: Counters, transport: Any,
                 logger: Callable[[], logging.Logger]) -> None:
        self.handler = handler
        self.counters = counters
        #: deliveries (queued packets) handed on before the pacer lets the loop turn
        self.turn_deliveries = TURN_DELIVERIES
        #: bytes of messages waiting in the backlog before the transport stops reading
        self.max_backlog_bytes = MAX_BACKLOG_BYTES
        self._transport = transport
        self._logger = logger
        #: deliveries since the backlog was last served (no reset between loop turns: at
        #: worst a message waits for one turn it did not need to, never more)
        self._spent = 0
        self._backlog: collections.deque[_Message] = collections.deque()
        self._backlog_bytes = 0
        self._scheduled = False
        self._paused = False
        self._closed = False
        #: messages that waited in the backlog for a later loop turn
        self.paced = 0
        #: times the transport was asked to stop reading (backlog over its bound)
        self.pauses = 0
        #: exceptions raised by ``handler`` for messages from the backlog (logged)
        self.handler_errors = 0

    def on_message(self, pattern: bytes | None, channel: bytes, data: bytes, route: Any
                   ) -> None:
        """The transport's ``on_message``: hand on now, or keep for a later turn."""
        if self._backlog or self._spent >= self.turn_deliveries:
            self._defer((pattern, channel, data, route))
            return
        counters = self.counters
        before = counters.delivered
        self.handler(pattern, channel, data, route)  # raising: counted by the transport
        self._spent += counters.delivered - before + 1

    # -- the backlog -----------------------------------------------------------

    def _defer(self, message: _Message) -> None:
        if self._closed:
            return
        self._backlog.append(message)
        self.paced += 1
        self._backlog_bytes += len(message[2])
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._serve)
        if not self._paused and self._backlog_bytes > self.max_backlog_bytes:
            self._pause(True)

    def _serve(self) -> None:
        """One turn: hand on backlog messages up to the turn's deliveries."""
        self._scheduled = False
        self._spent = 0
        backlog, counters, handler = self._backlog, self.counters, self.handler
        budget = self.turn_deliveries
        while backlog and self._spent < budget:
            message = backlog.popleft()
            self._backlog_bytes -= len(message[2])
            before = counters.delivered
            try:
                handler(*message)
            except Exception:
                self.handler_errors += 1
                self._logger().exception("error while handling a Redis message")
            self._spent += counters.delivered - before + 1
        if backlog and not self._closed:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._serve)
        if self._paused and self._backlog_bytes <= self.max_backlog_bytes // 2:
            self._pause(False)

    def _pause(self, pause: bool) -> None:
        self._paused = pause
        if pause:
            self.pauses += 1
            self._transport.pause_reading()
        else:
            self._transport.resume_reading()

    # -- reports and closing ------------------------------------------------------

    def stats(self) -> dict[str, int]:
        """``paced`` messages, reading ``pauses``, ``pacing_handler_errors``."""
        return {"paced": self.paced, "reading_pauses": self.pauses,
                "pacing_handler_errors": self.handler_errors}

    def table_sizes(self) -> dict[str, int]:
        """``paced_backlog``: messages waiting for a later loop turn."""
        return {"paced_backlog": len(self._backlog)}

    def close(self) -> None:
        """Drop the backlog (the adapter is closing: its clients are leaving)."""
        self._closed = True
        if self._backlog:
            self._logger().debug("closing: %d received messages not delivered",
                                 len(self._backlog))
        self._backlog.clear()
        self._backlog_bytes = 0
        if self._paused:
            self._pause(False)


__all__ = ["MAX_BACKLOG_BYTES", "TURN_DELIVERIES", "FanoutPacer"]
