"""The sharded subscriptions of a server: per namespace two channels, and its rooms' channels.

Every namespace: ``P#NSP#`` and ``P#NSP#<uid>#``.  In the dynamic modes,
also each room that has a local socket, as Node's adapter does on its
``create-room`` / ``delete-room`` events: ``dynamic`` every room but the
sockets' own rooms, ``dynamic-private`` every room.  Subscribing runs in the
background (the transport confirms and retries); :meth:`wait` awaits the
namespaces' channels.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from typing import Any

from ...core.tasks import Spawner
from ...fastpath import RoomIndex
from ...protocol.sharded import ShardedChannels
from ...transport.base import ShardedTransport
from ...transport.errors import UnsupportedServerError
from ..flavour import report_subscription
from .receiver import ShardedReceiver


class ShardedSubscriptions:
    """Subscribe each namespace, and each room channel, like a Node server (see the module doc).

    :param transport: the sharded transport.
    :param channels: the channel names and the subscription mode.
    :param uid: the server's uid (its response channel).
    :param receiver: told which channel belongs to which namespace.
    :param tasks: where room (un)subscriptions run.
    """

    __slots__ = ("transport", "channels", "uid", "receiver", "tasks", "indexes", "rooms",
                 "_futures", "_logger", "started", "closed")

    def __init__(self, transport: ShardedTransport, channels: ShardedChannels, uid: str,
                 receiver: ShardedReceiver, tasks: Spawner,
                 logger: Callable[[], logging.Logger]) -> None:
        self.transport = transport
        self.channels = channels
        self.uid = uid
        self.receiver = receiver
        self.tasks = tasks
        self.indexes: dict[str, RoomIndex] = {}
        #: (namespace, room) -> the room channel subscribed for it
        self.rooms: dict[tuple[str, Any], bytes] = {}
        self._futures: dict[str, asyncio.Future[None]] = {}
        self._logger = logger
        self.started = False
        self.closed = False

    def start(self, indexes: dict[str, RoomIndex]) -> None:
        """Subscribe the namespaces of ``indexes`` now, and each one :meth:`add` gets later."""
        self.started = True
        for nsp, index in list(indexes.items()):
            self.add(nsp, index)

    def add(self, nsp: str, index: RoomIndex) -> None:
        """Subscribe ``nsp`` (and its rooms' channels) once started."""
        self.indexes[nsp] = index
        if nsp in self._futures or self.closed or not self.started:
            return
        future = asyncio.ensure_future(self.transport.ssubscribe(
            self.channels.main(nsp), self.channels.response(nsp, self.uid)
        ))
        future.add_done_callback(functools.partial(self._subscribed, nsp))
        self._futures[nsp] = future
        for room in list(index.rooms):
            if room is not None:
                self.room_created(nsp, room, room in index.rooms[None])

    async def wait(self) -> None:
        """Wait until Redis confirmed every namespace's channels; retry the ones that failed."""
        for nsp, future in list(self._futures.items()):
            if future.done() and (future.cancelled() or future.exception() is not None):
                del self._futures[nsp]
                self.add(nsp, self.indexes[nsp])
        await asyncio.gather(*self._futures.values())

    def room_created(self, nsp: str, room: Any, is_sid_room: bool) -> None:
        """A room got its first local socket: subscribe its channel if the mode says so."""
        if not self.started or self.closed or (nsp, room) in self.rooms:
            return
        if not self.channels.room_has_channel(room, is_sid_room):
            return
        index = self.indexes.get(nsp)
        if index is None:
            return
        channel = self.channels.room(nsp, room)
        self.rooms[(nsp, room)] = channel
        self.receiver.add_channel(channel, nsp, index)
        self.tasks.spawn(self._subscribe_room(channel))

    def room_deleted(self, nsp: str, room: Any) -> None:
        """A room lost its last local socket: drop its channel."""
        channel = self.rooms.pop((nsp, room), None)
        if channel is None or self.closed:
            return
        self.receiver.remove_channel(channel)
        self.tasks.spawn(self.transport.sunsubscribe(channel))

    async def _subscribe_room(self, channel: bytes) -> None:
        try:
            await self.transport.ssubscribe(channel)
        except UnsupportedServerError:
            pass  # no sharded pub/sub: the transport logged it, once
        except (asyncio.TimeoutError, ConnectionError) as exc:
            # the transport keeps the channel and subscribes it when it can
            self._logger().warning("room channel %r not confirmed yet: %r", channel, exc)

    def table_sizes(self) -> dict[str, int]:
        """``subscribed_namespaces`` and ``room_channels`` (rooms whose channel is held)."""
        return {"subscribed_namespaces": len(self._futures), "room_channels": len(self.rooms)}

    def close(self) -> None:
        self.closed = True
        for future in self._futures.values():
            future.cancel()

    def _subscribed(self, nsp: str, future: asyncio.Future[None]) -> None:
        report_subscription(self._logger(), nsp, future)


__all__ = ["ShardedSubscriptions"]
