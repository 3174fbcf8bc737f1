"""Redis refusing the adapter (wrong password, missing ACL rules): one clear error type.

A refusal is not an outage: trying again does not help until someone changes
the password or the ACL rules.  The transports hand it to whoever waits for
the refused thing (``start()``, ``subscribe``...) at once, instead of letting
them run into a timeout, and log it once (then at most once a minute while it
lasts, see :class:`RefusalLog`).
"""

from __future__ import annotations

import time

#: the error codes of a refusal (authentication and ACL); others (MOVED, LOADING...) are not
REFUSAL_CODES = frozenset({"NOPERM", "NOAUTH", "WRONGPASS"})


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "backslashreplace") if isinstance(value, bytes) else value


class RedisRefusedError(ConnectionError):
    """Redis refused a command of the adapter: ``AUTH`` (wrong password, unknown
    user), or a (P/S)SUBSCRIBE or another command the ACL rules do not allow.

    A ``ConnectionError`` (like the adapter's other "cannot use Redis"
    errors).  ``str()`` reads ``Redis refused PSUBSCRIBE socket.io#/#*:
    NOPERM ...``.

    :ivar command: the refused command, upper case (``AUTH``, ``PSUBSCRIBE``...).
    :ivar targets: the channels or patterns it named (for ``AUTH``: the user).
    :ivar reply: Redis' error reply, as Redis wrote it.
    :ivar code: the reply's first word (``NOPERM``, ``WRONGPASS``, ``NOAUTH``...).
    :ivar address: the node that refused, when known.
    """

    def __init__(self, command: bytes | str, targets: list[bytes] | list[str] | tuple[()] = (),
                 reply: object = "", address: object = None) -> None:
        self.command = _text(command).upper()
        self.targets = [_text(target) for target in targets]
        self.reply = str(reply)
        self.code = self.reply.split(" ", 1)[0] if self.reply else ""
        self.address = address
        where = f" at {address}" if address is not None else ""
        named = " " + " ".join(self.targets) if self.targets else ""
        super().__init__(f"Redis refused {self.command}{named}{where}: {self.reply}")

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.command, self.targets, self.reply, self.address))


def is_refusal(reply: object) -> bool:
    """True when an error reply is a refusal (its code is NOPERM, NOAUTH or WRONGPASS)."""
    return str(reply).split(" ", 1)[0] in REFUSAL_CODES


def auth_refused(reply: object, username: str | None, address: object = None
                 ) -> RedisRefusedError:
    """The error for a refused ``AUTH`` (the user is named, never the password)."""
    return RedisRefusedError("AUTH", [f"user={username or 'default'}"], reply, address)


def info_field(reply: object, name: bytes) -> int | None:
    """The integer field ``name`` of an ``INFO`` reply (bulk text), or None if absent."""
    text = reply if isinstance(reply, bytes) else str(reply).encode()
    for line in text.splitlines():
        if line.startswith(name + b":"):
            try:
                return int(line.split(b":", 1)[1])
            except ValueError:
                return None
    return None


class RefusalLog:
    """Logs a lasting refusal once, then at most once per ``interval`` seconds.

    ``should_log(message)`` is True for a new message, or for the same one
    ``interval`` seconds after it was last logged.
    """

    __slots__ = ("interval", "_last", "_at", "repeats")

    def __init__(self, interval: float = 60.0) -> None:
        self.interval = interval
        self._last = ""
        self._at = 0.0
        #: how many times the current message was not logged
        self.repeats = 0

    def should_log(self, message: str) -> bool:
        """True if ``message`` should be logged now (see the class doc)."""
        now = time.monotonic()
        if message != self._last or now - self._at >= self.interval:
            self._last, self._at, self.repeats = message, now, 0
            return True
        self.repeats += 1
        return False

    def reset(self) -> None:
        """The refusal is over (the next one is logged at once)."""
        self._last, self.repeats = "", 0


__all__ = [
    "REFUSAL_CODES", "RedisRefusedError", "RefusalLog", "auth_refused", "info_field", "is_refusal",
]
