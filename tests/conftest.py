"""Shared fixtures: a real redis-server per test session (and per test when asked), and
the multi-node topologies of :mod:`tests.support.topologies`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.redis_server import RedisServer
from tests.support.servers import SERVER, describe
from tests.support.topologies import RedisCluster, RedisSentinelSet


def pytest_report_header(config: pytest.Config) -> str:
    return describe()


#: marker -> whether this run's server has what the marked tests need
_SERVER_HAS = {
    "needs_sharded_pubsub": SERVER.sharded_pubsub,
    "needs_tls": SERVER.tls,
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect (not skip) the tests that need what this run's server lacks: they are
    neither run nor counted as passed, and the report's "deselected" count shows them."""
    lacking = {marker for marker, present in _SERVER_HAS.items() if not present}
    if not lacking:
        return
    kept, dropped = [], []
    for item in items:
        needs = {mark.name for mark in item.iter_markers()} & lacking
        (dropped if needs else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A redis-server shared by the whole session; tests use distinct keys."""
    server = RedisServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A redis-server for one test, which it may stop and restart."""
    server = RedisServer()
    server.start()
    yield server
    server.stop()


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
