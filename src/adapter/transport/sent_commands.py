"""Which command an error reply on a subscriber connection answers.

RESP2 answers a refused command with one error reply that names nothing;
replies come in the order commands were written, but a (P)SUBSCRIBE of N
names is confirmed N times.  :class:`SentCommands` keeps the commands
written on one connection with the names each still owes a confirmation
for, so an error reply is matched to the command it refuses.  Shared by the
asyncio subscribers and the blocking one.
"""

from __future__ import annotations

import collections

from .errors import RedisRefusedError, is_refusal

#: the confirmations a subscriber connection receives
CONFIRMATIONS = frozenset((b"subscribe", b"psubscribe", b"unsubscribe", b"punsubscribe"))


class SentCommand:
    """One command sent on the subscriber connection, and the names it still owes replies for."""

    __slots__ = ("kind", "names", "owed")

    def __init__(self, kind: bytes, names: list[bytes]) -> None:
        self.kind = kind
        self.names = names
        self.owed = list(names)

    def refusal(self, error: object) -> RedisRefusedError | None:
        """The error for this command refused with ``error``, when it is a refused
        (P)SUBSCRIBE (an ACL or password matter); None otherwise."""
        if self.kind not in (b"subscribe", b"psubscribe") or not is_refusal(error):
            return None
        return RedisRefusedError(self.kind, self.names, error)


class SentCommands:
    """The commands written on one connection whose replies are still owed, in order."""

    __slots__ = ("_sent",)

    def __init__(self) -> None:
        self._sent: collections.deque[SentCommand] = collections.deque()

    def clear(self) -> None:
        """Forget everything (a new connection)."""
        self._sent.clear()

    def add(self, kind: bytes, names: list[bytes]) -> None:
        """Record a command written (in the order sent); ``kind`` lower case."""
        self._sent.append(SentCommand(kind, list(names)))

    def answered(self, kind: bytes, name: bytes | None) -> None:
        """A reply of ``kind`` (for ``name``) came: strike it from the commands owed."""
        for sent in self._sent:
            if sent.kind != kind:
                continue
            if name is None or not sent.owed:
                sent.owed.clear()
            elif name in sent.owed:
                sent.owed.remove(name)
            else:
                continue
            break
        while self._sent and not self._sent[0].owed:
            self._sent.popleft()

    def refused(self) -> SentCommand | None:
        """An error reply came: the command it answers (the oldest owed), if any; it
        owes nothing more."""
        if not self._sent:
            return None
        sent = self._sent.popleft()
        sent.owed.clear()
        return sent

    def owes(self, kind: bytes, name: bytes) -> bool:
        """Whether a command of ``kind`` still owes a confirmation for ``name``."""
        return any(sent.kind == kind and name in sent.owed for sent in self._sent)

    def subscriptions_owed(self) -> list[SentCommand]:
        """The (P)SUBSCRIBE commands still owed a confirmation, oldest first."""
        return [sent for sent in self._sent if sent.kind in (b"subscribe", b"psubscribe")]


__all__ = ["CONFIRMATIONS", "SentCommand", "SentCommands"]
