"""What every synchronous flavour's manager shares: life cycle, ``emit``, python-socketio's API.

The counterpart of :mod:`.async_manager` for ``socketio.Server`` (and so
Flask-SocketIO), in threading, gevent and eventlet modes.  The cross-server
engine is the asyncio flavours' own, run to completion (``core/blocking.py``);
waits use the server's events and background tasks (``core/blocking_clock.py``);
the transport blocks (``transport/blocking_pubsub.py``) and its listener runs
as one background task of the server.

Room state: python-socketio's own managers take no lock, though in threading
mode the listener thread changes rooms while request threads read them.
Here the room state changes and the handling of each Redis message hold
one lock (an ``RLock`` of the server's threading module: a green lock when
gevent or eventlet patched it).
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable
from typing import Any

import socketio

from .blocking.clock import BlockingClock
from .blocking.publisher import BlockingBroadcastPublisher
from .blocking.tasks import ServerTasks
from .completion import run_to_completion
from .core.direct.thread_writer import DirectFrames, known_versions, unsupported
from .core.manager_api import LocalStateAPI
from .core.offline_queue import OfflineQueue
from .core.pacing import TURN_DELIVERIES
from .engine.sync_api import SyncClusterAPI
from .manager_common import ManagerCommon
from .transport.base import MessageHandler, abilities
from .transport.limits import apply_limit, check_limit


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


class SyncManagerBase(
    ManagerCommon, LocalStateAPI, SyncClusterAPI, socketio.Manager  # type: ignore[misc]
):
    """The flavour-independent half of a synchronous client manager (see the module doc).

    A flavour sets, in its ``__init__`` after calling this one: ``codec``,
    ``engine`` (made with :attr:`clock` and ``_tasks``), ``connection`` (a
    transport with ``bind(server)``, ``post_now``, ``close()``), calls
    :meth:`_hold_broadcasts_in_outages`, and says how a namespace is
    subscribed (:meth:`_subscribe_namespace`).
    """

    publisher: BlockingBroadcastPublisher

    #: deliveries after which the listener yields (``server.sleep(0)``) during a burst
    yield_every = TURN_DELIVERIES

    def __init__(self, *, requests_timeout: float, logger: logging.Logger | None) -> None:
        super().__init__()
        self._init_common(requests_timeout, logger)
        #: the waiters' deadlines and signals, on the server's events and tasks
        self.clock = BlockingClock()
        self._tasks = ServerTasks(self._get_logger)
        self._state_lock: Any = threading.RLock()
        #: adopts the websocket clients direct frames reach (see :mod:`.core.direct.thread_writer`)
        self._direct = DirectFrames()
        self._started = False
        self._closed = False
        self._deliver = self._deliver_locked

    def _receive_with(self, handler: MessageHandler, max_message_size: int | None) -> None:
        """Hand the transport's messages to ``handler`` under the state lock, behind the
        size limit (called by a flavour once ``connection`` is set).

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

        apply_limit(self.connection, check_limit(max_message_size), locked)

    def _hold_broadcasts_in_outages(self, offline_queue: OfflineQueue | None) -> None:
        """Make the publisher that ``emit`` hands broadcasts to when Redis is unreachable
        (see :mod:`.core.offline_queue`; called by a flavour once ``connection`` and
        ``engine`` are set)."""
        connection = self.connection

        async def post(channel: bytes, data: bytes) -> None:
            connection.post_now(channel, data)

        transport = abilities(connection)
        self.publisher = BlockingBroadcastPublisher(
            post, transport, lambda: self.engine.server_count("/"),
            offline_queue, self._get_logger, post_now=connection.post_now,
        )
        transport.on_lost_posts = self.publisher.requeue

    def _deliver_locked(self, *args: Any) -> None:
        """Deliver a broadcast to this server's clients, under the state lock."""
        with self._state_lock:
            self.fanout.deliver(*args)

    def _subscribe_namespace(self, nsp: str, wait: bool) -> None:
        raise NotImplementedError

    # -- life cycle ----------------------------------------------------

    def set_server(self, server: Any) -> None:
        super().set_server(server)
        # made now: gevent or eventlet have patched threading by the time a server is made
        self._state_lock = threading.RLock()
        self.fanout.bind(server)
        self.clock.bind(server)
        self._tasks.bind(server)
        self.connection.bind(server)
        self.publisher.bind(server)
        if self._settle_direct_frames(lambda: unsupported(server), known_versions()):
            self._direct.install(server)
            self.fanout.direct = self._direct

    def _stat_sources(self) -> list[Any]:
        return [*super()._stat_sources(), self.publisher, self._direct]

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
        self._started = True
        self.local.declare(self.server)
        for nsp in list(self.local.indexes):
            self._subscribe_namespace(nsp, wait)
        self.publisher.start()

    def close(self) -> None:
        """Stop the listener and background work, close the Redis connections; requests
        and acks still waiting end with :class:`AdapterClosedError`."""
        if self._closed:
            return
        self._closed = True
        self.publisher.close()  # held broadcasts: published if Redis answers soon
        self.engine.close()
        self.connection.close()
        self.clock.close()
        self._tasks.close()
        self.fanout.close()
        self.handshakes.clear()
        self.fanout.direct = None
        if getattr(self, "server", None) is not None:
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


__all__ = ["SyncManagerBase", "refuse_unpatched"]
