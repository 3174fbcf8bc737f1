"""Logging that input from outside cannot flood: a few lines per minute, the rest counted."""

from __future__ import annotations

import time


class LogLimiter:
    """Allows at most ``burst`` log lines per ``interval`` seconds.

    Whoever can publish on the adapter's channels could otherwise turn every
    malformed message into a log line (and most of its cost).  The counters
    (``stats["malformed"]``) still count every one.
    """

    __slots__ = ("burst", "interval", "suppressed", "_window", "_logged")

    def __init__(self, burst: int = 10, interval: float = 60.0) -> None:
        self.burst = burst
        self.interval = interval
        #: lines not logged since the last one that was
        self.suppressed = 0
        self._window = -interval
        self._logged = 0

    def allow(self) -> int | None:
        """None when this line must not be logged; else how many were skipped before it."""
        now = time.monotonic()
        if now - self._window >= self.interval:
            self._window, self._logged = now, 0
        if self._logged >= self.burst:
            self.suppressed += 1
            return None
        self._logged += 1
        skipped, self.suppressed = self.suppressed, 0
        return skipped

    def note(self, skipped: int) -> str:
        """The suffix that says how many lines were skipped ('' for none)."""
        if not skipped:
            return ""
        return (f" ({skipped} more were not logged: at most {self.burst} lines every "
                f"{self.interval:.0f} s)")


__all__ = ["LogLimiter"]
