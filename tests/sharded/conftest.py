"""Fixtures of the sharded flavour's tests on a standalone Redis 7."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.sharded.rig import MODES, ShardedRig
from tests.support.redis_server import RedisServer


@pytest.fixture(params=MODES)
async def rig(request: pytest.FixtureRequest, redis_server: RedisServer
              ) -> AsyncIterator[ShardedRig]:
    """A rig in each subscription mode, on the session's redis-server."""
    rig = ShardedRig(redis_server.url, request.param, admin_url=redis_server.url)
    try:
        yield rig
    finally:
        await rig.aclose()
