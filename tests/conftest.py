"""Shared fixtures: a real redis-server per test session (and per test when asked), and
the multi-node topologies of :mod:`tests.support.topologies`."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.redis_server import RedisServer, running
from tests.support.servers import SERVER, describe, kind_binary
from tests.support.topologies import RedisCluster, RedisSentinelSet


def pytest_report_header(config: pytest.Config) -> str:
    return describe()


#: marker -> whether this run's server has what the marked tests need
_SERVER_HAS = {
    "needs_sharded_pubsub": SERVER.sharded_pubsub,
    "needs_tls": SERVER.tls,
    "needs_atomic_slot_migration": SERVER.atomic_slot_migration,
    # the other way round: the refusal of the sharded flavour on this run's topologies
    "lacks_sharded_pubsub": not SERVER.sharded_pubsub,
}

#: the values of a test parameter that name the sharded flavour (see below)
SHARDED_FLAVOURS = frozenset({
    "sharded", "static", "dynamic", "dynamic-private",
    "sharded-static", "sharded-dynamic", "sharded-dynamic-private",
})


def _names_sharded_flavour(value: Any) -> bool:
    if isinstance(value, str):
        return value in SHARDED_FLAVOURS
    if isinstance(value, (tuple, list)):
        return any(isinstance(part, str) and part in SHARDED_FLAVOURS for part in value)
    return False


def _mark_sharded_flavour(item: pytest.Item) -> None:
    """The rule: a test run with a parameter whose value names the sharded flavour is
    marked ``needs_sharded_pubsub``.

    Parameters are those of ``@pytest.mark.parametrize`` and those of parametrized
    fixtures (``@pytest.fixture(params=...)``), whatever their names.  A value names
    the sharded flavour when it is ``"sharded"``, a subscription mode (``"static"``,
    ``"dynamic"``, ``"dynamic-private"``), one of those behind ``"sharded-"``, or a
    tuple or list holding one of them (``("cluster", "dynamic")``).  So
    ``@pytest.mark.parametrize("flavour", ["classic", "sharded"])`` runs its classic
    case on every server and its sharded case where sharded pub/sub exists.  A test
    about the sharded flavour alone, without such a parameter, carries the marker
    itself (``@pytest.mark.needs_sharded_pubsub``, or the module's ``pytestmark``).
    """
    callspec = getattr(item, "callspec", None)
    if callspec is not None and any(map(_names_sharded_flavour, callspec.params.values())):
        item.add_marker(pytest.mark.needs_sharded_pubsub)


#: set to 1 (CI does), a test that needs a server kind not installed is an error, not
#: deselected
ENV_REQUIRE_SERVERS = "SOCKETIO_REDIS_ADAPTER_TEST_REQUIRE_SERVERS"


def _needs_missing_server(item: pytest.Item) -> bool:
    """``needs_server(kind)``: the test starts a server of that kind beside the run's
    (``RedisServer(kind=...)``); it is deselected where that binary is not installed
    (an error with ``SOCKETIO_REDIS_ADAPTER_TEST_REQUIRE_SERVERS=1``)."""
    missing = [mark.args[0] for mark in item.iter_markers("needs_server")
               if kind_binary(mark.args[0]) is None]
    if missing and os.environ.get(ENV_REQUIRE_SERVERS) == "1":
        raise pytest.UsageError(
            f"{item.nodeid} needs {', '.join(missing)}, which is not installed "
            f"({ENV_REQUIRE_SERVERS}=1): run `bash scripts/servers.sh`"
        )
    return bool(missing)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect (not skip) the tests that need what this run's server lacks: they are
    neither run nor counted as passed, and the report's "deselected" count shows them.

    First the rule of :func:`_mark_sharded_flavour` marks the sharded cases of the
    tests parametrized by flavour."""
    for item in items:
        _mark_sharded_flavour(item)
    lacking = {marker for marker, present in _SERVER_HAS.items() if not present}
    kept, dropped = [], []
    for item in items:
        needs = {mark.name for mark in item.iter_markers()} & lacking
        (dropped if needs or _needs_missing_server(item) else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A redis-server shared by the whole session; tests use distinct keys."""
    yield from running(RedisServer())


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A redis-server for one test, which it may stop and restart."""
    yield from running(RedisServer())


@pytest.fixture(scope="module")
def old_redis() -> Iterator[RedisServer]:
    """A Redis 6.2 server (no sharded pub/sub) beside the run's server, for one module:
    its tests carry ``needs_server("redis-6.2")``."""
    yield from running(RedisServer(kind="redis-6.2"))


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    return redis_server.url



@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisCluster]:
    """3 masters, no replicas, shared by the session: do not kill its nodes."""
    with RedisCluster(masters=3, replicas=0) as cluster:
        yield cluster


@pytest.fixture
def failover_cluster() -> Iterator[RedisCluster]:
    """3 masters with one replica each, for one test, which may kill nodes."""
    with RedisCluster(masters=3, replicas=1) as cluster:
        yield cluster


@pytest.fixture
def sentinel_set() -> Iterator[RedisSentinelSet]:
    """A master, one replica and 3 Sentinels (service ``mymaster``), for one test."""
    with RedisSentinelSet(service="mymaster", replicas=1, sentinels=3) as sentinels:
        yield sentinels


@pytest.fixture(scope="session")
def tls_cluster() -> Iterator[RedisCluster]:
    """3 masters listening with TLS only (CA in ``tls_cluster.ca_file``), shared."""
    with RedisCluster(masters=3, replicas=0, tls=True) as cluster:
        yield cluster
