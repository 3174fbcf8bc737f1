"""One blocking RESP2 connection, for synchronous managers.

A plain ``socket`` (which gevent and eventlet make cooperative when they
have patched the standard library), with TLS and ``AUTH`` as a topology's
:class:`~.endpoints.ConnectionSettings` say, and hiredis to read replies.
Commands are the same preformatted byte strings the asyncio connections
send (:func:`~.resp_connection.encode_command`,
:func:`~.resp_connection.encode_publish`).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections import deque
from typing import Any

import hiredis

from .endpoints import Address, ConnectionSettings
from .errors import auth_refused
from .resp_connection import RESEND_WINDOW, encode_command
from .topology import discovery_error

logger = logging.getLogger("socketio_redis_adapter")

#: bytes asked of the socket per read
READ_SIZE = 256 * 1024


class BlockingLink:
    """A blocking connection: :meth:`request` sends a command and returns its reply.

    Requests from several threads are serialised by a lock.  A subscriber
    connection uses :meth:`send` and :meth:`read` instead (one reader).

    :param sock: the connected socket.
    :param address: the node it is connected to.
    :param timeout: seconds a reply may take before :meth:`request` raises
                    ``TimeoutError`` (and the connection is closed).
    """

    def __init__(self, sock: socket.socket, address: Address, timeout: float) -> None:
        self.sock = sock
        self.address = address
        self.timeout = timeout
        self._reader = hiredis.Reader()
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self.closed = False
        #: what was given with each command sent with :meth:`post` whose reply has not
        #: been read yet, in order (their number is :attr:`owed`)
        self.unconfirmed: deque[Any] = deque()
        #: the items of the posts whose replies the last read that got data brought
        self._last_read_items: list[Any] = []
        self._last_read_at = float("-inf")
        #: posted commands Redis refused
        self.refused = 0
        #: :meth:`post` is possible (a plain socket: an SSL one must not be read raw)
        self.can_post = not hasattr(sock, "getpeercert")

    @classmethod
    def open(cls, address: Address, settings: ConnectionSettings, timeout: float = 5.0
             ) -> BlockingLink:
        """Connect to ``address`` with TLS and ``AUTH`` as ``settings`` say.

        Raises :class:`~.errors.RedisRefusedError` when Redis refuses the
        ``AUTH``, ``OSError`` when it cannot be reached.
        """
        connect_timeout = settings.connect_timeout
        if address.path:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(connect_timeout)
            try:
                sock.connect(address.path)
            except BaseException:
                sock.close()
                raise
        else:
            sock = socket.create_connection((address.host, address.port), connect_timeout)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if settings.tls is not None:
                try:
                    sock = settings.tls.wrap_socket(sock, server_hostname=address.host)
                except BaseException:
                    sock.close()
                    raise
        link = cls(sock, address, timeout)
        try:
            if settings.password:
                args = (
                    ("AUTH", settings.username, settings.password) if settings.username
                    else ("AUTH", settings.password)
                )
                reply = link.request(encode_command(*args), raise_errors=False)
                if isinstance(reply, hiredis.ReplyError):
                    raise auth_refused(reply, settings.username, address)
        except BaseException:
            link.close()
            raise
        return link

    def request(self, payload: bytes, *, raise_errors: bool = True) -> Any:
        """Send one command and return its reply (an error reply is raised as
        ``hiredis.ReplyError``, or returned with ``raise_errors=False``)."""
        with self._lock:
            self.sock.settimeout(self.timeout)
            try:
                self.send(payload)
                while self.owed:  # the replies of earlier posts come first
                    self._settle_post(self._read_reply())
                reply = self._read_reply()
            except BaseException:
                self.close()
                raise
        if raise_errors and isinstance(reply, hiredis.ReplyError):
            raise reply
        return reply

    def take_lost(self) -> list[Any]:
        """The items of the posts this (failed) connection may have lost, in order: the
        unconfirmed ones, after those its last read confirmed when that read was less
        than ``RESEND_WINDOW`` ago (Redis replies to a PUBLISH before it writes the
        subscribers' copies: a Redis killed in between confirmed what nobody got)."""
        recent = time.monotonic() - self._last_read_at < RESEND_WINDOW
        lost = [*(self._last_read_items if recent else ()), *self.unconfirmed]
        self._last_read_items = []
        self.unconfirmed.clear()
        return [item for item in lost if item is not None]

    @property
    def owed(self) -> int:
        """Replies owed to commands sent with :meth:`post`, not read yet."""
        return len(self.unconfirmed)

    def post(self, payload: bytes, item: Any = None) -> None:
        """Send a command whose reply is read later (only checked for an error);
        ``item`` is kept in :attr:`unconfirmed` until then.

        First reads, without waiting, the replies that have come; a connection
        Redis closed is noticed there and raises ``ConnectionError`` before
        anything is written on it.  Raises ``OSError`` when the write fails.
        """
        with self._lock:
            try:
                self._read_available()
                self.send(payload)
            except BaseException:
                self.close()
                raise
            self.unconfirmed.append(item)

    def _read_available(self) -> None:
        """Read the replies that have come, without waiting; raise when Redis closed.

        The socket is made non-blocking for it (timeout 0): a socket with a
        timeout would wait for data first, and so would eventlet's green
        ``os.read``.
        """
        sock = self.sock
        sock.settimeout(0.0)
        try:
            self._read_ready(sock)
        finally:
            sock.settimeout(self.timeout)

    def _read_ready(self, sock: socket.socket) -> None:
        while True:
            try:
                data = sock.recv(READ_SIZE)
            except (BlockingIOError, InterruptedError):
                return
            if not data:
                raise ConnectionError(f"Redis at {self.address} closed the connection")
            self._got_data()
            self._reader.feed(data)
            reply = self._reader.gets()
            while reply is not False:
                self._settle_post(reply)
                reply = self._reader.gets()
            if len(data) < READ_SIZE:
                return

    def _got_data(self) -> None:
        self._last_read_items = []
        self._last_read_at = time.monotonic()

    def _settle_post(self, reply: Any) -> None:
        if self.unconfirmed:
            self._last_read_items.append(self.unconfirmed.popleft())
        if isinstance(reply, hiredis.ReplyError):
            self.refused += 1
            logger.error("Redis refused a PUBLISH: %s", reply)

    def _read_reply(self) -> Any:
        reader = self._reader
        reply = reader.gets()
        while reply is False:
            data = self.sock.recv(READ_SIZE)
            if not data:
                raise ConnectionError(f"Redis at {self.address} closed the connection")
            self._got_data()
            reader.feed(data)
            reply = reader.gets()
        return reply

    def send(self, payload: bytes) -> None:
        """Write raw bytes (whole, from any thread)."""
        with self._send_lock:
            self.sock.sendall(payload)

    def read(self) -> bytes:
        """Read what has come (blocks up to the socket's timeout; ``b""`` when closed)."""
        return self.sock.recv(READ_SIZE)

    def close_when_answered(self, timeout: float) -> int:
        """Read the replies still owed to posted commands (``timeout`` seconds at most),
        then close; return how many were still unconfirmed (their fate unknown)."""
        if self.closed:
            return len(self.unconfirmed)
        deadline = time.monotonic() + timeout
        with self._lock:
            try:
                while self.owed:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self.sock.settimeout(left)
                    self._settle_post(self._read_reply())
            except (OSError, ConnectionError):
                pass  # what is still owed is unconfirmed
            owed = self.owed
            self.close()
        return owed

    def close(self) -> None:
        """Close the socket (a thread blocked reading it gets an error or ``b""``)."""
        if self.closed:
            return
        self.closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()





async def blocking_discovery_command(address: Address, settings: ConnectionSettings,
                                     *args: Any) -> Any:
    """A topology's discovery command on a short-lived blocking connection (a coroutine
    that never suspends: see :meth:`~.topology.Topology.refresh_blocking`)."""
    link = BlockingLink.open(address, settings, timeout=settings.connect_timeout)
    try:
        return link.request(encode_command(*args))
    except hiredis.ReplyError as exc:
        raise discovery_error(exc, args, address) from None
    finally:
        link.close()


__all__ = ["READ_SIZE", "BlockingLink", "blocking_discovery_command"]
