"""``table_sizes()``: every internal table grows with traffic and returns to its size after.

Two real servers of each flavour on a real redis-server, real clients:
pending requests, pending acks and python-socketio's callbacks are seen
while they wait and gone once answered or timed out; sockets, rooms,
delivery records and (dynamic sharded mode) room channels follow clients
in and out; after the clients leave, every table is back to its size
before them.
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from socketio_redis_adapter import (
    AsyncRedisAdapter,
    AsyncShardedRedisAdapter,
    RequestTimeoutError,
)
from tests.support.redis_server import RedisServer
from tests.support.sio_cluster import Client, PyServer

FLAVOURS = ("classic", "dynamic")

#: the keys both flavours report
COMMON_KEYS = {
    "callbacks", "callback_sids", "pending_connect", "pending_disconnect", "namespaces",
    "sockets", "eio_sids", "rooms", "sockets_in_rooms", "delivery_records",
    "background_tasks", "pending_requests", "pending_acks", "server_side_handlers",
    "channel_routes", "subscribed_namespaces", "channels", "subscribe_confirmations",
    "offline_queue", "paced_backlog", "direct_clients", "handshakes",
}
CLASSIC_KEYS = COMMON_KEYS | {"router_namespaces", "patterns"}
SHARDED_KEYS = COMMON_KEYS | {
    "room_channels", "placed_channels", "node_subscribers", "expected_replies",
    "publish_routes", "slot_cache", "one_room_endings", "own_endings", "plain_read_targets",
}
#: caches that may keep entries after the traffic (bounded, not state)
CACHES = {"one_room_endings", "own_endings", "plain_read_targets", "publish_routes",
          "slot_cache", "server_side_handlers"}


async def _servers(url: str, flavour: str, count: int) -> list[PyServer]:
    prefix = f"tbl-{uuid.uuid4().hex[:10]}"
    options: dict[str, Any] = {"requests_timeout": 1.0, "callback_timeout": 1.0}
    if flavour == "classic":
        options.update(adapter_class=AsyncRedisAdapter, key=prefix)
    else:
        options.update(adapter_class=AsyncShardedRedisAdapter, channel_prefix=prefix,
                       subscription_mode=flavour)
    servers = []
    for _ in range(count):
        servers.append(await PyServer.start(url, **options))
    return servers


@pytest.fixture(params=FLAVOURS)
async def pair(request: pytest.FixtureRequest, redis_server: RedisServer
               ) -> AsyncIterator[list[PyServer]]:
    servers = await _servers(redis_server.url, request.param, 2)
    try:
        yield servers
    finally:
        for server in servers:
            await server.stop()


async def _until(check: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    """Wait (bounded) until ``check()`` is true."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"not reached within {timeout} s: {what}")
        await asyncio.sleep(0.02)


def _state(sizes: dict[str, int]) -> dict[str, int]:
    return {name: value for name, value in sizes.items() if name not in CACHES}


def _back_to(server: PyServer, expected: dict[str, int]) -> bool:
    """True when each table of ``expected`` has its size on ``server``."""
    sizes = server.adapter.table_sizes()
    return all(sizes.get(name) == value for name, value in expected.items())


async def test_every_table_is_reported(pair: list[PyServer]) -> None:
    adapter = pair[0].adapter
    sizes = adapter.table_sizes()
    sharded = isinstance(adapter, AsyncShardedRedisAdapter)
    assert set(sizes) == (SHARDED_KEYS if sharded else CLASSIC_KEYS)
    assert all(isinstance(value, int) and value >= 0 for value in sizes.values())
    # one namespace ("/"), subscribed, nothing pending
    assert sizes["namespaces"] == 1 and sizes["subscribed_namespaces"] == 1
    assert sizes["sockets"] == sizes["rooms"] == sizes["pending_requests"] == 0
    if sharded:
        assert sizes["channels"] == sizes["placed_channels"] == 2  # main and response
    else:
        assert (sizes["channels"], sizes["patterns"]) == (3, 1)


async def test_tables_follow_clients_and_return_to_their_size(pair: list[PyServer]) -> None:
    here, there = pair
    sharded = isinstance(here.adapter, AsyncShardedRedisAdapter)
    before = [_state(server.adapter.table_sizes()) for server in pair]
    clients = [await Client.connect(here.url, rooms=["r1", "r2"]) for _ in range(3)]
    clients.append(await Client.connect(there.url, rooms=["r1"]))
    try:
        await here.adapter.emit("hello", 1)  # makes the delivery records
        await clients[0].wait_for("hello")
        await there.adapter.fetch_sockets("r1")  # makes the handshakes here
        sizes = here.adapter.table_sizes()
        assert sizes["handshakes"] == 3
        # (none when the run turned direct frames off: SOCKETIO_REDIS_ADAPTER_DIRECT_FRAMES=0)
        assert sizes["direct_clients"] == (3 if here.adapter.direct_frames_off is None else 0)
        assert sizes["sockets"] == sizes["eio_sids"] == 3
        assert sizes["rooms"] == 3 + 2  # three own rooms, r1, r2
        assert sizes["sockets_in_rooms"] == 3
        if here.adapter.table_sizes()["delivery_records"] == 0:
            # only the compiled core keeps records
            from socketio_redis_adapter import FASTPATH  # noqa: PLC0415
            assert not FASTPATH
        else:
            assert sizes["delivery_records"] == 3
        if sharded:  # dynamic mode: r1 and r2 have channels, sockets' own rooms do not
            await _until(lambda: here.adapter.table_sizes()["placed_channels"] == 4,
                         "room channels subscribed")
            assert sizes["room_channels"] == 2 and sizes["channel_routes"] == 4
        for client in clients:
            await client.close()
        for server, size in zip(pair, before, strict=True):
            await _until(functools.partial(_back_to, server, size),
                         f"{server.url}'s tables back to {size}")
    finally:
        for client in clients:
            await client.close()


async def test_pending_requests_while_a_server_side_call_waits(pair: list[PyServer]) -> None:
    here, there = pair
    release = asyncio.Event()

    @there.adapter.on_server_side_event("slow")
    async def slow(value: int) -> int:
        await release.wait()
        return value + 1

    call = asyncio.ensure_future(here.adapter.server_side_call("slow", 1))
    await _until(lambda: here.adapter.table_sizes()["pending_requests"] == 1,
                 "one request pending")
    await _until(lambda: there.adapter.table_sizes()["background_tasks"] >= 1,
                 "the handler running on the other server")
    release.set()
    assert await asyncio.wait_for(call, 5) == [2]
    assert here.adapter.table_sizes()["pending_requests"] == 0
    await _until(lambda: there.adapter.table_sizes()["background_tasks"] == 0,
                 "the other server's reply sent")
    # a request nobody answers in time is forgotten at the timeout
    release.clear()
    with pytest.raises(RequestTimeoutError):
        await here.adapter.server_side_call("slow", 2)
    assert here.adapter.table_sizes()["pending_requests"] == 0
    release.set()


async def test_acks_and_callbacks_while_clients_have_not_answered(pair: list[PyServer]) -> None:
    here, there = pair
    release = asyncio.Event()
    local = await Client.connect(here.url)
    remote = await Client.connect(there.url)

    async def late(*args: Any) -> str:
        await release.wait()
        return "late"

    local.sio.on("q", late)
    remote.sio.on("q", late)
    try:
        # a broadcast with acks to both servers' clients, which do not answer in time
        ack = asyncio.ensure_future(here.adapter.emit_with_ack("q", 1, timeout=1.0))
        await _until(lambda: here.adapter.table_sizes()["pending_acks"] == 1
                     and here.adapter.table_sizes()["callbacks"] == 1
                     and there.adapter.table_sizes()["callbacks"] == 1,
                     "the ack and both servers' callbacks pending")
        with pytest.raises(RequestTimeoutError):
            await asyncio.wait_for(ack, 5)
        assert here.adapter.table_sizes()["pending_acks"] == 0
        for server in pair:  # each server forgets its clients' callbacks at the timeout
            await _until(functools.partial(_back_to, server, {"callbacks": 0}),
                         f"{server.url}'s callbacks forgotten")

        # an emit with a callback to a socket on the other server, answered
        release.set()
        got: list[Any] = []
        await here.sio.emit("q", 2, to=remote.sid(), callback=got.append)
        assert here.adapter.table_sizes()["pending_acks"] == 1
        await _until(lambda: got == ["late"], "the callback called")
        assert here.adapter.table_sizes()["pending_acks"] == 0
        await _until(lambda: there.adapter.table_sizes()["callbacks"] == 0,
                     "the other server's callback used")

        # and one never answered: dropped at callback_timeout on both sides
        release.clear()
        await here.sio.emit("q", 3, to=remote.sid(), callback=got.append)
        assert here.adapter.table_sizes()["pending_acks"] == 1
        await _until(lambda: here.adapter.table_sizes()["pending_acks"] == 0
                     and there.adapter.table_sizes()["callbacks"] == 0,
                     "the unanswered callback dropped")
        assert got == ["late"]
    finally:
        release.set()
        await local.close()
        await remote.close()
