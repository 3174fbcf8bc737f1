"""Sockets of any server of the cluster, as ``fetch_sockets`` returns them.

A :class:`RemoteSocket` is Node's ``RemoteSocket``: the socket's ``id``,
``handshake`` (see :mod:`socketio_redis_adapter.protocol.handshake`),
``rooms`` and ``data``, with methods that act on it wherever it is.  ``data``
is the value stored under ``"data"`` in the socket's python-socketio session
(``async with sio.session(sid) as s: s["data"] = ...``), the counterpart of
Node's ``socket.data``; ``None`` when unset.
"""

from __future__ import annotations

from typing import Any, Protocol


class SocketOperations(Protocol):
    """What a :class:`RemoteSocket` asks of its manager (the manager's public API)."""

    async def emit(self, event: str, data: Any, namespace: str | None = None, *,
                   to: Any = None) -> None: ...

    async def sockets_join(self, join: Any, rooms: Any = None, *, namespace: str) -> None: ...

    async def sockets_leave(self, leave: Any, rooms: Any = None, *, namespace: str) -> None: ...

    async def disconnect_sockets(self, close: bool = False, rooms: Any = None, *,
                                 namespace: str) -> None: ...


class RemoteSocket:
    """A socket on any server of the cluster, as returned by ``fetch_sockets``.

    :ivar id: the socket's sid.
    :ivar handshake: the handshake details (see the module docstring).
    :ivar rooms: the rooms the socket is in (its own sid room included).
    :ivar data: the socket's shared data (Node's ``socket.data``).
    :ivar namespace: the namespace the socket is connected to.
    """

    __slots__ = ("id", "handshake", "rooms", "data", "namespace", "_adapter")

    def __init__(
        self,
        adapter: SocketOperations,
        namespace: str,
        details: dict[str, Any],
    ) -> None:
        self._adapter = adapter
        self.namespace = namespace
        self.id: str = details["id"]
        self.handshake: dict[str, Any] = details.get("handshake") or {}
        self.rooms: set[Any] = set(details.get("rooms") or ())
        self.data: Any = details.get("data")

    def __repr__(self) -> str:
        return f"<RemoteSocket {self.id} {self.namespace} rooms={sorted(map(str, self.rooms))}>"

    async def emit(self, event: str, *args: Any) -> None:
        """Emit an event to this socket, on whichever server it is."""
        await self._adapter.emit(event, tuple(args), self.namespace, to=self.id)

    async def join(self, rooms: Any) -> None:
        """Make this socket join a room or a list of rooms."""
        await self._adapter.sockets_join(rooms, rooms=[self.id], namespace=self.namespace)

    async def leave(self, rooms: Any) -> None:
        """Make this socket leave a room or a list of rooms."""
        await self._adapter.sockets_leave(rooms, rooms=[self.id], namespace=self.namespace)

    async def disconnect(self, close: bool = False) -> None:
        """Disconnect this socket; ``close`` also closes its connection."""
        await self._adapter.disconnect_sockets(
            close, rooms=[self.id], namespace=self.namespace
        )



class BlockingRemoteSocket(RemoteSocket):
    """A :class:`RemoteSocket` of a synchronous manager: its methods block."""

    __slots__ = ()

    def _blocking(self) -> Any:
        return self._adapter  # a synchronous manager: its methods block

    def emit(self, event: str, *args: Any) -> None:  # type: ignore[override]
        """Emit an event to this socket, on whichever server it is."""
        self._blocking().emit(event, tuple(args), self.namespace, to=self.id)

    def join(self, rooms: Any) -> None:  # type: ignore[override]
        """Make this socket join a room or a list of rooms."""
        self._blocking().sockets_join(rooms, rooms=[self.id], namespace=self.namespace)

    def leave(self, rooms: Any) -> None:  # type: ignore[override]
        """Make this socket leave a room or a list of rooms."""
        self._blocking().sockets_leave(rooms, rooms=[self.id], namespace=self.namespace)

    def disconnect(self, close: bool = False) -> None:  # type: ignore[override]
        """Disconnect this socket; ``close`` also closes its connection."""
        self._blocking().disconnect_sockets(close, rooms=[self.id], namespace=self.namespace)
