"""Fixtures of the flavour tests: a rig per flavour and topology.

``rig`` runs a test for every flavour on a standalone Redis 7 and on a
3-master Redis Cluster; ``sharded_rig`` for every sharded mode on the
standalone server only (where one node shows every channel).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.flavours.rig import FLAVOURS, MODES, FlavourRig
from tests.support.redis_server import RedisServer
from tests.support.topologies import RedisCluster

TOPOLOGIES = ("standalone", "cluster")


@pytest.fixture(params=[(t, f) for t in TOPOLOGIES for f in FLAVOURS],
                ids=lambda param: f"{param[0]}-{param[1]}")
async def rig(request: pytest.FixtureRequest) -> AsyncIterator[FlavourRig]:
    topology, flavour = request.param
    if topology == "cluster":
        cluster: RedisCluster = request.getfixturevalue("redis_cluster")
        rig = FlavourRig(cluster.url, flavour)
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        rig = FlavourRig(server.url, flavour, admin_url=server.url)
    try:
        yield rig
    finally:
        await rig.aclose()


@pytest.fixture(params=MODES)
async def sharded_rig(request: pytest.FixtureRequest, redis_server: RedisServer
                      ) -> AsyncIterator[FlavourRig]:
    rig = FlavourRig(redis_server.url, request.param, admin_url=redis_server.url)
    try:
        yield rig
    finally:
        await rig.aclose()
