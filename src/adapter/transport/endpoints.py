"""Where a Redis node is and how to reach it: addresses, credentials, TLS, and opening a link.

Every raw connection of the adapter (classic or sharded, standalone, Sentinel
or Cluster) is opened by :func:`open_link` from an :class:`Address` and one
:class:`ConnectionSettings`, so TLS and ACL credentials apply the same way
to every node of every topology.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from dataclasses import dataclass
from typing import Any

import hiredis

from .errors import auth_refused
from .resp_connection import RespProtocol, encode_command


@dataclass(frozen=True, slots=True)
class Address:
    """One Redis node: a TCP ``host``/``port``, or a Unix socket ``path``."""

    host: str
    port: int
    path: str | None = None

    def __str__(self) -> str:
        return self.path if self.path else f"{self.host}:{self.port}"


_CERT_REQS = {"none": ssl.CERT_NONE, "optional": ssl.CERT_OPTIONAL, "required": ssl.CERT_REQUIRED}


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() not in ("", "0", "false", "no", "off")
    return bool(value)


def tls_context(options: dict[str, Any]) -> ssl.SSLContext:
    """An ``SSLContext`` from redis-py's ``ssl_*`` options (as ``rediss://`` URLs give them).

    ``ssl_ca_certs`` / ``ssl_ca_path`` / ``ssl_ca_data`` (the CAs to trust,
    the system's by default), ``ssl_cert_reqs`` (``"required"`` by default,
    ``"optional"`` or ``"none"``), ``ssl_check_hostname`` (on when
    certificates are required), ``ssl_certfile`` / ``ssl_keyfile`` /
    ``ssl_password`` (a client certificate), ``ssl_min_version``.  A ready
    context can be given as ``ssl_context``.
    """
    ready = options.get("ssl_context")
    if isinstance(ready, ssl.SSLContext):
        return ready
    context = ssl.create_default_context(
        cafile=options.get("ssl_ca_certs"), capath=options.get("ssl_ca_path"),
        cadata=options.get("ssl_ca_data"),
    )
    reqs = options.get("ssl_cert_reqs", "required")
    if isinstance(reqs, str):
        if reqs.lower() not in _CERT_REQS:
            raise ValueError(f"ssl_cert_reqs must be one of {', '.join(_CERT_REQS)}")
        reqs = _CERT_REQS[reqs.lower()]
    check_hostname = options.get("ssl_check_hostname")
    context.check_hostname = (
        reqs == ssl.CERT_REQUIRED if check_hostname is None else _truthy(check_hostname)
    ) and reqs != ssl.CERT_NONE
    context.verify_mode = reqs
    if options.get("ssl_certfile"):
        context.load_cert_chain(
            options["ssl_certfile"], options.get("ssl_keyfile"), options.get("ssl_password")
        )
    if options.get("ssl_min_version") is not None:
        context.minimum_version = options["ssl_min_version"]
    return context


@dataclass(slots=True)
class ConnectionSettings:
    """How every connection to a topology's nodes is opened.

    :param username: the ACL user (``AUTH username password``), or None.
    :param password: the password, or None for no ``AUTH``.
    :param tls: an ``SSLContext`` for TLS, or None for plain TCP.
    :param connect_timeout: seconds allowed to connect and authenticate.
    """

    username: str | None = None
    password: str | None = None
    tls: ssl.SSLContext | None = None
    connect_timeout: float = 5.0

    @classmethod
    def from_options(cls, options: dict[str, Any], tls: bool | None = None
                     ) -> ConnectionSettings:
        """Settings from redis-py style options (``username``, ``password``, ``ssl_*``...).

        TLS is on when ``tls`` says so, or (``tls`` None) when the options
        come from a ``rediss://`` URL or set ``ssl=True``.
        """
        if tls is None:
            tls = _truthy(options.get("ssl")) or "ssl" in getattr(
                options.get("connection_class"), "__name__", ""
            ).lower()
        timeout = options.get("socket_connect_timeout") or options.get("connect_timeout") or 5.0
        return cls(
            username=options.get("username") or None,
            password=options.get("password") or None,
            tls=tls_context(options) if tls else None,
            connect_timeout=float(timeout),
        )


async def open_link(address: Address, settings: ConnectionSettings) -> RespProtocol:
    """Connect to ``address``, with TLS and ``AUTH`` as ``settings`` say.

    Raises :class:`~.errors.RedisRefusedError` when Redis refuses the ``AUTH``.
    """
    loop = asyncio.get_running_loop()
    timeout = settings.connect_timeout
    if address.path:
        connect = loop.create_unix_connection(RespProtocol, address.path)
    elif settings.tls is not None:
        connect = loop.create_connection(
            RespProtocol, address.host, address.port, ssl=settings.tls,
            server_hostname=address.host, ssl_handshake_timeout=timeout,
        )
    else:
        connect = loop.create_connection(RespProtocol, address.host, address.port)
    transport, protocol = await asyncio.wait_for(connect, timeout)
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        # notice a peer that vanished without closing (a publisher sends no pings)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    try:
        if settings.password:
            args = (
                ("AUTH", settings.username, settings.password) if settings.username
                else ("AUTH", settings.password)
            )
            try:
                await asyncio.wait_for(protocol.request(encode_command(*args)), timeout)
            except hiredis.ReplyError as exc:
                raise auth_refused(exc, settings.username, address) from None
    except BaseException:
        protocol.close()
        raise
    return protocol


__all__ = ["Address", "ConnectionSettings", "open_link", "tls_context"]
