"""What the adapter reads from ``INFO stats`` after Redis closed a subscriber connection, per
server: Redis 6.2 (started by every run, whatever its own server) has no count of
output-buffer-limit disconnections, under any name; the run's own server may have one
(Valkey 9 does, Debian's Redis 7.0 does not).

Where the count exists, a connection closed by ``CLIENT KILL`` is reported as "not Redis'
setting" and not counted as a slow consumer; where it does not, the warning names the
setting as the likely cause, and the server is asked ``INFO`` once, not at every new
connection.  (``tests/test_refusals.py`` floods a real subscriber past the limit on the
run's server: "confirmed" where the count exists.)
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import pytest

from tests.support.redis_server import RedisServer
from tests.support.sio_cluster import Client, PyServer, close_all
from tests.support.topologies import admin_command, parse_info

#: classic on raw connections, classic on redis-py connections, sharded (raw, per node)
FLAVOURS = ["classic", "classic-redispy", "sharded"]
COUNT = "client_output_buffer_limit_disconnections"


async def _server(flavour: str, url: str) -> PyServer:
    prefix = f"info-{uuid.uuid4().hex[:8]}"
    if flavour == "classic":
        return await PyServer.start(url, key=prefix)
    if flavour == "classic-redispy":
        return await PyServer.start(url, key=prefix, redis_options={"socket_connect_timeout": 5})
    from socketio_redis_adapter import AsyncShardedRedisAdapter  # noqa: PLC0415

    return await PyServer.start(url, adapter_class=AsyncShardedRedisAdapter,
                                channel_prefix=prefix, subscription_mode="static")


def _info_calls(port: int) -> int:
    """``INFO`` commands the server ran before this one."""
    stats = parse_info(admin_command(port, "INFO", "commandstats"))
    calls = stats.get("cmdstat_info", "calls=0").split(",")[0]
    return int(calls.removeprefix("calls="))


async def _until(predicate: Any, what: str, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, what
        await asyncio.sleep(0.02)


async def _kill_and_report(server: PyServer, port: int, times: int,
                           caplog: pytest.LogCaptureFixture) -> list[str]:
    """``CLIENT KILL TYPE pubsub`` ``times`` times, each once the adapter subscribed again;
    the adapter's warnings about it."""
    adapter = server.adapter
    for round_ in range(1, times + 1):
        await _until(lambda: adapter.connection.connected, "not subscribed")
        await asyncio.sleep(0.2)  # the new connection's sample of INFO is taken
        assert int(admin_command(port, "CLIENT", "KILL", "TYPE", "pubsub")) == 1
        await _until(lambda r=round_: adapter.stats["closed_by_redis"] >= r,
                     f"closed_by_redis stayed below {round_}")
    await _until(lambda: adapter.connection.connected, "not subscribed")
    return [record.getMessage() for record in caplog.records
            if "(reconnected and subscribed again at once" in record.getMessage()]


@pytest.mark.needs_server("redis-6.2")
@pytest.mark.parametrize("flavour", ["classic", "classic-redispy"])
async def test_redis_6_2_has_no_count_the_likely_cause_is_named_and_info_asked_once(
    old_redis: RedisServer, flavour: str, caplog: pytest.LogCaptureFixture
) -> None:
    assert COUNT not in parse_info(admin_command(old_redis.port, "INFO", "everything"))
    caplog.set_level(logging.WARNING, logger="socketio_redis_adapter")
    before = _info_calls(old_redis.port)
    server = await _server(flavour, old_redis.url)
    clients: list[Client] = []
    try:
        clients.append(await Client.connect(server.url))
        warnings = await _kill_and_report(server, old_redis.port, 3, caplog)
        # asked at the first subscriber connection only, not after each of the 3 kills
        # (the other call is ``before``'s own)
        assert _info_calls(old_redis.port) - before == 1 + 1
        assert len(warnings) == 3, warnings
        assert all("the likely cause is a slow consumer" in message for message in warnings)
        assert server.adapter.stats["slow_consumer_disconnects"] == 3
        await server.sio.emit("after", 1)
        await clients[0].wait_for("after")
    finally:
        await close_all(clients, [server])


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_on_the_runs_server_the_report_follows_what_info_has(
    own_redis: RedisServer, flavour: str, caplog: pytest.LogCaptureFixture
) -> None:
    counts = COUNT in parse_info(admin_command(own_redis.port, "INFO", "stats"))
    caplog.set_level(logging.WARNING, logger="socketio_redis_adapter")
    server = await _server(flavour, own_redis.url)
    clients: list[Client] = []
    try:
        clients.append(await Client.connect(server.url))
        warnings = await _kill_and_report(server, own_redis.port, 2, caplog)
        assert len(warnings) == 2, warnings
        stats = server.adapter.stats
        if counts:  # asked before and after: CLIENT KILL is not the limit
            assert all("not Redis' 'client-output-buffer-limit pubsub' setting" in message
                       for message in warnings), warnings
            assert stats["slow_consumer_disconnects"] == 0, stats
        else:
            assert all("the likely cause is a slow consumer" in message
                       for message in warnings), warnings
            assert stats["slow_consumer_disconnects"] == 2, stats
    finally:
        await close_all(clients, [server])
