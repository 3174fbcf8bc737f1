"""One blocking RESP2 connection, for synchronous managers.

A plain ``socket`` (which gevent and eventlet make cooperative when they
have patched the standard library), with TLS and ``AUTH`` as a topology's
:class:`~.endpoints.ConnectionSettings` say, and hiredis to read replies.
Commands are the same preformatted byte strings the asyncio connections
send (:func:`~.resp_connection.encode_command`,
:func:`~.resp_connection.encode_publish`).
"""

from __future__ import annotations

import socket
import threading
from typing import Any

import hiredis

from .endpoints import Address, ConnectionSettings
from .errors import auth_refused
from .resp_connection import encode_command

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
                reply = self._read_reply()
            except BaseException:
                self.close()
                raise
        if raise_errors and isinstance(reply, hiredis.ReplyError):
            raise reply
        return reply

    def _read_reply(self) -> Any:
        reader = self._reader
        reply = reader.gets()
        while reply is False:
            data = self.sock.recv(READ_SIZE)
            if not data:
                raise ConnectionError(f"Redis at {self.address} closed the connection")
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


__all__ = ["READ_SIZE", "BlockingLink"]
