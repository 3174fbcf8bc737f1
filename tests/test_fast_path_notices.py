"""Saying when direct frames are off: one WARNING, at start, when the reason is not
the user's choice nor by design.

A library version direct frames do not know is made here by narrowing their
``KNOWN_VERSIONS`` table to a version that is not installed (what the adapter
decides from it is what is tested); then real servers start, clients connect
and broadcasts cross Redis: the ``socketio_redis_adapter`` logger gets exactly
one warning per manager, naming the reason, the versions known and how to
silence it; ``direct_frames=False`` and the environment switch log nothing,
an async mode without direct frames by design logs at INFO only.
"""

from __future__ import annotations

import asyncio
import logging
import types
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from socketio_redis_adapter import AsyncRedisAdapter
from socketio_redis_adapter.core.direct import async_writer, thread_writer
from socketio_redis_adapter.core.direct.reasons import Unsupported
from socketio_redis_adapter.manager.base import DIRECT_FRAMES_ENV
from tests.direct.rig import server_and_peer, wait_until
from tests.support.redis_server import RedisServer
from tests.support.sio_cluster import Client, PyServer
from tests.support.sync_server import SyncServer

LOGGER = "socketio_redis_adapter"


@pytest.fixture
def notices(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
            ) -> pytest.LogCaptureFixture:
    """The package logger's records, the environment's switch removed."""
    monkeypatch.delenv(DIRECT_FRAMES_ENV, raising=False)
    caplog.set_level(logging.INFO, logger=LOGGER)
    return caplog


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == LOGGER and r.levelno == logging.WARNING]


def _infos(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == LOGGER and r.levelno == logging.INFO]


@pytest.fixture
def async_versions(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, tuple[str, ...]]]:
    """The asyncio side's table of known versions, to narrow in a test."""
    async_writer._version_reason.cache_clear()
    yield async_writer.KNOWN_VERSIONS
    async_writer._version_reason.cache_clear()


def _unknown(monkeypatch: pytest.MonkeyPatch, table: dict[str, tuple[str, ...]],
             distribution: str) -> None:
    monkeypatch.setitem(table, distribution, ("0.0.",))


async def _traffic(server: PyServer, peer: PyServer, clients: int = 2, count: int = 5) -> None:
    """Clients connect to ``server`` and get broadcasts from ``peer`` and from it."""
    connected = [await Client.connect(server.url, rooms=["r"]) for _ in range(clients)]
    try:
        for n in range(count):
            await peer.sio.emit("remote", n, to="r")
            await server.sio.emit("local", n, to="r")
        for client in connected:
            await client.wait_for("remote", count)
            await client.wait_for("local", count)
    finally:
        for client in connected:
            await client.close()


async def test_an_unknown_aiohttp_warns_once_at_start(
    redis_server: RedisServer, notices: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch, async_versions: dict[str, tuple[str, ...]],
) -> None:
    """Two managers in this process (the server and its aiohttp peer): one warning
    each, as each starts, and none later."""
    _unknown(monkeypatch, async_versions, "aiohttp")
    server, peer = await server_and_peer(redis_server.url, "aiohttp")
    try:
        off = server.adapter.direct_frames_off
        assert off is not None and off.startswith("aiohttp ") and "(known: 0.0.x)" in off
        assert peer.adapter.direct_frames_off == off
        assert len(_warnings(notices)) == 2  # at start, before any client
        await _traffic(server, peer)
        warning, again = _warnings(notices)  # not per socket, not per emit
        assert warning == again
        assert f"direct websocket frames are off: {off}." in warning
        assert "Direct frames know python-engineio 4.15.x, aiohttp 0.0.x" in warning
        assert "pass direct_frames=False to the adapter" in warning
        assert server.adapter.stats["direct_frames"] == 0
    finally:
        await peer.stop()
        await server.stop()


async def test_an_unknown_python_engineio_warns_in_threading_mode(
    redis_server: RedisServer, notices: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _unknown(monkeypatch, thread_writer.KNOWN_VERSIONS, "python-engineio")
    key = f"notice-{uuid.uuid4().hex[:8]}"
    sync = await asyncio.to_thread(SyncServer.start, redis_server.url, key=key)
    peer = None
    clients: list[Client] = []
    try:
        off = sync.adapter.direct_frames_off
        assert off is not None and off.startswith("python-engineio ")
        peer = await PyServer.start(redis_server.url, key=key)
        clients = [await Client.connect(sync.url, rooms=["r"]) for _ in range(2)]
        for n in range(5):
            await peer.sio.emit("remote", n, to="r")
        for client in clients:
            await client.wait_for("remote", 5)
        [warning] = _warnings(notices)
        assert off in warning
        assert "Direct frames know python-engineio 0.0.x, simple-websocket 1.1.x" in warning
    finally:
        for client in clients:
            await client.close()
        if peer is not None:
            await peer.stop()
        await asyncio.to_thread(sync.stop)


async def test_an_unknown_uvicorn_warns_once_with_the_first_connection(
    redis_server: RedisServer, notices: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch, async_versions: dict[str, tuple[str, ...]],
) -> None:
    """Under ASGI the server is known only when a connection comes: the first one
    from uvicorn says it (once), and ``direct_frames_off`` follows."""
    _unknown(monkeypatch, async_versions, "uvicorn")
    server, peer = await server_and_peer(redis_server.url, "uvicorn-websockets-sansio")
    try:
        assert server.adapter.direct_frames_off is None
        assert _warnings(notices) == []
        await _traffic(server, peer, clients=3)
        [warning] = _warnings(notices)
        off = server.adapter.direct_frames_off
        assert off is not None and off.startswith("uvicorn ") and off in warning
        assert "uvicorn 0.0.x" in warning
        assert server.adapter.table_sizes()["direct_clients"] == 0
    finally:
        await peer.stop()
        await server.stop()


async def test_an_unknown_python_version_warns(
    redis_server: RedisServer, notices: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Past the Python versions whose asyncio.Queue the fast path knows (one warning
    per manager: the server and its peer)."""
    monkeypatch.setattr(async_writer, "KNOWN_PYTHON", ((3, 0), (3, 1)))
    server, peer = await server_and_peer(redis_server.url, "aiohttp")
    try:
        off = server.adapter.direct_frames_off
        assert off is not None and off.startswith("Python 3.") and "(known: 3.0-3.1)" in off
        warning, _ = _warnings(notices)
        assert off in warning and "on Python 3.0-3.1" in warning
    finally:
        await peer.stop()
        await server.stop()


@pytest.mark.parametrize("how", ["argument", "environment"])
async def test_turned_off_by_the_user_logs_nothing(
    redis_server: RedisServer, notices: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch, async_versions: dict[str, tuple[str, ...]], how: str,
) -> None:
    _unknown(monkeypatch, async_versions, "aiohttp")  # would warn if it were asked
    options: dict[str, Any] = {"key": f"notice-{uuid.uuid4().hex[:8]}"}
    if how == "argument":
        options["direct_frames"] = False
    else:
        monkeypatch.setenv(DIRECT_FRAMES_ENV, "0")
    server = await PyServer.start(redis_server.url, **options)
    try:
        assert server.adapter.direct_frames_off is not None
        assert "turned off" in server.adapter.direct_frames_off
        assert [r for r in notices.records if r.name == LOGGER] == []
    finally:
        await server.stop()


async def test_known_versions_log_nothing(
    redis_server: RedisServer, notices: pytest.LogCaptureFixture,
) -> None:
    server, peer = await server_and_peer(redis_server.url, "aiohttp")
    try:
        assert server.adapter.direct_frames_off is None
        await _traffic(server, peer, clients=1)
        await wait_until(lambda: server.adapter.stats["direct_frames"] > 0, "direct writes")
        assert [r for r in notices.records if r.name == LOGGER] == []
    finally:
        await peer.stop()
        await server.stop()


@pytest.mark.parametrize(
    ("check", "mode"),
    [(thread_writer.unsupported, "gevent"), (thread_writer.unsupported, "eventlet"),
     (async_writer.unsupported, "tornado"), (async_writer.unsupported, "sanic")],
)
def test_an_async_mode_without_direct_frames_is_by_design(check: Any, mode: str) -> None:
    stand_in = types.SimpleNamespace(eio=types.SimpleNamespace(async_mode=mode))
    found = check(stand_in)
    assert found is not None and not found.unexpected and repr(mode) in found.reason


def test_by_design_logs_at_info_and_unexpected_warns_once(
    notices: pytest.LogCaptureFixture,
) -> None:
    """The manager's decision, given what the check found."""
    manager = AsyncRedisAdapter("redis://127.0.0.1:1/0")
    by_design = Unsupported("async mode 'gevent' (only 'threading')", False)
    assert not manager._settle_direct_frames(lambda: by_design, "x 1.x")
    assert manager.direct_frames_off == by_design.reason
    assert _warnings(notices) == [] and _infos(notices) == [
        "direct websocket frames are off: async mode 'gevent' (only 'threading')"
    ]
    unexpected = Unsupported("x 2.0 (known: 1.x)", True)
    for _ in range(3):
        assert not manager._settle_direct_frames(lambda: unexpected, "x 1.x")
    [warning] = _warnings(notices)
    assert warning.startswith("direct websocket frames are off: x 2.0 (known: 1.x). ")
    assert manager._settle_direct_frames(lambda: None, "x 1.x")
    assert manager.direct_frames_off is None
