"""The ``rig`` fixture of the manager API tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.manager.rig import Rig
from tests.support.redis_server import RedisServer


@pytest.fixture
async def rig(redis_server: RedisServer) -> AsyncIterator[Rig]:
    rig = Rig(redis_server.url)
    try:
        yield rig
    finally:
        await rig.aclose()
