"""A flavour: the codec, engine, receiver, subscriptions and transport of one protocol,
composed into one object that a manager is given.

A manager (``manager/``) is python-socketio's manager class plus one
:class:`Flavour`.  Each flavour folder (``engine/classic/``,
``engine/sharded/``) has a factory that builds its flavour from the
:class:`FlavourHost` a manager lends it (this server's sockets, tasks, clock,
fan-out, counters and logger) and from the flavour's own options.  The
manager reads nothing else of a flavour than what is declared here, so a new
flavour is an addition: a codec, an engine folder with a factory, a
transport.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from ..core.clock import Clock
from ..core.fanout import Fanout
from ..core.remote_socket import RemoteSocket, SocketOperations
from ..core.stats import Counters
from ..core.tasks import Spawner
from ..fastpath import RoomIndex
from ..transport.base import abilities
from ..transport.errors import RedisRefusedError, UnsupportedServerError
from .base import EngineBase
from .local_side import LocalSide


@dataclass(frozen=True)
class FlavourHost:
    """What a manager lends the flavour it is given (all made before the flavour).

    :param side: this server's sockets, rooms and fan-out, as the engine sees them.
    :param server_ops: what a :class:`RemoteSocket` asks of its manager (the manager).
    :param remote_socket: the class of the sockets ``fetch_sockets`` returns.
    :param tasks: the manager's background work (asyncio tasks, or the server's).
    :param disconnect: ``disconnect(nsp, sid, close)``, for a local socket.
    :param fanout: delivers broadcasts to this server's clients.
    :param counters: the manager's counters.
    :param logger: returns the manager's logger.
    :param clock: the waiters' deadlines (None: the running event loop's).
    :param requests_timeout: seconds to wait for other servers' answers.
    :param callback_timeout: seconds to keep a callback of an emit to another server.
    """

    side: LocalSide
    server_ops: SocketOperations
    remote_socket: type[RemoteSocket]
    tasks: Spawner
    disconnect: Callable[[str, str, bool], Awaitable[None]]
    fanout: Fanout
    counters: Counters
    logger: Callable[[], logging.Logger]
    clock: Clock | None
    requests_timeout: float
    callback_timeout: float


class Codec(Protocol):
    """A flavour's wire format, as the manager uses it (the rest is the engine's)."""

    uid: str
    channels: Any

    def encode_broadcast(self, nsp: str, payload: list[Any], rooms: list[Any],
                         except_rooms: list[Any], flags: dict[str, Any]
                         ) -> tuple[bytes, bytes]:
        """A broadcast's ``(channel, data)``."""
        ...

    def table_sizes(self) -> dict[str, int]: ...


class Receiver(Protocol):
    """Reads the transport's messages (its ``on_message``) for the known namespaces."""

    def on_message(self, pattern: bytes | None, channel: bytes, data: bytes,
                   route: Any = None) -> None:
        """The transport's ``on_message`` (a :data:`MessageHandler`)."""
        ...

    @property
    def dropped(self) -> int:
        """Broadcasts for rooms no local socket is in, left unread."""
        ...

    def add_namespace(self, nsp: str, index: RoomIndex) -> None: ...

    def table_sizes(self) -> dict[str, int]: ...


class Subscriptions(Protocol):
    """An asyncio flavour's subscriptions, made in the background."""

    closed: bool

    def start(self, indexes: dict[str, RoomIndex]) -> None:
        """Subscribe every namespace of ``indexes`` (and those added later)."""
        ...

    def add(self, nsp: str, index: RoomIndex) -> None:
        """Subscribe a new namespace (once started)."""
        ...

    async def wait(self) -> None:
        """Until Redis confirmed every namespace's subscriptions."""
        ...

    def room_created(self, nsp: str, room: Any, is_sid_room: bool) -> None: ...

    def room_deleted(self, nsp: str, room: Any) -> None: ...

    def close(self) -> None: ...

    def table_sizes(self) -> dict[str, int]: ...


class BlockingSubscriptions(Protocol):
    """A synchronous flavour's subscriptions."""

    def start(self, namespaces: Iterable[str], wait: bool) -> None:
        """Subscribe every namespace of ``namespaces`` (and those added later); with
        ``wait``, block until Redis confirmed them."""
        ...

    def add(self, nsp: str, index: RoomIndex) -> None:
        """Subscribe a new namespace (once started)."""
        ...

    def room_created(self, nsp: str, room: Any, is_sid_room: bool) -> None: ...

    def room_deleted(self, nsp: str, room: Any) -> None: ...

    def table_sizes(self) -> dict[str, int]: ...


SubscriptionsT = TypeVar("SubscriptionsT", bound="Subscriptions | BlockingSubscriptions")
TransportT = TypeVar("TransportT")


@dataclass(frozen=True, eq=False)
class Flavour(Generic[SubscriptionsT, TransportT]):
    """One protocol's parts, composed (see the module doc).

    :param codec: encodes a broadcast (``encode_broadcast``), names the channels.
    :param engine: the cross-server API (``fetch_sockets``, ``server_side_call``...).
    :param receiver: the transport's ``on_message``.
    :param subscriptions: what this server subscribes, per namespace (and room).
    :param transport: the Redis connections.
    :param post: publishes a broadcast (the offline queue calls it).
    :param watches_rooms: call :meth:`room_created` / :meth:`room_deleted` on each
                          room's first and last local socket.
    """

    codec: Codec
    engine: EngineBase
    receiver: Receiver
    subscriptions: SubscriptionsT
    transport: TransportT
    post: Callable[[bytes, bytes], Awaitable[None]]
    watches_rooms: bool = False

    def add_namespace(self, nsp: str, index: RoomIndex) -> None:
        """A namespace got its first socket (or was declared): read and subscribe it."""
        self.receiver.add_namespace(nsp, index)
        self.subscriptions.add(nsp, index)

    def room_created(self, nsp: str, room: Any, is_sid_room: bool) -> None:
        self.subscriptions.room_created(nsp, room, is_sid_room)

    def room_deleted(self, nsp: str, room: Any) -> None:
        self.subscriptions.room_deleted(nsp, room)

    def counters(self) -> dict[str, int]:
        """``dropped`` (broadcasts left unread) and ``oversized`` (messages skipped for
        their size)."""
        return {"dropped": self.receiver.dropped,
                "oversized": abilities(self.transport).oversized}

    def table_sizes(self) -> dict[str, int]:
        """The engine's, transport's, receiver's, subscriptions' and codec's tables."""
        return {**self.engine.table_sizes(), **abilities(self.transport).table_sizes(),
                **self.receiver.table_sizes(), **self.subscriptions.table_sizes(),
                **self.codec.table_sizes()}


def report_subscription(logger: logging.Logger, nsp: str, future: asyncio.Future[None]) -> None:
    """Log why a namespace's subscription failed (nothing when it succeeded)."""
    if future.cancelled() or future.exception() is None:
        return
    error = future.exception()
    if isinstance(error, UnsupportedServerError):  # the transport logged it, once
        return
    if isinstance(error, RedisRefusedError):  # start() again retries; see the transport
        logger.error("namespace %s not subscribed: %s", nsp, error)
        return
    logger.error(
        "could not subscribe namespace %s yet (%r); the transport keeps retrying", nsp, error,
    )


__all__ = [
    "BlockingSubscriptions", "Codec", "Flavour", "FlavourHost", "Receiver", "Subscriptions",
    "report_subscription",
]
