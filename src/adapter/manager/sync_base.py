"""The synchronous manager: python-socketio's ``Manager`` plus a flavour.

The counterpart of :mod:`.async_base` for ``socketio.Server`` (and so
Flask-SocketIO), in threading, gevent and eventlet modes.  The cross-server
engine is the asyncio flavours' own, run to completion
(:mod:`..completion`); waits use the server's events and background tasks
(:mod:`..blocking`); the transport blocks (``transport/blocking_pubsub.py``)
and its listener runs as one background task of the server.

Room state: python-socketio's own managers take no lock, though in threading
mode the listener thread changes rooms while request threads read them.
Here the room state changes and the handling of each Redis message hold
one lock (an ``RLock`` of the server's threading module: a green lock when
gevent or eventlet patched it).
"""

from __future__ import annotations

import functools
import importlib
import logging
import threading
from collections.abc import Callable, Coroutine
from typing import Any

import socketio

from ..blocking.clock import BlockingClock
from ..blocking.publisher import BlockingBroadcastPublisher
from ..blocking.tasks import ServerTasks
from ..completion import run_to_completion
from ..core.direct.thread_writer import DirectFrames, known_versions, unsupported
from ..core.offline_queue import OfflineQueue
from ..core.pacing import TURN_DELIVERIES
from ..core.remote_socket import BlockingRemoteSocket
from ..engine.flavour import BlockingSubscriptions, Flavour, FlavourHost
from ..transport.base import MessageHandler, abilities
from ..transport.limits import apply_limit, check_limit
from .async_base import AsyncManagerBase
from .base import ManagerBase
from .local_side import ManagerSide

#: builds a synchronous manager's flavour from what the manager lends it
BlockingFlavourBuilder = Callable[[FlavourHost], Flavour[BlockingSubscriptions, Any]]

_COROUTINE_NOTE = "\n\n        Note: this method is a coroutine.\n"


def blocking(method: Callable[..., Coroutine[Any, Any, Any]]) -> Any:
    """A blocking method that runs the coroutine method ``method`` to completion."""

    @functools.wraps(method)
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        return run_to_completion(method(self, *args, **kwargs))

    call.__doc__ = (method.__doc__ or "").replace(_COROUTINE_NOTE, "\n")
    return call


def refuse_unpatched(server: Any) -> None:
    """Raise ``RuntimeError`` when eventlet or gevent runs the server but did not patch
    the ``socket`` module (the listener would block every green thread)."""
    mode = getattr(server, "async_mode", "threading")
    if mode == "eventlet":
        patcher = importlib.import_module("eventlet.patcher")
        if not patcher.is_monkey_patched("socket"):
            raise RuntimeError("the Redis adapter needs a monkey patched socket library to "
                               "work with eventlet (eventlet.monkey_patch())")
    elif mode in ("gevent", "gevent_uwsgi"):
        monkey = importlib.import_module("gevent.monkey")
        if not monkey.is_module_patched("socket"):
            raise RuntimeError("the Redis adapter needs a monkey patched socket library to "
                               "work with gevent (gevent.monkey.patch_all())")


class SyncManagerBase(ManagerBase, socketio.Manager):  # type: ignore[misc]
    """A synchronous client manager on the flavour that ``build`` makes (see the module
    doc); the parameters are :class:`~.async_base.AsyncManagerBase`'s.

    The flavour's transport blocks: ``bind(server)``, ``post_now(channel,
    data)``, ``close()``, and hands messages to its ``on_message`` from a
    listener that runs as a background task of the server.
    """

    flavour: Flavour[BlockingSubscriptions, Any]
    publisher: BlockingBroadcastPublisher

    #: deliveries after which the listener yields (``server.sleep(0)``) during a burst
    yield_every = TURN_DELIVERIES

    def __init__(
        self, build: BlockingFlavourBuilder, *, requests_timeout: float,
        callback_timeout: float, logger: logging.Logger | None,
        offline_queue: OfflineQueue | None, max_message_size: int | None,
        direct_frames: bool | None,
    ) -> None:
        super().__init__(requests_timeout=requests_timeout, logger=logger,
                         direct_frames=direct_frames)
        #: the waiters' deadlines and signals, on the server's events and tasks
        self.clock = BlockingClock()
        self._tasks = ServerTasks(self._get_logger)
        self._state_lock: Any = threading.RLock()
        #: adopts the websocket clients direct frames reach (see :mod:`..core.direct.thread_writer`)
        self._direct = DirectFrames()
        self._closed = False
        self._deliver = self._deliver_locked
        self._adopt(build(FlavourHost(
            side=ManagerSide(self, self.local, self.fanout, self._later), server_ops=self,
            remote_socket=BlockingRemoteSocket, tasks=self._tasks,
            disconnect=self._disconnect_local, fanout=self.fanout, counters=self.counters,
            logger=self._get_logger, clock=self.clock, requests_timeout=requests_timeout,
            callback_timeout=callback_timeout,
        )))
        self._receive_with(self.flavour.receiver.on_message, max_message_size)
        transport = abilities(self.flavour.transport)
        #: ``emit`` hands broadcasts to it, held while Redis is unreachable
        self.publisher = BlockingBroadcastPublisher(
            self.flavour.post, transport, lambda: self.flavour.engine.server_count("/"),
            offline_queue, self._get_logger, post_now=self.flavour.transport.post_now,
        )
        transport.on_lost_posts = self.publisher.requeue

    def _receive_with(self, handler: MessageHandler, max_message_size: int | None) -> None:
        """Hand the transport's messages to ``handler`` under the state lock, behind the
        size limit.

        Pacing: after every :attr:`yield_every` deliveries the listener yields
        (``server.sleep(0)``, the state lock released), so that under gevent or
        eventlet the writers of the sockets it queued packets on, and every other
        green thread, run before it goes on with a burst.
        """
        counters = self.counters
        spent = 0

        def locked(pattern: bytes | None, channel: bytes, data: bytes, route: Any) -> None:
            nonlocal spent
            before = counters.delivered
            with self._state_lock:
                handler(pattern, channel, data, route)
            spent += counters.delivered - before + 1
            if spent >= self.yield_every:
                spent = 0
                self.server.sleep(0)

        apply_limit(self.flavour.transport, check_limit(max_message_size), locked)

    def _deliver_locked(self, *args: Any) -> None:
        """Deliver a broadcast to this server's clients, under the state lock."""
        with self._state_lock:
            self.fanout.deliver(*args)

    # -- life cycle ----------------------------------------------------

    def set_server(self, server: Any) -> None:
        super().set_server(server)
        # made now: gevent or eventlet have patched threading by the time a server is made
        self._state_lock = threading.RLock()
        self.fanout.bind(server)
        self.clock.bind(server)
        self._tasks.bind(server)
        self.flavour.transport.bind(server)
        self.publisher.bind(server)
        if self._settle_direct_frames(lambda: unsupported(server), known_versions()):
            self._direct.install(server)
            self.fanout.direct = self._direct

    def _stat_sources(self) -> list[Any]:
        return [self.publisher, self._direct]

    def table_sizes(self) -> dict[str, int]:
        sizes = super().table_sizes()
        sizes["timers"] = len(self.clock)
        return sizes

    table_sizes.__doc__ = ManagerBase.table_sizes.__doc__

    def initialize(self) -> None:
        """Called by the server with its first client (python-socketio API): start
        listening (subscriptions are made in the background)."""
        super().initialize()
        refuse_unpatched(self.server)
        self._start(wait=False)

    def start(self) -> None:
        """Subscribe now for every known namespace; block until Redis confirms.

        Servers start the adapter by themselves with their first client; call
        this to join the cluster before that (for example at application
        start-up) or to wait until this server receives broadcasts.  Raises
        ``TimeoutError`` or :class:`RedisRefusedError` if the subscriptions
        could not be confirmed; the adapter keeps retrying in the background
        either way.
        """
        refuse_unpatched(self.server)
        self._start(wait=True)

    def _start(self, wait: bool) -> None:
        if self._closed:
            return
        self.local.declare(self.server)
        self.flavour.subscriptions.start(self.local.indexes, wait)
        self.publisher.start()

    def close(self) -> None:
        """Stop the listener and background work, close the Redis connections; requests
        and acks still waiting end with :class:`AdapterClosedError`."""
        if self._closed:
            return
        self._closed = True
        self.publisher.close()  # held broadcasts: published if Redis answers soon
        self.flavour.engine.close()
        self.flavour.transport.close()
        self.clock.close()
        self._tasks.close()
        self.fanout.close()
        self.handshakes.clear()
        self.fanout.direct = None
        if self.server is not None:
            self._direct.uninstall(self.server)

    # -- python-socketio's manager API (synchronous) ----------------------

    def pre_connect(self, eio_sid: str, namespace: str) -> str | None:
        """Register a client in a namespace (pending until ``connect``)."""
        with self._state_lock:
            return self.connect_pending(eio_sid, namespace)

    def connect(self, sid: str, namespace: str) -> Any:
        with self._state_lock:
            return super().connect(sid, namespace)

    def pre_disconnect(self, sid: str, namespace: str) -> str | None:
        with self._state_lock:
            return super().pre_disconnect(sid, namespace)

    def basic_disconnect(self, sid: str, namespace: str, **kwargs: Any) -> None:
        with self._state_lock:
            super().basic_disconnect(sid, namespace, **kwargs)

    def basic_enter_room(self, sid: str, namespace: str, room: Any,
                         eio_sid: str | None = None) -> None:
        with self._state_lock:
            super().basic_enter_room(sid, namespace, room, eio_sid=eio_sid)

    def basic_leave_room(self, sid: str, namespace: str, room: Any) -> None:
        with self._state_lock:
            super().basic_leave_room(sid, namespace, room)

    def basic_close_room(self, room: Any, namespace: str) -> None:
        with self._state_lock:
            super().basic_close_room(room, namespace)

    def emit(
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
        not a string or a number.  While Redis cannot be reached the broadcast
        is held and published once the servers are back (see the adapter's
        ``offline_queue``); when it does not fit, or there is no queue, raises
        :class:`OfflineQueueFull` (a ``ConnectionError``): the event then
        reached this server's clients only.
        """
        message = self._broadcast_here(event, data, namespace, room, skip_sid, to,
                                       except_rooms, volatile, compress, ignore_queue, callback)
        if callback is not None:
            run_to_completion(message)  # the engine's emit_with_callback
            return
        if message is not None:
            # held while the cluster is not back (see core/offline_queue.py)
            channel, data = message
            self.publisher.send(channel, data)
            self.counters.published += 1

    async def _disconnect_local(self, nsp: str, sid: str, close: bool) -> None:
        """Disconnect a local socket (for the engine: a coroutine that never suspends)."""
        eio_sid = self.eio_sid_from_sid(sid, nsp)
        self.server.disconnect(sid, namespace=nsp, ignore_queue=True)
        if close and eio_sid is not None:
            self.server.eio.disconnect(eio_sid)

    def _later(self, delay: float, function: Callable[..., None], *args: Any) -> None:
        self.clock.call_later(delay, function, *args)

    # -- the cross-server API: the asyncio manager's, run to completion -----

    can_disconnect = blocking(AsyncManagerBase.can_disconnect)
    disconnect = blocking(AsyncManagerBase.disconnect)
    enter_room = blocking(AsyncManagerBase.enter_room)
    leave_room = blocking(AsyncManagerBase.leave_room)
    close_room = blocking(AsyncManagerBase.close_room)
    server_count = blocking(AsyncManagerBase.server_count)
    fetch_sockets = blocking(AsyncManagerBase.fetch_sockets)
    all_rooms = blocking(AsyncManagerBase.all_rooms)
    sockets_join = blocking(AsyncManagerBase.sockets_join)
    sockets_leave = blocking(AsyncManagerBase.sockets_leave)
    disconnect_sockets = blocking(AsyncManagerBase.disconnect_sockets)
    server_side_emit = blocking(AsyncManagerBase.server_side_emit)
    server_side_call = blocking(AsyncManagerBase.server_side_call)
    emit_with_ack = blocking(AsyncManagerBase.emit_with_ack)


__all__ = ["BlockingFlavourBuilder", "SyncManagerBase", "blocking", "refuse_unpatched"]
