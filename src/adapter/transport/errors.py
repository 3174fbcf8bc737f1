"""Redis refusing the adapter (wrong password, missing ACL rules): one clear error type.

A refusal is not an outage: trying again does not help until someone changes
the password or the ACL rules.  The transports hand it to whoever waits for
the refused thing (``start()``, ``subscribe``...) at once, instead of letting
them run into a timeout, and log it once (then at most once a minute while it
lasts, see :class:`RefusalLog`).
"""

from __future__ import annotations

import re
import time
from typing import Any

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


class UnsupportedServerError(RedisRefusedError):
    """The server has no sharded pub/sub: ``SSUBSCRIBE``, ``SPUBLISH`` and ``PUBSUB
    SHARDNUMSUB`` are unknown commands there (Redis before 7.0).

    :class:`~socketio_redis_adapter.AsyncShardedRedisAdapter` needs Redis 7.0 or
    later, or any Valkey version; the classic adapters work with Redis 6.2 too.
    Raised by ``start()``, ``emit`` and the cluster requests, at once and without
    trying again (logged once); a :class:`RedisRefusedError`, so that ``emit``
    raises it rather than hold broadcasts for an outage.  ``str()`` reads
    ``Redis 6.2.14 at 127.0.0.1:6379 has no sharded pub/sub (SSUBSCRIBE is an unknown
    command there): AsyncShardedRedisAdapter needs Redis 7.0 or later, or any Valkey
    version; ...``.

    :ivar server: the server's name and version as it reported them
                  (``Redis 6.2.14``), or None when it could not be asked.
    """

    #: the servers the sharded flavour needs
    MINIMUM = "Redis 7.0 or later, or any Valkey version"

    def __init__(self, command: bytes | str, reply: object = "", address: object = None,
                 server: str | None = None) -> None:
        super().__init__(command, (), reply, address)
        self.server = server
        where = f" at {address}" if address is not None else ""
        who = server if server is not None else "The Redis server"
        self.args = (
            f"{who}{where} has no sharded pub/sub ({self.command} is an unknown command "
            f"there): AsyncShardedRedisAdapter needs {self.MINIMUM}; with this server use "
            "AsyncRedisAdapter (classic pub/sub), or upgrade the server",
        )

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.command, self.reply, self.address, self.server))


#: how a server answers a command or subcommand it does not have (every Redis version's
#: wording: ``ERR unknown command `SSUBSCRIBE`...``, ``ERR Unknown subcommand or wrong
#: number of arguments for 'shardnumsub'``, ``ERR Unknown PUBSUB subcommand...``)
_UNKNOWN_COMMAND = re.compile(r"ERR unknown (?:\w+ )?(?:sub)?command\b", re.IGNORECASE)


def is_unknown_command(reply: object) -> bool:
    """True when an error reply says the command (or subcommand) does not exist."""
    text = _text(reply) if isinstance(reply, (bytes, str)) else str(reply)
    return _UNKNOWN_COMMAND.match(text) is not None


def server_label(hello: Any) -> str | None:
    """``Redis 6.2.14`` or ``Valkey 9.1.2``, from a ``HELLO`` reply (RESP2: a flat list
    of names and values; RESP3: a map); None when it names no version."""
    if isinstance(hello, list):
        hello = dict(zip(hello[::2], hello[1::2], strict=False))
    if not isinstance(hello, dict):
        return None
    fields = {_text(key).lower(): value for key, value in hello.items()
              if isinstance(key, (bytes, str))}
    version = fields.get("version")
    if not isinstance(version, (bytes, str)):
        return None
    name = fields.get("server")
    name = _text(name) if isinstance(name, (bytes, str)) else "redis"
    name = {"redis": "Redis", "valkey": "Valkey"}.get(name.lower(), name)
    return f"{name} {_text(version)}"


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
    "REFUSAL_CODES", "RedisRefusedError", "RefusalLog", "UnsupportedServerError", "auth_refused",
    "info_field", "is_refusal", "is_unknown_command", "server_label",
]
