"""Platform guards: what is Unix-only is off, with its reason, where the platform lacks it.

Direct frames in threading mode write with ``socket.MSG_DONTWAIT``, which
Windows lacks: the guard is a function of the ``socket`` module, tested here
with a stand-in module without it (this machine has it), then with a real
server whose ``direct_frames_off`` carries the reason and whose clients get
every broadcast through their queues.  (``unix://`` URLs on a platform
without Unix domain sockets: tests/test_url_schemes.py.)
"""

from __future__ import annotations

import asyncio
import logging
import socket
import types
import uuid

import pytest
import socketio

from socketio_redis_adapter.core.direct import thread_writer
from socketio_redis_adapter.core.direct.thread_writer import platform_reason, unsupported
from socketio_redis_adapter.manager.base import DIRECT_FRAMES_ENV
from tests.support.redis_server import RedisServer
from tests.support.sio_cluster import Client, PyServer
from tests.support.sync_server import SyncServer

WINDOWS_REASON = "socket.MSG_DONTWAIT is not available on this platform (win32)"


def _socket_without_dontwait() -> types.ModuleType:
    """A stand-in ``socket`` module as Windows has it: everything but MSG_DONTWAIT."""
    stand_in = types.ModuleType("socket")
    for name in dir(socket):
        if name != "MSG_DONTWAIT" and not name.startswith("__"):
            setattr(stand_in, name, getattr(socket, name))
    return stand_in


def test_the_guard_names_the_missing_flag_and_the_platform() -> None:
    assert platform_reason(_socket_without_dontwait(), "win32") == WINDOWS_REASON
    assert platform_reason(socket, "linux") is None


@pytest.mark.skipif(not hasattr(socket, "MSG_DONTWAIT"), reason="this platform lacks it")
def test_this_platform_has_what_direct_frames_need() -> None:
    assert platform_reason() is None


def test_a_threading_server_without_dontwait_is_unsupported_with_a_warning() -> None:
    server = socketio.Server(async_mode="threading")
    found = unsupported(server, _socket_without_dontwait())
    assert found is not None and found.unexpected
    assert found.reason.startswith("socket.MSG_DONTWAIT is not available on this platform (")
    assert unsupported(server) is None  # the installed versions are known here


async def test_the_reason_lands_in_direct_frames_off(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    """A real threading server on a ``socket`` module without MSG_DONTWAIT: direct
    frames off with the reason, one warning, and broadcasts still reach the client."""
    monkeypatch.delenv(DIRECT_FRAMES_ENV, raising=False)
    monkeypatch.setattr(thread_writer, "socket_module", _socket_without_dontwait())
    caplog.set_level(logging.INFO, logger="socketio_redis_adapter")
    key = f"platform-{uuid.uuid4().hex[:8]}"
    sync = await asyncio.to_thread(SyncServer.start, redis_server.url, key=key)
    peer = None
    client = None
    try:
        off = sync.adapter.direct_frames_off
        assert off == platform_reason(_socket_without_dontwait()), off
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING
                    and r.name == "socketio_redis_adapter"]
        assert len(warnings) == 1 and off in warnings[0].getMessage()
        peer = await PyServer.start(redis_server.url, key=key)
        client = await Client.connect(sync.url, rooms=["r"])
        for n in range(10):
            await peer.sio.emit("remote", n, to="r")
        assert [args[0] for args in await client.wait_for("remote", 10)] == list(range(10))
        assert sync.adapter.stats["direct_frames"] == 0
        assert sync.adapter.table_sizes()["direct_clients"] == 0
    finally:
        if client is not None:
            await client.close()
        if peer is not None:
            await peer.stop()
        await asyncio.to_thread(sync.stop)

