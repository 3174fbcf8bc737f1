"""Real multi-node Redis topologies on loopback, started and stopped by the tests.

* :class:`RedisCluster`: a Redis Cluster of ``masters`` masters with ``replicas`` replicas
  each, optionally TLS only (``tls=True``), created with ``redis-cli --cluster create``;
* :class:`RedisSentinelSet`: a master, its replicas and three Sentinels watching them,
  optionally TLS only (``tls=True``: data nodes, replication and the Sentinels themselves);
* ACL helpers: :func:`acl_setuser`, :func:`apply_acl` and :func:`require_auth`, which
  password-protects the ``default`` user while the helpers' own admin commands keep working.

Every process is the run's server (:mod:`tests.support.servers`: Debian's Redis 7.0.15 by
default, Valkey 9 or Redis 6.2 on request) bound to 127.0.0.1, started with
the ``_die_with_parent`` hook of :mod:`tests.support.redis_server` (so it gets SIGTERM if the
test process dies) and stopped by its own PID: SIGTERM, then SIGKILL after a timeout.  Every
wait is bounded both in time and in number of polls.  A topology started in a fixture must be
started from the main thread: the death signal follows the *thread* that forked the server.

Facts about Redis that shape this module:

* a cluster node also listens on its cluster bus port, port + 10000 (the TLS port + 10000
  with ``tls-cluster yes``), and fails to start if that port is taken; :func:`cluster_port`
  hands out ports <= 55535 whose bus port is free too, preferably below the kernel's
  ephemeral range so that no outgoing connection can grab the bus port meanwhile;
* Redis 7.0 has no ``CLIENT SETINFO``; the admin connections here do not send it;
* ``repl-diskless-sync-delay`` defaults to 5 s, which would delay every replica's first sync:
  it is 0 here;
* Redis 7 waits up to ``shutdown-timeout`` (10 s) on SIGTERM for lagging replicas: it is 1 s.
"""

from __future__ import annotations

import contextlib
import importlib.util
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote

import redis
from redis.backoff import NoBackoff
from redis.connection import Connection, SSLConnection
from redis.crc import key_slot
from redis.retry import Retry

from .ports import free_port
from .redis_server import RedisServer, _die_with_parent
from .servers import SERVER, require_tls, server_binary

HOST = "127.0.0.1"
CLUSTER_SLOTS = 16384
BUS_PORT_OFFSET = 10000
MAX_CLUSTER_PORT = 65535 - BUS_PORT_OFFSET  # 55535
POLL_INTERVAL = 0.05

T = TypeVar("T")

#: redis-py client options that skip ``CLIENT SETINFO`` (Redis 7.0 does not know it):
#: ``driver_info=None`` since redis-py 7.1 (where ``lib_name``/``lib_version`` warn),
#: ``lib_name=None, lib_version=None`` before.
NO_CLIENT_SETINFO: dict[str, Any] = (
    {"driver_info": None}
    if importlib.util.find_spec("redis.driver_info") is not None
    else {"lib_name": None, "lib_version": None}
)


# --------------------------------------------------------------------------- helpers


def _binary(name: str) -> str:
    if name == "redis-server":
        return server_binary()
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(
            f"{name} is not installed: install it (apt-get install redis-server redis-tools) "
            "or run .ci/run, which does"
        )
    return path


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def _ephemeral_port_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


_HANDED_OUT: set[int] = set()
_RANDOM = random.SystemRandom()  # independent of any seeding done by the tests


def cluster_port(attempts: int = 300) -> int:
    """A free loopback port P <= 55535 whose cluster bus port P + 10000 is free too.

    Ports where both P and P + 10000 lie below the kernel's ephemeral range are preferred
    (no outgoing connection can take them between this check and the server's bind).  A
    port is never handed out twice in one test process.
    """
    top = min(MAX_CLUSTER_PORT, _ephemeral_port_low() - BUS_PORT_OFFSET - 1)
    ranges = [(15000, top)] if top - 15000 >= 500 else []
    ranges.append((1024, MAX_CLUSTER_PORT))
    for low, high in ranges:
        for _ in range(attempts):
            port = _RANDOM.randint(low, high)
            bus = port + BUS_PORT_OFFSET
            if port in _HANDED_OUT or bus in _HANDED_OUT:
                continue
            if _port_is_free(port) and _port_is_free(bus):
                _HANDED_OUT.update((port, bus))
                return port
    raise RuntimeError("no free port P <= 55535 with P + 10000 free too")


def _wait_until(
    check: Callable[[], T | None], timeout: float, what: str, interval: float = POLL_INTERVAL
) -> T:
    """Call ``check`` until it returns something other than None (or False).

    Bounded by ``timeout`` seconds and by ``timeout / interval + 1`` calls.  Redis and socket
    errors raised by ``check`` count as "not yet"; the last one is in the TimeoutError.
    """
    deadline = time.monotonic() + timeout
    last: object = None
    for _ in range(int(timeout / interval) + 1):
        try:
            result = check()
        except (redis.RedisError, OSError) as error:
            last = error
        else:
            if result is not None and result is not False:
                return result
            last = result
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    raise TimeoutError(f"{what} within {timeout}s (last: {last!r})")


def parse_info(text: str) -> dict[str, str]:
    """The ``field:value`` lines of an INFO reply as a dict (sections merged)."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if line and not line.startswith("#") and ":" in line:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


def admin_command(
    port: int,
    *args: str | int | bytes,
    tls_ca: str | None = None,
    username: str | None = None,
    password: str | None = None,
    timeout: float = 2.0,
    host: str = HOST,
) -> Any:
    """Run one command on ``host:port`` over a short-lived redis-py connection.

    RESP2, strings decoded, no response callbacks (CLUSTER NODES and INFO come back as
    text), no ``CLIENT SETINFO`` (Redis 7.0 lacks it), no retries.  An error reply raises
    :class:`redis.ResponseError` (or its subclasses, e.g. ``NoPermissionError``).
    """
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "decode_responses": True,
        "protocol": 2,
        **NO_CLIENT_SETINFO,
        "retry": Retry(NoBackoff(), 0),
        "username": username if password is not None else None,
        "password": password,
    }
    connection: Connection
    if tls_ca is not None:
        connection = SSLConnection(ssl_ca_certs=tls_ca, ssl_cert_reqs="required", **options)
    else:
        connection = Connection(**options)
    try:
        connection.connect()
        connection.send_command(*args)
        return connection.read_response()
    finally:
        connection.disconnect()


def _certificates(workdir: str) -> dict[str, str]:
    """CA, certificate and key files for 127.0.0.1 in ``workdir`` (``ca``/``cert``/``key``).

    Reuses the trustme code of :class:`RedisServer` without starting (or constructing) one.
    """
    holder = RedisServer.__new__(RedisServer)
    holder.workdir = workdir
    return holder._make_certificates()


def user_url(url: str, username: str, password: str) -> str:
    """``url`` with ``username:password@`` after its scheme (both percent-encoded)."""
    scheme, separator, rest = url.partition("://")
    if not separator:
        raise ValueError(f"not a URL: {url!r}")
    return f"{scheme}://{quote(username, safe='')}:{quote(password, safe='')}@{rest}"


# --------------------------------------------------------------------------- one process


class RedisNode:
    """One ``redis-server`` process of a topology: a data node or a Sentinel.

    ``username``/``password`` are the credentials its admin commands use (see
    :func:`require_auth`); ``node_id`` is its cluster node ID (cluster nodes only).
    """

    def __init__(
        self,
        port: int,
        arguments: Sequence[str],
        workdir: str,
        *,
        name: str,
        tls_files: dict[str, str] | None = None,
    ) -> None:
        self.port = port
        self.arguments = list(arguments)
        self.workdir = workdir
        self.name = name
        self.tls_files = dict(tls_files or {})
        self.process: subprocess.Popen[bytes] | None = None
        self.username = "default"
        self.password: str | None = None
        self.node_id: str | None = None

    def __repr__(self) -> str:
        state = "alive" if self.alive else "dead"
        return f"<RedisNode {self.name} {HOST}:{self.port} pid={self.pid} {state}>"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def address(self) -> tuple[str, int]:
        return (HOST, self.port)

    @property
    def logfile(self) -> str:
        return f"{self.workdir}/redis.log"

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(Path(self.logfile).read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def spawn(self) -> None:
        """Start the process (without waiting for it to answer)."""
        assert self.process is None or not self.alive, f"{self!r} is already running"
        self.process = subprocess.Popen(
            [_binary("redis-server"), *self.arguments],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=self.workdir,
            preexec_fn=_die_with_parent,
        )

    def wait_ready(self, timeout: float = 10.0) -> None:
        """Bounded wait until the process answers PING; raises if it exits first."""

        def ready() -> bool:
            if not self.alive:
                code = self.process.returncode if self.process else None
                raise RuntimeError(
                    f"{self.name} (port {self.port}) exited with {code}:\n{self.log_tail()}"
                )
            return self.ping()

        _wait_until(ready, timeout, f"{self.name} answering PING on port {self.port}")

    def start(self, timeout: float = 10.0) -> None:
        self.spawn()
        self.wait_ready(timeout)

    def command(self, *args: str | int | bytes, timeout: float = 2.0) -> Any:
        """Run one command as this node's admin user (see :func:`admin_command`)."""
        return admin_command(
            self.port,
            *args,
            tls_ca=self.tls_files.get("ca"),
            username=self.username,
            password=self.password,
            timeout=timeout,
        )

    def ping(self) -> bool:
        try:
            return bool(self.command("PING", timeout=0.5) == "PONG")
        except (redis.RedisError, OSError):
            return False

    def info(self, section: str | None = None) -> dict[str, str]:
        return parse_info(self.command("INFO", *([section] if section else [])))

    def kill(self) -> None:
        """SIGKILL this process (by its PID) and reap it."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def terminate(self) -> None:
        """Send SIGTERM (by PID) without waiting; see :meth:`stop`."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL if it has not exited after ``timeout`` seconds."""
        if self.process is None:
            return
        self.terminate()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def _stop_all(nodes: Iterable[RedisNode], timeout: float = 10.0) -> None:
    """SIGTERM every node first, then wait for each (SIGKILL after ``timeout``)."""
    nodes = list(nodes)
    for node in nodes:
        node.terminate()
    for node in nodes:
        node.stop(timeout)


def _common_arguments(port: int, workdir: str, tls_files: dict[str, str]) -> list[str]:
    arguments = [
        "--bind", HOST,
        "--save", "",
        "--appendonly", "no",
        "--protected-mode", "yes",
        "--dir", workdir,
        "--logfile", f"{workdir}/redis.log",
        "--repl-diskless-sync", "yes",
        "--repl-diskless-sync-delay", "0",
        *(["--shutdown-timeout", "1"] if SERVER.shutdown_timeout else []),
    ]
    if tls_files:
        # TLS only: the plain port is off, so nothing can bypass it
        arguments += [
            "--port", "0",
            "--tls-port", str(port),
            "--tls-cert-file", tls_files["cert"],
            "--tls-key-file", tls_files["key"],
            "--tls-ca-cert-file", tls_files["ca"],
            "--tls-auth-clients", "no",
            "--tls-replication", "yes",
        ]
    else:
        arguments += ["--port", str(port)]
    return arguments


# --------------------------------------------------------------------------- cluster


@dataclass(frozen=True)
class ClusterNodeView:
    """One line of CLUSTER NODES."""

    node_id: str
    port: int
    flags: frozenset[str]
    master_id: str | None
    link_state: str
    slots: tuple[tuple[int, int], ...]

    @property
    def is_master(self) -> bool:
        return "master" in self.flags

    @property
    def failed(self) -> bool:
        """Flagged FAIL (agreed by the masters), or without address."""
        return "fail" in self.flags or "noaddr" in self.flags

    def serves(self, slot: int) -> bool:
        return any(first <= slot <= last for first, last in self.slots)

    @property
    def slot_count(self) -> int:
        return sum(last - first + 1 for first, last in self.slots)


def parse_cluster_nodes(text: str) -> list[ClusterNodeView]:
    """Parse a CLUSTER NODES reply (importing/migrating ``[...]`` entries are skipped)."""
    views = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 8:
            continue
        address = fields[1].split(",")[0].split("@")[0]
        slots = []
        for item in fields[8:]:
            if item.startswith("["):
                continue
            first, _, last = item.partition("-")
            slots.append((int(first), int(last or first)))
        views.append(
            ClusterNodeView(
                node_id=fields[0],
                port=int(address.rsplit(":", 1)[1]),
                flags=frozenset(fields[2].split(",")),
                master_id=None if fields[3] == "-" else fields[3],
                link_state=fields[7],
                slots=tuple(sorted(slots)),
            )
        )
    return views


def _topology(views: Iterable[ClusterNodeView]) -> dict[str, tuple[bool, str | None, tuple]]:
    """What all nodes must agree on: role, master and slots of every node ID."""
    return {v.node_id: (v.is_master, v.master_id, v.slots) for v in views}


class RedisCluster:
    """A Redis Cluster on loopback: ``masters`` masters, each with ``replicas`` replicas.

    ``replicas`` is per master, as ``redis-cli --cluster create --cluster-replicas``: a
    3 + 3 cluster is ``RedisCluster(masters=3, replicas=1)``.  With ``tls=True`` every node
    listens with TLS only (client, replication and cluster bus), with a throwaway CA.
    """

    def __init__(
        self,
        masters: int = 3,
        replicas: int = 0,
        tls: bool = False,
        node_timeout_ms: int = 1000,
    ) -> None:
        if masters < 3:
            raise ValueError("redis-cli --cluster create needs at least 3 masters")
        self.master_count = masters
        self.replicas_per_master = replicas
        if tls:
            require_tls()
        self.tls = tls
        self.node_timeout_ms = node_timeout_ms
        self.nodes: list[RedisNode] = []
        self.workdir: str | None = None
        self.tls_files: dict[str, str] = {}
        self.started_in: float | None = None
        self._slots_at_kill: dict[int, tuple[tuple[int, int], ...]] = {}
        self._ids_at_kill: dict[int, str | None] = {}

    # -- lifecycle

    def __enter__(self) -> RedisCluster:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _node_arguments(self, port: int, workdir: str) -> list[str]:
        return [
            *_common_arguments(port, workdir, self.tls_files),
            "--cluster-enabled", "yes",
            "--cluster-config-file", f"{workdir}/nodes.conf",
            "--cluster-node-timeout", str(self.node_timeout_ms),
            # a replica may always fail over, however long ago it last heard its master
            "--cluster-replica-validity-factor", "0",
            # replicas stay with their master (no migration to orphaned masters)
            "--cluster-allow-replica-migration", "no",
            "--cluster-require-full-coverage", "yes",
            "--repl-ping-replica-period", "1",
            *(["--tls-cluster", "yes"] if self.tls else []),
        ]

    def start(self, timeout: float = 30.0) -> None:
        """Start the nodes, create the cluster and wait (bounded) until it has converged."""
        began = time.monotonic()
        deadline = began + timeout
        redis_cli = _binary("redis-cli")
        _binary("redis-server")
        self.workdir = tempfile.mkdtemp(prefix="sra-cluster-")
        try:
            if self.tls:
                self.tls_files = _certificates(self.workdir)
            total = self.master_count * (1 + self.replicas_per_master)
            for index in range(total):
                port = cluster_port()
                workdir = tempfile.mkdtemp(prefix=f"node{index}-", dir=self.workdir)
                self.nodes.append(
                    RedisNode(
                        port,
                        self._node_arguments(port, workdir),
                        workdir,
                        name=f"cluster-node{index}",
                        tls_files=self.tls_files,
                    )
                )
            for node in self.nodes:
                node.spawn()
            for node in self.nodes:
                node.wait_ready(max(1.0, deadline - time.monotonic()))
            command = [redis_cli]
            if self.tls:
                command += ["--tls", "--cacert", self.tls_files["ca"]]
            command += [
                "--cluster", "create",
                *(f"{HOST}:{node.port}" for node in self.nodes),
                "--cluster-replicas", str(self.replicas_per_master),
                "--cluster-yes",
            ]
            created = subprocess.run(
                command,
                capture_output=True,
                text=True,
                timeout=max(1.0, deadline - time.monotonic()),
                check=False,
            )
            if created.returncode != 0:
                raise RuntimeError(
                    f"redis-cli --cluster create failed ({created.returncode}):\n"
                    f"{created.stdout}\n{created.stderr}"
                )
            self._wait_converged(max(1.0, deadline - time.monotonic()))
        except BaseException:
            self.stop()
            raise
        self.started_in = time.monotonic() - began

    def _wait_converged(self, timeout: float) -> None:
        total = len(self.nodes)

        def converged() -> bool:
            views = []
            for node in self.nodes:
                info = parse_info(node.command("CLUSTER", "INFO"))
                if (
                    info.get("cluster_state") != "ok"
                    or info.get("cluster_slots_ok") != str(CLUSTER_SLOTS)
                    or info.get("cluster_known_nodes") != str(total)
                ):
                    return False
                views.append(_topology(parse_cluster_nodes(node.command("CLUSTER", "NODES"))))
            if any(view != views[0] for view in views[1:]):
                return False
            roles = views[0]
            if sum(is_master for is_master, _, _ in roles.values()) != self.master_count:
                return False
            for node in self.nodes:
                info = node.info("replication")
                if info.get("role") == "slave" and info.get("master_link_status") != "up":
                    return False
            return True

        _wait_until(converged, timeout, "cluster converging (state ok, all nodes agree)")
        for node in self.nodes:
            node.node_id = node.command("CLUSTER", "MYID")
        # masters first, so that url and startup_nodes list the masters first
        master_ports = {node.port for node in self.masters()}
        self.nodes.sort(key=lambda node: node.port not in master_ports)

    def stop(self) -> None:
        """Stop every node by its PID (SIGTERM, then SIGKILL) and remove the temp dirs."""
        _stop_all(self.nodes)
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    # -- addresses

    @property
    def startup_nodes(self) -> list[tuple[str, int]]:
        return [node.address for node in self.nodes]

    @property
    def url(self) -> str:
        """``redis+cluster://127.0.0.1:p1,...`` (``rediss+cluster://...?ssl_ca_certs=...``)."""
        hosts = ",".join(f"{host}:{port}" for host, port in self.startup_nodes)
        if self.tls:
            return (
                f"rediss+cluster://{hosts}?ssl_ca_certs={self.ca_file}&ssl_cert_reqs=required"
            )
        return f"redis+cluster://{hosts}"

    @property
    def ca_file(self) -> str:
        """The CA file that verifies the nodes' certificates (``tls=True`` only)."""
        if not self.tls_files:
            raise AttributeError("this cluster was not started with tls=True")
        return self.tls_files["ca"]

    @property
    def password(self) -> str | None:
        """The ``default`` user's password once :func:`require_auth` was applied."""
        return self.nodes[0].password if self.nodes else None

    # -- state, as seen by a live node

    def node_by_port(self, port: int) -> RedisNode:
        for node in self.nodes:
            if node.port == port:
                return node
        raise LookupError(f"no node of this cluster on port {port}")

    def command(self, node: RedisNode, *args: str | int | bytes) -> Any:
        """Run one admin command on ``node`` (short-lived connection)."""
        return node.command(*args)

    def views(self, node: RedisNode | None = None) -> list[ClusterNodeView]:
        """CLUSTER NODES as seen by ``node`` (by default the first live node that answers)."""
        if node is not None:
            return parse_cluster_nodes(node.command("CLUSTER", "NODES"))
        error: Exception | None = None
        for candidate in self.nodes:
            if candidate.alive:
                try:
                    return parse_cluster_nodes(candidate.command("CLUSTER", "NODES"))
                except (redis.RedisError, OSError) as failure:
                    error = failure
        raise RuntimeError(f"no live cluster node answers CLUSTER NODES ({error!r})")

    def masters(self) -> list[RedisNode]:
        """Nodes that a live node currently sees as masters (not flagged FAIL)."""
        return [
            self.node_by_port(v.port) for v in self.views() if v.is_master and not v.failed
        ]

    def replicas(self) -> list[RedisNode]:
        """Nodes that a live node currently sees as replicas (not flagged FAIL)."""
        return [
            self.node_by_port(v.port)
            for v in self.views()
            if "slave" in v.flags and not v.failed
        ]

    def replicas_of(self, master: RedisNode) -> list[RedisNode]:
        views = self.views()
        master_id = next(v.node_id for v in views if v.port == master.port)
        return [self.node_by_port(v.port) for v in views if v.master_id == master_id]

    def master_for_slot(self, slot: int) -> RedisNode:
        for view in self.views():
            if view.is_master and not view.failed and view.serves(slot):
                return self.node_by_port(view.port)
        raise LookupError(f"no master serves slot {slot}")

    def master_for_key(self, key: bytes | str) -> RedisNode:
        """The master serving ``key`` (or a sharded channel name: same hash slot)."""
        return self.master_for_slot(key_slot(key.encode() if isinstance(key, str) else key))

    def move_slot(self, slot: int, target: RedisNode, timeout: float = 10.0,
                  atomic: bool = False) -> RedisNode:
        """Move ``slot`` (it holds no keys: pub/sub channels are not keys) to master ``target``.

        The resharding steps of ``redis-cli --cluster reshard`` without MIGRATE: IMPORTING on
        the target, MIGRATING on the owner, then ``SETSLOT NODE`` on every master; with
        ``atomic``, Valkey 9's atomic slot migration instead (``CLUSTER MIGRATESLOTS`` on the
        owner, which hands the slot over by itself: see ``needs_atomic_slot_migration``).
        Returns the former owner once every live node sees ``target`` serving the slot.
        """
        views = self.views()
        ids = {view.port: view.node_id for view in views}
        source = self.master_for_slot(slot)
        if source.port == target.port:
            raise ValueError(f"slot {slot} is already served by {target!r}")
        target_id, source_id = ids[target.port], ids[source.port]
        if atomic:
            source.command("CLUSTER", "MIGRATESLOTS", "SLOTSRANGE", slot, slot, "NODE",
                           target_id)
        else:
            target.command("CLUSTER", "SETSLOT", slot, "IMPORTING", source_id)
            source.command("CLUSTER", "SETSLOT", slot, "MIGRATING", target_id)
            for node in (target, source):
                node.command("CLUSTER", "SETSLOT", slot, "NODE", target_id)
            for view in views:
                if view.is_master and view.port not in (target.port, source.port):
                    self.node_by_port(view.port).command("CLUSTER", "SETSLOT", slot, "NODE",
                                                         target_id)

        def moved() -> bool:
            return all(
                self.master_for_slot_as_seen_by(node, slot) == target.port
                for node in self.nodes if node.alive
            )

        _wait_until(moved, timeout, f"every node sees slot {slot} on {target!r}")
        return source

    def master_for_slot_as_seen_by(self, node: RedisNode, slot: int) -> int | None:
        """The port of the master that ``node`` says serves ``slot`` (None if none)."""
        for view in self.views(node):
            if view.is_master and view.serves(slot):
                return view.port
        return None

    # -- failures

    def kill(self, node: RedisNode) -> None:
        """SIGKILL ``node`` by its PID, remembering the slots it served."""
        try:
            own = [v for v in self.views() if v.port == node.port]
        except RuntimeError:
            own = []
        self._slots_at_kill[node.port] = own[0].slots if own and own[0].is_master else ()
        self._ids_at_kill[node.port] = own[0].node_id if own else node.node_id
        node.kill()

    def wait_failover(self, killed_node: RedisNode, timeout: float = 15.0) -> RedisNode:
        """Bounded wait until a live node took over the slots of the killed master.

        Returns that node once every slot is served by a live master, every live node
        reports ``cluster_state:ok`` with all 16384 slots ok, all live nodes agree on who
        serves the killed master's slots, and that node says ``role:master``.
        """
        slots = self._slots_at_kill.get(killed_node.port)
        if not slots:
            raise ValueError(f"{killed_node!r} was not a master serving slots when killed")
        killed_id = self._ids_at_kill.get(killed_node.port)
        probe = slots[0][0]

        def promoted() -> RedisNode | None:
            live = [node for node in self.nodes if node.alive]
            owners = set()
            for node in live:
                info = parse_info(node.command("CLUSTER", "INFO"))
                if (
                    info.get("cluster_state") != "ok"
                    or info.get("cluster_slots_ok") != str(CLUSTER_SLOTS)
                ):
                    return None
                views = self.views(node)
                live_ports = {n.port for n in live}
                served = sum(
                    v.slot_count
                    for v in views
                    if v.is_master and not v.failed and v.port in live_ports
                )
                if served != CLUSTER_SLOTS:
                    return None
                owner = [v for v in views if v.is_master and not v.failed and v.serves(probe)]
                if len(owner) != 1 or owner[0].node_id == killed_id:
                    return None
                owners.add(owner[0].port)
            if len(owners) != 1:
                return None
            new_master = self.node_by_port(owners.pop())
            if not new_master.alive or new_master.info("replication").get("role") != "master":
                return None
            return new_master

        return _wait_until(promoted, timeout, f"a replica taking over from {killed_node!r}")


# --------------------------------------------------------------------------- sentinel


def _pairs(reply: Sequence[Any]) -> dict[str, Any]:
    """A flat ``[key, value, key, value, ...]`` reply as a dict."""
    return {str(reply[i]): reply[i + 1] for i in range(0, len(reply) - 1, 2)}


class RedisSentinelSet:
    """A master, ``replicas`` replicas and ``sentinels`` Sentinels monitoring ``service``.

    The quorum is a majority of the Sentinels (2 of 3).  With ``tls=True`` every process
    listens with TLS only, with a throwaway CA (:attr:`ca_file`): the data nodes (and their
    replication), and the Sentinels, which also talk TLS to the data nodes and to each
    other (``tls-replication yes``).
    """

    def __init__(
        self,
        service: str = "mymaster",
        replicas: int = 1,
        sentinels: int = 3,
        down_after_ms: int = 1000,
        failover_timeout_ms: int = 5000,
        tls: bool = False,
    ) -> None:
        self.service = service
        if tls:
            require_tls()
        self.tls = tls
        self.tls_files: dict[str, str] = {}
        self.replica_count = replicas
        self.sentinel_count = sentinels
        self.quorum = sentinels // 2 + 1
        self.down_after_ms = down_after_ms
        self.failover_timeout_ms = failover_timeout_ms
        self.data_nodes: list[RedisNode] = []
        self.sentinels: list[RedisNode] = []
        self.workdir: str | None = None
        self.started_in: float | None = None
        self._killed_port: int | None = None
        self._first_master_port: int | None = None

    def __enter__(self) -> RedisSentinelSet:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _sentinel_config(self, port: int, workdir: str, master_port: int) -> str:
        path = f"{workdir}/sentinel.conf"
        name = self.service
        if self.tls_files:
            # TLS only; tls-replication makes the Sentinel's own connections (to the data
            # nodes and to the other Sentinels) TLS too, and its hello messages announce
            # the TLS port
            listen = [
                "port 0",
                f"tls-port {port}",
                f"tls-cert-file {self.tls_files['cert']}",
                f"tls-key-file {self.tls_files['key']}",
                f"tls-ca-cert-file {self.tls_files['ca']}",
                "tls-auth-clients no",
                "tls-replication yes",
            ]
        else:
            listen = [f"port {port}"]
        Path(path).write_text(
            "\n".join(
                [
                    *listen,
                    f"bind {HOST}",
                    "protected-mode yes",
                    "daemonize no",
                    f"dir {workdir}",
                    f"logfile {workdir}/redis.log",
                    f"sentinel monitor {name} {HOST} {master_port} {self.quorum}",
                    f"sentinel down-after-milliseconds {name} {self.down_after_ms}",
                    f"sentinel failover-timeout {name} {self.failover_timeout_ms}",
                    f"sentinel parallel-syncs {name} 1",
                    "",
                ]
            )
        )
        return path

    def start(self, timeout: float = 30.0) -> None:
        """Start master, replicas and Sentinels; wait (bounded) until all see each other."""
        began = time.monotonic()
        deadline = began + timeout
        _binary("redis-server")
        self.workdir = tempfile.mkdtemp(prefix="sra-sentinel-")

        def left() -> float:
            return max(1.0, deadline - time.monotonic())

        try:
            if self.tls:
                self.tls_files = _certificates(self.workdir)
            master_port = free_port()
            for index in range(1 + self.replica_count):
                port = master_port if index == 0 else free_port()
                workdir = tempfile.mkdtemp(prefix=f"data{index}-", dir=self.workdir)
                arguments = _common_arguments(port, workdir, self.tls_files)
                if index:
                    arguments += ["--replicaof", HOST, str(master_port)]
                name = "master" if index == 0 else f"replica{index}"
                self.data_nodes.append(
                    RedisNode(port, arguments, workdir, name=name, tls_files=self.tls_files)
                )
            for node in self.data_nodes:
                node.spawn()
            for node in self.data_nodes:
                node.wait_ready(left())
            for node in self.data_nodes[1:]:
                _wait_until(
                    lambda node=node: node.info("replication").get("master_link_status") == "up",
                    left(),
                    f"{node.name} in sync with the master",
                )
            self._first_master_port = master_port
            for index in range(self.sentinel_count):
                port = free_port()
                workdir = tempfile.mkdtemp(prefix=f"sentinel{index}-", dir=self.workdir)
                config = self._sentinel_config(port, workdir, master_port)
                self.sentinels.append(
                    RedisNode(
                        port,
                        [config, "--sentinel"],
                        workdir,
                        name=f"sentinel{index}",
                        tls_files=self.tls_files,
                    )
                )
            for sentinel in self.sentinels:
                sentinel.spawn()
            for sentinel in self.sentinels:
                sentinel.wait_ready(left())

            def all_see_each_other() -> bool:
                for sentinel in self.sentinels:
                    state = _pairs(sentinel.command("SENTINEL", "MASTER", self.service))
                    if (
                        state.get("flags") != "master"
                        or int(state.get("port", 0)) != master_port
                        or int(state.get("num-slaves", -1)) != self.replica_count
                        or int(state.get("num-other-sentinels", -1)) != self.sentinel_count - 1
                    ):
                        return False
                return True

            _wait_until(all_see_each_other, left(), "Sentinels seeing master, replicas, peers")
        except BaseException:
            self.stop()
            raise
        self.started_in = time.monotonic() - began

    def stop(self) -> None:
        """Stop the Sentinels, then the data nodes (by PID), and remove the temp dirs."""
        _stop_all(self.sentinels)
        _stop_all(self.data_nodes)
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    @property
    def sentinel_addresses(self) -> list[tuple[str, int]]:
        return [sentinel.address for sentinel in self.sentinels]

    @property
    def url(self) -> str:
        """``redis+sentinel://127.0.0.1:s1,127.0.0.1:s2,127.0.0.1:s3/0/<service>``.

        ``rediss+sentinel://...`` with ``tls=True``; the CA (:attr:`ca_file`) is then needed
        both for the master (``ssl_ca_certs``) and for the Sentinels (in ``sentinel_kwargs``:
        ``ssl`` and ``ssl_ca_certs``), which a URL cannot carry.
        """
        hosts = ",".join(f"{host}:{port}" for host, port in self.sentinel_addresses)
        scheme = "rediss+sentinel" if self.tls else "redis+sentinel"
        return f"{scheme}://{hosts}/0/{self.service}"

    @property
    def ca_file(self) -> str:
        """The CA file that verifies every process's certificate (``tls=True`` only)."""
        if not self.tls_files:
            raise AttributeError("this Sentinel set was not started with tls=True")
        return self.tls_files["ca"]

    def node_by_port(self, port: int) -> RedisNode:
        for node in self.data_nodes:
            if node.port == port:
                return node
        raise LookupError(f"no data node of this set on port {port}")

    def _master_port_by(self, sentinel: RedisNode) -> int:
        host, port = sentinel.command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.service)
        return int(port)

    @property
    def master(self) -> RedisNode:
        """The current master, as reported by the first live Sentinel that answers."""
        error: Exception | None = None
        for sentinel in self.sentinels:
            if sentinel.alive:
                try:
                    return self.node_by_port(self._master_port_by(sentinel))
                except (redis.RedisError, OSError) as failure:
                    error = failure
        raise RuntimeError(f"no Sentinel answers ({error!r})")

    @property
    def replicas(self) -> list[RedisNode]:
        """Live data nodes that say ``role:slave``."""
        found = []
        for node in self.data_nodes:
            if node.alive:
                with contextlib.suppress(redis.RedisError, OSError):
                    if node.info("replication").get("role") == "slave":
                        found.append(node)
        return found

    def kill_master(self) -> RedisNode:
        """SIGKILL the current master by its PID; returns it."""
        master = self.master
        self._killed_port = master.port
        master.kill()
        return master

    def wait_new_master(self, timeout: float = 20.0) -> RedisNode:
        """Bounded wait until every live Sentinel reports the same new, live master.

        "New" means other than the last killed master (or the first master if none was
        killed); that node must answer ``role:master``.
        """
        old = self._killed_port if self._killed_port is not None else self._first_master_port

        def promoted() -> RedisNode | None:
            ports = {self._master_port_by(s) for s in self.sentinels if s.alive}
            if len(ports) != 1:
                return None
            port = ports.pop()
            if port == old:
                return None
            node = self.node_by_port(port)
            if not node.alive or node.info("replication").get("role") != "master":
                return None
            return node

        return _wait_until(promoted, timeout, "the Sentinels promoting a new master")


# --------------------------------------------------------------------------- ACL


def acl_setuser(
    host: str,
    port: int,
    username: str,
    *rules: str,
    tls_ca: str | None = None,
    admin_user: str = "default",
    admin_password: str | None = None,
) -> None:
    """``ACL SETUSER username rules...`` on one server, as ``admin_user``.

    Example: ``acl_setuser(HOST, port, "sio", "on", ">secret", "resetchannels",
    "&socket.io*", "~*", "+@all")``.  Do not name ``client|setinfo`` in a rule: Redis 7.0
    does not know it and rejects the whole command.
    """
    admin_command(
        port,
        "ACL", "SETUSER", username, *rules,
        host=host,
        tls_ca=tls_ca,
        username=admin_user,
        password=admin_password,
    )


def _data_nodes(target: RedisCluster | RedisSentinelSet) -> list[RedisNode]:
    nodes = target.nodes if isinstance(target, RedisCluster) else target.data_nodes
    return [node for node in nodes if node.alive]


def apply_acl(target: RedisCluster | RedisSentinelSet, username: str, *rules: str) -> None:
    """:func:`acl_setuser` on every live data node (ACLs are per node, not replicated)."""
    for node in _data_nodes(target):
        node.command("ACL", "SETUSER", username, *rules)


def require_auth(
    target: RedisServer | RedisNode | RedisCluster | RedisSentinelSet,
    password: str = "adminpass",
) -> None:
    """Password-protect the ``default`` user (keeping all its rights).

    On a topology, the nodes' admin commands then authenticate with ``password`` (so the
    helpers keep working), replicas get ``masterauth`` and Sentinels ``auth-pass``.  A
    :class:`RedisServer` does not know the password: its ``ping``/``command`` get NOAUTH
    afterwards (its ``stop`` still works); pass ``admin_password`` to :func:`acl_setuser`.
    """
    rules = ("on", "resetpass", f">{password}", "~*", "&*", "+@all")
    if isinstance(target, RedisServer):
        admin_command(
            target.port, "ACL", "SETUSER", "default", *rules,
            tls_ca=target.tls_files.get("ca"),
        )
        return
    if isinstance(target, RedisNode):
        target.command("ACL", "SETUSER", "default", *rules)
        target.password = password
        return
    if isinstance(target, RedisSentinelSet):
        # first, so that no Sentinel sees NOAUTH replies (which it would count as down)
        for sentinel in target.sentinels:
            if sentinel.alive:
                sentinel.command("SENTINEL", "SET", target.service, "auth-pass", password)
    nodes = _data_nodes(target)
    for node in nodes:
        node.command("ACL", "SETUSER", "default", *rules)
        node.password = password
    for node in nodes:
        node.command("CONFIG", "SET", "masterauth", password)


def all_pids(*topologies: RedisCluster | RedisSentinelSet) -> list[int]:
    """PIDs of every live process of the given topologies (for leak checks)."""
    pids = []
    for topology in topologies:
        nodes: Iterator[RedisNode] = iter(
            topology.nodes
            if isinstance(topology, RedisCluster)
            else [*topology.data_nodes, *topology.sentinels]
        )
        pids += [node.pid for node in nodes if node.alive and node.pid is not None]
    return pids
