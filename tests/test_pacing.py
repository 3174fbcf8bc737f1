"""Pacing the local fan-out (``core/pacing.py``) on a real redis-server, real clients.

A burst of broadcasts read from Redis at once is handed on a bounded number
of deliveries per event-loop turn, in order; a backlog over its bound stops
the transport's reading until it drains; a subscriber paused on purpose is
not taken for a dead one; and while it is paused Redis' output-buffer limit
is the backstop.  Each runs on the three transports a running adapter can
have (classic on raw connections, classic on redis-py, sharded).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from typing import Any

import pytest
import redis

from socketio_redis_adapter import AsyncShardedRedisAdapter
from socketio_redis_adapter.core.pacing import FanoutPacer
from socketio_redis_adapter.core.stats import Counters
from socketio_redis_adapter.transport.factory import connect, connect_sharded
from tests.support.floods import flood_until_a_subscriber_drops
from tests.support.redis_server import RedisServer
from tests.support.sio_cluster import Client, PyServer, close_all, settle

RUNNING = ["classic", "classic-redispy", "sharded"]


def _transport(flavour: str, url: str, prefix: str) -> Any:
    if flavour == "classic":
        return connect(url, service=prefix)
    if flavour == "classic-redispy":
        return connect(url, service=prefix, socket_connect_timeout=5)
    return connect_sharded(url, service=prefix)


async def _server(flavour: str, url: str, prefix: str, transport: Any = None) -> PyServer:
    if flavour == "sharded":
        return await PyServer.start(url, adapter_class=AsyncShardedRedisAdapter,
                                    channel_prefix=prefix, subscription_mode="static",
                                    connection=transport)
    return await PyServer.start(url, key=prefix, connection=transport)


class TurnCounter:
    """Counts event-loop turns: a callback that schedules itself again each turn."""

    def __init__(self) -> None:
        self.turn = 0
        self._running = True
        asyncio.get_running_loop().call_soon(self._tick)

    def _tick(self) -> None:
        if self._running:
            self.turn += 1
            asyncio.get_running_loop().call_soon(self._tick)

    def stop(self) -> None:
        self._running = False


def _record_turns(pacer: FanoutPacer, turns: TurnCounter, seen: list[int]) -> None:
    """Record, per message the pacer hands on, the loop turn it was handed on in."""
    handler = pacer.handler

    def recording(pattern: bytes | None, channel: bytes, data: bytes, route: Any) -> None:
        seen.append(turns.turn)
        handler(pattern, channel, data, route)

    pacer.handler = recording


async def _wait_events(clients: list[Client], event: str, count: int, timeout: float) -> None:
    for client in clients:
        await client.wait_for(event, count, timeout=timeout)


async def _room_rig(flavour: str, url: str, count: int,
                    ) -> tuple[PyServer, PyServer, list[Client]]:
    """A receiver with ``count`` clients in room "big" and a sender, both subscribed."""
    prefix = f"pace-{uuid.uuid4().hex[:8]}"
    receiver = await _server(flavour, url, prefix)
    sender = await _server(flavour, url, prefix)
    clients: list[Client] = []
    try:
        for _ in range(count):
            clients.append(await Client.connect(receiver.url, rooms=["big"]))
        await sender.sio.emit("warm", 0, room="big")
        await _wait_events(clients, "warm", 1, 5)
    except BaseException:
        await close_all(clients, [receiver, sender])
        raise
    return receiver, sender, clients


@pytest.mark.parametrize("flavour", RUNNING)
async def test_a_burst_is_handed_on_a_bounded_amount_per_loop_turn_in_order(
    redis_server: RedisServer, flavour: str,
) -> None:
    receiver, sender, clients = await _room_rig(flavour, redis_server.url, 4)
    turns = TurnCounter()
    try:
        pacer = receiver.adapter.pacer
        # each message: 4 deliveries + 1, so at most 4 messages per turn
        pacer.turn_deliveries = 20
        seen: list[int] = []
        _record_turns(pacer, turns, seen)
        for seq in range(60):  # no await yields here: one write, one burst to the receiver
            await sender.sio.emit("burst", seq, room="big")
        await _wait_events(clients, "burst", 60, 10)
        for client in clients:
            assert [args[0] for args in client.named("burst")] == list(range(60))
        per_turn: dict[int, int] = {}
        for turn in seen:
            per_turn[turn] = per_turn.get(turn, 0) + 1
        # a turn as the counter sees it may straddle two loop iterations: at most 2 x 4
        assert max(per_turn.values()) <= 8, per_turn
        assert len(per_turn) >= 60 // 8, per_turn
        assert receiver.adapter.stats["paced"] > 0
        assert receiver.adapter.table_sizes()["paced_backlog"] == 0
    finally:
        turns.stop()
        await close_all(clients, [receiver, sender])


@pytest.mark.parametrize("flavour", RUNNING)
async def test_a_backlog_over_its_bound_pauses_reading_until_it_drains(
    redis_server: RedisServer, flavour: str,
) -> None:
    receiver, sender, clients = await _room_rig(flavour, redis_server.url, 2)
    try:
        pacer = receiver.adapter.pacer
        pacer.turn_deliveries = 6  # two messages per turn
        pacer.max_backlog_bytes = 4096
        transport = receiver.adapter.connection
        paused_seen: list[bool] = []
        switch = transport.pause_reading

        def pause_reading() -> None:
            paused_seen.append(True)
            switch()

        transport.pause_reading = pause_reading
        pad = "x" * 400
        for seq in range(100):
            await sender.sio.emit("burst", [seq, pad], room="big")
        await _wait_events(clients, "burst", 100, 20)
        for client in clients:
            assert [args[0][0] for args in client.named("burst")] == list(range(100))
        stats = receiver.adapter.stats
        assert paused_seen and stats["reading_pauses"] >= 1, stats
        assert not transport.reading_paused  # read again once drained
        assert stats["reconnects"] == 0, stats
        assert receiver.adapter.table_sizes()["paced_backlog"] == 0
    finally:
        await close_all(clients, [receiver, sender])


@pytest.mark.parametrize("flavour", RUNNING)
async def test_a_paused_subscriber_is_not_taken_for_a_dead_one(
    redis_server: RedisServer, flavour: str,
) -> None:
    prefix = f"pace-{uuid.uuid4().hex[:8]}"
    transport = _transport(flavour, redis_server.url, prefix)
    transport.idle_ping_interval = 0.2  # silence for 0.4 s would mean a dead connection
    receiver = await _server(flavour, redis_server.url, prefix, transport)
    sender = await _server(flavour, redis_server.url, prefix)
    clients: list[Client] = []
    try:
        clients.append(await Client.connect(receiver.url, rooms=["r"]))
        await sender.sio.emit("before", 0, room="r")
        await clients[0].wait_for("before")
        transport.pause_reading()
        for seq in range(3):
            await sender.sio.emit("held", seq, room="r")
        await settle(1.2)  # six idle intervals, unread
        # redis-py finishes the read it was waiting in when paused (from within a handler,
        # as the pacer pauses, there is none): at most one message
        read_anyway = 1 if flavour == "classic-redispy" else 0
        assert len(clients[0].named("held")) <= read_anyway
        transport.resume_reading()
        await clients[0].wait_for("held", 3)
        await sender.sio.emit("after", 2, room="r")
        await clients[0].wait_for("after")
        assert receiver.adapter.stats["reconnects"] == 0, receiver.adapter.stats
    finally:
        await close_all(clients, [receiver, sender])


@pytest.mark.parametrize("flavour", RUNNING)
async def test_while_reading_is_paused_redis_output_buffer_limit_is_the_backstop(
    own_redis: RedisServer, caplog: pytest.LogCaptureFixture, flavour: str,
) -> None:
    admin = redis.Redis(port=own_redis.port, socket_timeout=5)
    admin.config_set("client-output-buffer-limit", "pubsub 256kb 0 0")
    caplog.set_level(logging.WARNING, logger="socketio_redis_adapter")
    prefix = f"pace-{uuid.uuid4().hex[:8]}"
    receiver = await _server(flavour, own_redis.url, prefix)
    sender = await _server(flavour, own_redis.url, prefix)
    clients: list[Client] = []
    try:
        clients.append(await Client.connect(receiver.url, rooms=["r"]))
        await sender.sio.emit("before", 0, room="r")
        await clients[0].wait_for("before")
        transport = receiver.adapter.connection
        transport.pause_reading()
        channel, message = receiver.adapter.codec.encode_broadcast(
            "/", ["flood", b"\x00" * 8192], ["nobody"], [], {}
        )
        command = "SPUBLISH" if flavour == "sharded" else "PUBLISH"
        result: dict[str, int] = {}
        flooder = threading.Thread(
            target=flood_until_a_subscriber_drops,
            args=(own_redis.port, command, channel, message, time.monotonic() + 20, result),
        )
        flooder.start()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while flooder.is_alive() and loop.time() < deadline:
            await asyncio.sleep(0.05)  # the loop runs: only the paused reading holds back
        flooder.join(1)
        assert not flooder.is_alive()
        assert result["dropped"] >= 1, result  # Redis dropped the unread subscriber
        # unread, the drop is only seen once reading resumes: then it is reported, and the
        # subscriber comes back
        transport.resume_reading()
        deadline = loop.time() + 10
        while receiver.adapter.stats["closed_by_redis"] < 1:
            assert loop.time() < deadline, receiver.adapter.stats
            await asyncio.sleep(0.05)
        await sender.sio.emit("after", 1, room="r")
        await clients[0].wait_for("after", timeout=10)
        warnings = [record.getMessage() for record in caplog.records]
        assert any("Redis closed the subscriber connection" in text
                   and "'client-output-buffer-limit pubsub'" in text for text in warnings), warnings
    finally:
        await close_all(clients, [receiver, sender])
        admin.close()


# -- the pacer alone (no Redis: what it does with its handler's outcomes) -----------------


class _Switches:
    """Records the pacer's calls to a transport's reading switches."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def pause_reading(self) -> None:
        self.calls.append("pause")

    def resume_reading(self) -> None:
        self.calls.append("resume")


def _pacer(handler: Any, counters: Counters, switches: _Switches) -> FanoutPacer:
    logger = logging.getLogger("socketio_redis_adapter")
    return FanoutPacer(handler, counters, switches, lambda: logger)


async def test_a_failing_message_from_the_backlog_is_logged_and_the_rest_handed_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    counters = Counters()
    handed: list[bytes] = []

    def handler(pattern: bytes | None, channel: bytes, data: bytes, route: Any) -> None:
        if data == b"bad":
            raise ValueError("bad message")
        handed.append(data)
        counters.delivered += 10

    pacer = _pacer(handler, counters, _Switches())
    pacer.turn_deliveries = 11
    for data in (b"1", b"2", b"bad", b"3"):
        pacer.on_message(None, b"ch", data, None)
    assert handed == [b"1"]  # 11 spent: the rest wait for the next turn
    for _ in range(10):
        await asyncio.sleep(0)
    assert handed == [b"1", b"2", b"3"]
    assert pacer.stats()["pacing_handler_errors"] == 1
    assert pacer.stats()["paced"] == 3
    assert any("error while handling a Redis message" in r.getMessage() for r in caplog.records)


async def test_close_drops_the_backlog_and_lets_the_transport_read_again() -> None:
    counters = Counters()
    switches = _Switches()

    def handler(pattern: bytes | None, channel: bytes, data: bytes, route: Any) -> None:
        counters.delivered += 100

    pacer = _pacer(handler, counters, switches)
    pacer.turn_deliveries = 1
    pacer.max_backlog_bytes = 10
    for _ in range(5):
        pacer.on_message(None, b"ch", b"0123456789", None)
    assert switches.calls == ["pause"]
    assert pacer.table_sizes()["paced_backlog"] == 4
    pacer.close()
    assert switches.calls == ["pause", "resume"]
    assert pacer.table_sizes()["paced_backlog"] == 0
    pacer.on_message(None, b"ch", b"late", None)  # after close: nothing is kept
    assert pacer.table_sizes()["paced_backlog"] == 0
    await asyncio.sleep(0)
