"""What the direct-frames tests share: the web servers, a server and a peer, the sources."""

from __future__ import annotations

import asyncio
import os
import uuid
from typing import Any

from tests.support.sio_cluster import PyServer

#: every web server direct frames know: aiohttp, and uvicorn with each websocket library
WEB_SERVERS = ["aiohttp", "uvicorn-websockets-sansio", "uvicorn-wsproto", "uvicorn-websockets"]

BLOB = os.urandom(3000)


async def server_and_peer(url: str, web_server: str, **options: Any
                          ) -> tuple[PyServer, PyServer]:
    """A server on ``web_server`` (with ``options``; direct frames on unless they say
    otherwise, whatever the environment) and an aiohttp peer, on one key."""
    options.setdefault("direct_frames", True)
    key = f"direct-{uuid.uuid4().hex[:8]}"
    server = await PyServer.start(url, key=key, web_server=web_server, **options)
    try:
        peer = await PyServer.start(url, key=key)
    except BaseException:
        await server.stop()
        raise
    return server, peer


async def wait_until(check: Any, what: str, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        assert loop.time() < deadline, f"not {what} within {timeout} s"
        await asyncio.sleep(0.02)


def room_eio_sids(server: PyServer, room: str) -> list[str]:
    return [eio_sid for _, eio_sid in server.adapter.get_participants("/", room)]


async def send_every_source(server: PyServer, peer: PyServer, room: str, count: int) -> None:
    """``count`` rounds of: a broadcast from ``peer`` (through Redis), a local emit, a
    packet put on each member's Engine.IO queue (``eio.send``), and every fifth round a
    local emit with a binary attachment; the loop yields now and then, so the writers
    run between some of them (direct writes and queued packets interleave)."""
    eio_sids = room_eio_sids(server, room)
    for n in range(count):
        await peer.sio.emit("remote", n, to=room)
        await server.sio.emit("local", n, to=room)
        for eio_sid in eio_sids:
            await server.sio.eio.send(eio_sid, f'2["queued",{n}]')
        if n % 5 == 0:
            await server.sio.emit("bin", {"n": n, "blob": BLOB}, to=room)
        if n % 3 == 0:
            await asyncio.sleep(0)
        if n % 20 == 0:
            await asyncio.sleep(0.002)


def expected_sequences(count: int) -> dict[str, list[int]]:
    return {"remote": list(range(count)), "local": list(range(count)),
            "queued": list(range(count)), "bin": list(range(0, count, 5))}


def sequences(named: Any) -> dict[str, list[int]]:
    """Each source's numbers, in the order they arrived (``named(event)`` gives the
    arrivals' argument lists); binary payloads checked whole."""
    got = {}
    for event in ("remote", "local", "queued"):
        got[event] = [args[0] for args in named(event)]
    bins = named("bin")
    assert all(args[0]["blob"] == BLOB for args in bins)
    got["bin"] = [args[0]["n"] for args in bins]
    return got
