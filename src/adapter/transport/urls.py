"""Redis URLs and ready redis-py clients, turned into a :class:`~.topology.Topology`.

* ``redis://[[user]:password@]host:port[/db]``, ``rediss://...`` (TLS) and
  ``unix://[[user]:password@]/path``: one server;
* ``redis+cluster://[[user]:password@]host:port[,host:port...][?options]``
  and ``rediss+cluster://...``: a Redis Cluster, learned from any of the
  listed nodes;
* ``redis+sentinel://[[user]:password@]host:port[,host:port...][/db[/service]]``
  and ``rediss+sentinel://...``: the master that the sentinels name
  ``service`` (by default the adapter's channel prefix, as python-socketio
  defaults it to its channel).  The credentials and TLS of the URL are the
  master's; the sentinels' own go in ``sentinel_kwargs``.

Each ``redis`` scheme has a Valkey twin that means the same: ``valkey://``,
``valkeys://`` (TLS), ``valkey+cluster://``, ``valkeys+cluster://``,
``valkey+sentinel://`` and ``valkeys+sentinel://``.  :func:`redis_py_url`
turns a one-server URL into the form redis-py's ``from_url`` reads.

The query string and ``redis_options`` take redis-py's names: ``username``,
``password``, ``ssl_ca_certs``, ``ssl_cert_reqs``, ``ssl_certfile``,
``ssl_keyfile``, ``ssl_check_hostname``, ``socket_connect_timeout``...
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from redis.connection import parse_url as _parse_url

from .endpoints import Address, ConnectionSettings
from .topology import ClusterTopology, SentinelTopology, Topology

parse_url: Callable[[str], dict[str, Any]] = _parse_url

CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster", "valkey+cluster", "valkeys+cluster")
SENTINEL_SCHEMES = ("redis+sentinel", "rediss+sentinel", "valkey+sentinel", "valkeys+sentinel")
PLAIN_SCHEMES = ("redis", "rediss", "unix", "valkey", "valkeys")
#: every scheme a URL may have
ACCEPTED_SCHEMES = PLAIN_SCHEMES + CLUSTER_SCHEMES + SENTINEL_SCHEMES
#: the scheme redis-py's ``from_url`` knows for each one-server scheme (TLS kept)
_REDIS_PY_SCHEMES = {
    "redis": "redis", "rediss": "rediss", "unix": "unix", "valkey": "redis", "valkeys": "rediss",
}

#: the redis-py options the raw transports understand (others need redis-py)
RAW_OPTIONS = frozenset({
    "username", "password", "ssl", "ssl_context", "ssl_ca_certs", "ssl_ca_path", "ssl_ca_data",
    "ssl_cert_reqs", "ssl_certfile", "ssl_keyfile", "ssl_password", "ssl_check_hostname",
    "ssl_min_version", "socket_connect_timeout", "connect_timeout", "db",
})


def scheme_of(url: str) -> str:
    return url.split("://", 1)[0].lower() if "://" in url else ""


def _accepted(schemes: tuple[str, ...]) -> str:
    return ", ".join(f"{scheme}://" for scheme in schemes)


def unsupported_scheme(url: str, schemes: tuple[str, ...] = ACCEPTED_SCHEMES) -> ValueError:
    """The ``ValueError`` for a URL whose scheme is not one of ``schemes`` (named in it)."""
    scheme = scheme_of(url)
    what = f"scheme {scheme!r}" if scheme else "no scheme"
    return ValueError(f"unsupported Redis URL ({what}); accepted schemes: {_accepted(schemes)}")


def redis_py_url(url: str) -> str:
    """``url`` in the form redis-py's ``from_url`` reads: ``valkey://`` becomes
    ``redis://`` and ``valkeys://`` becomes ``rediss://`` (TLS kept); ``redis://``,
    ``rediss://`` and ``unix://`` stay as they are.

    Raises ``ValueError``, naming the accepted schemes, for any other URL
    (Cluster and Sentinel URLs included: ``from_url`` makes a client of one
    server), and for a ``unix://`` URL on a platform without Unix domain
    sockets (Windows).
    """
    scheme = scheme_of(url)
    target = _REDIS_PY_SCHEMES.get(scheme)
    if target is None:
        raise unsupported_scheme(url, PLAIN_SCHEMES)
    if target == "unix":
        reason = unix_socket_reason()
        if reason is not None:
            raise ValueError(reason)
    return f"{target}{url[len(scheme):]}"


def is_tls_url(url: str) -> bool:
    """Whether ``url``'s scheme asks for TLS (``rediss``, ``valkeys`` and their
    Cluster and Sentinel forms)."""
    return scheme_of(url).startswith(("rediss", "valkeys"))


def unix_socket_reason(socket_module: ModuleType = socket, platform: str = sys.platform
                       ) -> str | None:
    """Why ``unix://`` URLs cannot be served here (no Unix domain sockets), or None."""
    if not hasattr(socket_module, "AF_UNIX") or platform == "win32":
        return f"unix:// URLs need Unix domain sockets, which this platform ({platform}) lacks"
    return None


def is_cluster_url(url: str) -> bool:
    return scheme_of(url) in CLUSTER_SCHEMES


def is_sentinel_url(url: str) -> bool:
    return scheme_of(url) in SENTINEL_SCHEMES


def _check_options(options: dict[str, Any], allowed: frozenset[str]) -> None:
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise TypeError(f"unsupported Redis options for this URL: {', '.join(unknown)}")


def _hosts(netloc: str, default_port: int) -> tuple[list[Address], str | None, str | None]:
    credentials, _, hosts = netloc.rpartition("@")
    username = password = None
    if credentials:
        user, has_password, secret = credentials.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if has_password else None
    addresses = []
    for item in hosts.split(","):
        item = item.strip()
        if not item:
            continue
        if item.startswith("["):  # [IPv6]:port
            host, _, rest = item[1:].partition("]")
            port = rest.lstrip(":") or str(default_port)
        else:
            host, _, port = item.rpartition(":") if ":" in item else (item, "", "")
            port = port or str(default_port)
        try:
            addresses.append(Address(host or "localhost", int(port)))
        except ValueError:
            raise ValueError(f"bad host:port {item!r} in a Redis URL") from None
    if not addresses:
        raise ValueError("a Redis URL needs at least one host:port")
    return addresses, username, password


def _settings(url_options: dict[str, Any], options: dict[str, Any], tls: bool
              ) -> ConnectionSettings:
    merged = {**url_options, **{k: v for k, v in options.items() if v is not None}}
    return ConnectionSettings.from_options(merged, tls=tls)


def cluster_topology(url: str, **options: Any) -> ClusterTopology:
    """A :class:`ClusterTopology` from a ``redis+cluster://`` / ``rediss+cluster://`` URL."""
    _check_options(options, RAW_OPTIONS)
    parts = urlsplit(url)
    seeds, username, password = _hosts(parts.netloc, 6379)
    query = dict(parse_qsl(parts.query))
    settings = _settings({**query, "username": username, "password": password}, options,
                         is_tls_url(url))
    return ClusterTopology(seeds, settings)


def sentinel_topology(url: str, default_service: str, **options: Any) -> SentinelTopology:
    """A :class:`SentinelTopology` from a ``redis+sentinel://`` URL (python-socketio's form).

    ``sentinel_kwargs`` (a dict of the same option names) configures the
    connections to the sentinels: their password, TLS...
    """
    sentinel_options = dict(options.pop("sentinel_kwargs", None) or {})
    _check_options(options, RAW_OPTIONS)
    _check_options(sentinel_options, RAW_OPTIONS)
    parts = urlsplit(url)
    sentinels, username, password = _hosts(parts.netloc, 26379)
    segments = parts.path.split("/")
    service = segments[2] if len(segments) >= 3 and segments[2] else default_service
    if len(segments) >= 2 and segments[1]:
        int(segments[1])  # the db, as python-socketio reads it (pub/sub ignores it)
    query = dict(parse_qsl(parts.query))
    settings = _settings({**query, "username": username, "password": password}, options,
                         is_tls_url(url))
    sentinel_settings = ConnectionSettings.from_options(
        {"socket_connect_timeout": settings.connect_timeout, **sentinel_options}
    )
    return SentinelTopology(sentinels, unquote(service), settings, sentinel_settings)


def single_topology(url: str, **options: Any) -> Topology:
    """A :class:`Topology` of one server from a ``redis://``, ``rediss://``, ``unix://``,
    ``valkey://`` or ``valkeys://`` URL."""
    _check_options(options, RAW_OPTIONS)
    parsed = parse_url(redis_py_url(url))
    settings = _settings(parsed, options, is_tls_url(url))
    if parsed.get("path"):
        address = Address("", 0, parsed["path"])
    else:
        address = Address(parsed.get("host") or "localhost", int(parsed.get("port") or 6379))
    return Topology(address, settings)


def topology_from_url(url: str, default_service: str = "socket.io", **options: Any) -> Topology:
    """The topology a URL names (see the module doc); raises ``ValueError``, naming
    the accepted schemes, for other schemes."""
    scheme = scheme_of(url)
    if scheme in CLUSTER_SCHEMES:
        return cluster_topology(url, **options)
    if scheme in SENTINEL_SCHEMES:
        return sentinel_topology(url, default_service, **options)
    if scheme in PLAIN_SCHEMES:
        return single_topology(url, **options)
    raise unsupported_scheme(url)


def topology_from_client(client: Any) -> Topology:
    """The topology of a ready ``redis.asyncio.RedisCluster`` or ``redis.asyncio.Redis``.

    Only where it points and how it connects are taken (nodes, credentials,
    TLS options); the adapter opens its own connections.
    """
    if hasattr(client, "get_nodes") and hasattr(client, "nodes_manager"):
        kwargs = dict(getattr(client.nodes_manager, "connection_kwargs", {}) or {})
        seeds = [Address(node.host, int(node.port)) for node in client.get_nodes()]
        if not seeds:
            seeds = [
                Address(node.host, int(node.port))
                for node in client.nodes_manager.startup_nodes.values()
            ]
        tls = "ssl" in getattr(kwargs.get("connection_class"), "__name__", "").lower()
        settings = ConnectionSettings.from_options(
            {k: v for k, v in kwargs.items() if k in RAW_OPTIONS}, tls=tls
        )
        return ClusterTopology(seeds, settings)
    pool = getattr(client, "connection_pool", None)
    if pool is None:
        raise TypeError("expected a redis.asyncio.Redis or redis.asyncio.RedisCluster client")
    kwargs = dict(pool.connection_kwargs)
    tls = "ssl" in getattr(pool.connection_class, "__name__", "").lower()
    settings = ConnectionSettings.from_options(
        {k: v for k, v in kwargs.items() if k in RAW_OPTIONS}, tls=tls
    )
    if kwargs.get("path"):
        return Topology(Address("", 0, kwargs["path"]), settings)
    return Topology(Address(kwargs.get("host") or "localhost", int(kwargs.get("port") or 6379)),
                    settings)


__all__ = [
    "ACCEPTED_SCHEMES",
    "CLUSTER_SCHEMES",
    "PLAIN_SCHEMES",
    "RAW_OPTIONS",
    "SENTINEL_SCHEMES",
    "cluster_topology",
    "is_cluster_url",
    "is_sentinel_url",
    "is_tls_url",
    "redis_py_url",
    "sentinel_topology",
    "single_topology",
    "topology_from_client",
    "topology_from_url",
    "unix_socket_reason",
    "unsupported_scheme",
]
