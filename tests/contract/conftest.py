"""Fixtures of the contract tests: mixed clusters, built fresh per test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.contract.rig import (
    JOIN_ROOMS,
    NO_ROOMS,
    Cluster,
    ClusterFactory,
    build_cluster,
    tear_down,
)
from tests.support.redis_server import RedisServer


@pytest.fixture
async def make_cluster(redis_server: RedisServer) -> AsyncIterator[ClusterFactory]:
    """Build clusters on a fresh key; everything is stopped at teardown."""
    built: list[Cluster] = []

    async def make(**options: Any) -> Cluster:
        return await build_cluster(redis_server.url, built, **options)

    yield make
    await tear_down(built)


@pytest.fixture
async def cluster(make_cluster: ClusterFactory) -> Cluster:
    return await make_cluster()


@pytest.fixture
async def join_cluster(make_cluster: ClusterFactory) -> Cluster:
    return await make_cluster(rooms=JOIN_ROOMS, namespaces=("/",))


@pytest.fixture
async def bare_cluster(make_cluster: ClusterFactory) -> Cluster:
    return await make_cluster(rooms=NO_ROOMS, namespaces=("/",))
