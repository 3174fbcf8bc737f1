"""What every asyncio flavour's manager shares: life cycle, ``emit``, python-socketio's API.

A flavour (:mod:`.adapter`, :mod:`.sharded_adapter`) assembles its codec,
engine, receiver, subscriptions and transport in ``__init__`` and says how a
namespace is received (:meth:`AsyncManagerBase._on_namespace`) and how a
broadcast is sent (``_post``); everything else is here, once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import socketio

from .core.direct.async_writer import AsyncDirectFrames, known_versions, unsupported
from .core.direct.reasons import Unsupported
from .core.manager_api import LocalStateAPI
from .core.offline_queue import UNREACHABLE, BroadcastPublisher, OfflineQueue
from .core.pacing import FanoutPacer
from .core.tasks import BackgroundTasks
from .engine.api import AsyncClusterAPI
from .manager_common import ManagerCommon
from .transport.base import MessageHandler, abilities
from .transport.limits import apply_limit, check_limit


class AsyncManagerBase(
    ManagerCommon, LocalStateAPI, AsyncClusterAPI, socketio.AsyncManager  # type: ignore[misc]
):
    """The flavour-independent half of an asyncio client manager (see the module doc).

    A flavour sets, in its ``__init__`` after calling this one: ``codec``
    (with ``encode_broadcast(nsp, payload, rooms, except_rooms, flags)``
    returning ``(channel, bytes)``), ``engine``, ``connection`` (the
    transport), ``_post`` (publishes a broadcast) and ``_subscriptions``
    (``start``, ``wait``, ``close``, ``closed``).
    """

    _subscriptions: Any
    _post: Callable[[bytes, bytes], Any]

    def __init__(self, *, requests_timeout: float, logger: logging.Logger | None) -> None:
        super().__init__()
        self._init_common(requests_timeout, logger)
        self._tasks = BackgroundTasks(self._get_logger)
        #: adopts the websocket clients direct frames reach (see :mod:`.core.direct.async_writer`)
        self._direct = AsyncDirectFrames()
        self._direct.on_unknown = self._unknown_connection

    def _receive_with(self, handler: MessageHandler, max_message_size: int | None) -> None:
        """Hand the transport's messages to ``handler`` through the size limit and a
        :class:`FanoutPacer` (called by a flavour once ``connection`` is set)."""
        self.pacer = FanoutPacer(handler, self.counters, abilities(self.connection),
                                 self._get_logger)
        apply_limit(self.connection, check_limit(max_message_size), self.pacer.on_message)

    def _hold_broadcasts_in_outages(self, offline_queue: OfflineQueue | None) -> None:
        """Make the :class:`BroadcastPublisher` that ``emit`` hands broadcasts to
        when Redis is unreachable (called by a flavour once ``connection``,
        ``engine`` and ``_post`` are set)."""
        transport = abilities(self.connection)
        self.publisher = BroadcastPublisher(
            self._post,
            transport,
            lambda: self.engine.server_count("/"),
            offline_queue,
            self._get_logger,
        )
        transport.on_lost_posts = self.publisher.requeue

    def _stat_sources(self) -> list[Any]:
        return [self.connection, self.publisher, self.pacer, self._direct]

    # -- life cycle ----------------------------------------------------

    def set_server(self, server: Any) -> None:
        super().set_server(server)
        self.fanout.bind(server)
        if self._settle_direct_frames(lambda: unsupported(server), known_versions()):
            self._direct.install(server)
            self.fanout.links = self._direct.links
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop yet: initialize() starts us with the first client
        # later: the server sets its namespaces after calling set_server
        loop.call_soon(self._start)

    def _unknown_connection(self, found: Unsupported) -> None:
        """A connection was not adopted because of a version (uvicorn's, websockets')
        direct frames do not know: none will be; say so once."""
        self.direct_frames_off = found.reason
        self._direct_frames_unavailable(found, known_versions())

    def initialize(self) -> None:
        """Called by the server with its first client (python-socketio API)."""
        super().initialize()
        self._start()

    async def start(self) -> None:
        """Subscribe now for every known namespace; wait until Redis confirms.

        Servers start the adapter by themselves with their first client; call
        this to join the cluster before that (for example at application
        start-up) or to wait until this server receives broadcasts.  Raises
        ``TimeoutError`` or a Redis error if the subscriptions could not be
        confirmed; the adapter keeps retrying in the background either way,
        except on a server without sharded pub/sub (the sharded adapter on
        Redis 6.2), where it raises ``UnsupportedServerError`` and tries no
        more.

        Note: this method is a coroutine.
        """
        self._start()
        await self._subscriptions.wait()

    def _start(self) -> None:
        """Subscribe every namespace the server declares (again: new ones too)."""
        if not self._subscriptions.closed:
            self.local.declare(self.server)
            self._subscriptions.start(self.local.indexes)
            self.publisher.start()

    async def close(self) -> None:
        """Unsubscribe from every channel, stop background work, close the Redis connections.

        Note: this method is a coroutine.
        """
        if self._subscriptions.closed:
            return
        await self.publisher.close()  # held broadcasts: published if Redis answers soon
        self.pacer.close()
        self._subscriptions.close()
        self.engine.close()
        await self._tasks.close()
        await self.connection.close()
        self.fanout.close()
        self.handshakes.clear()
        self.fanout.links = None
        if getattr(self, "server", None) is not None:
            self._direct.uninstall(self.server)

    # -- python-socketio's manager API (asyncio) ------------------------

    async def pre_connect(self, eio_sid: str, namespace: str) -> str | None:
        """Register a client in a namespace (pending until ``connect``).

        Note: this method is a coroutine.
        """
        return self.connect_pending(eio_sid, namespace)

    async def emit(
        self,
        event: str,
        data: Any,
        namespace: str | None = None,
        room: Any = None,
        skip_sid: Any = None,
        callback: Callable[..., Any] | None = None,
        to: Any = None,
        ignore_queue: bool = False,
        *,
        except_rooms: Any = None,
        volatile: bool = False,
        compress: bool | None = None,
        **kwargs: Any,
    ) -> None:
        """Emit an event to clients on every server of the cluster.

        :param to: a room (a sid is a room) or a list of rooms; all the
                   clients of the namespace when omitted (``room`` is an
                   alias).
        :param skip_sid: a sid or list of sids that must not receive it.
        :param except_rooms: a room or list of rooms whose clients must not
                             receive it (Node's ``except``).
        :param callback: with a single-sid ``to``, called with the client's
                         acknowledgement, on whichever server it is.
        :param ignore_queue: emit to this server's clients only (Node's
                             ``local``).
        :param volatile: drop the event for clients that are not ready to
                         receive it.
        :param compress: carried in the message flags, as Node does.

        Raises ``TypeError`` when the data cannot be serialized or a room is
        not a string or a number.

        Note: this method is a coroutine.
        """
        message = self._broadcast_here(event, data, namespace, room, skip_sid, to,
                                       except_rooms, volatile, compress, ignore_queue, callback)
        if callback is not None:
            await message  # the engine's emit_with_callback
            return
        if message is not None:
            # held while the cluster is not back (see BroadcastPublisher)
            channel, data = message
            publisher = self.publisher
            posting = publisher.send(channel, data)
            if posting is not None:
                try:
                    await posting
                except UNREACHABLE as exc:
                    publisher.unreachable(channel, data, exc)
            self.counters.published += 1

    async def _disconnect_local(self, nsp: str, sid: str, close: bool) -> None:
        eio_sid = self.eio_sid_from_sid(sid, nsp)
        await self.server.disconnect(sid, namespace=nsp, ignore_queue=True)
        if close and eio_sid is not None:
            await self.server.eio.disconnect(eio_sid)

    def _later(self, delay: float, function: Callable[..., None], *args: Any) -> None:
        asyncio.get_running_loop().call_later(delay, function, *args)


__all__ = ["AsyncManagerBase"]
