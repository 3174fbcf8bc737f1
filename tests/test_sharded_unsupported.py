"""The sharded flavour on a server without sharded pub/sub (Redis before 7.0): one clear
error, at once, naming the server's version and what the flavour needs; nothing retried.

Every run starts a Redis 6.2 of its own for the standalone tests
(``RedisServer(kind="redis-6.2")``), whatever the run's server: they are deselected only
where that binary is not installed (``scripts/servers.sh`` installs it).  The URL forms
are those a user passes: ``redis://`` and ``valkey://`` URLs, a URL with
``redis_options`` (which give the classic flavour redis-py connections) and a ready
``redis.asyncio.Redis``.  A run on Redis 6.2 also checks its Redis Cluster and its
Sentinel-watched master (``lacks_sharded_pubsub``).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any

import pytest
import redis.asyncio as aioredis
import socketio
from aiohttp import web

from socketio_redis_adapter import (
    AsyncShardedRedisAdapter,
    RedisRefusedError,
    UnsupportedServerError,
)
from socketio_redis_adapter.transport.errors import is_unknown_command, server_label
from tests.support.ports import free_port
from tests.support.redis_server import RedisServer
from tests.support.servers import server_version
from tests.support.sio_cluster import Client
from tests.support.topologies import RedisCluster, RedisSentinelSet, admin_command, parse_info

OLD = "redis-6.2"
#: how long any of these calls may take (one round trip and a HELLO, really)
BOUND = 2.0
#: what the message names: the server, the minimum, the way out
MINIMUM = "Redis 7.0 or later, or any Valkey version"


def _prefix() -> str:
    return f"old-{uuid.uuid4().hex[:8]}"


def _error_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if "has no sharded pub/sub" in record.getMessage()]


#: what a starting adapter may be refused first: its subscriber's SSUBSCRIBE and its
#: server count's PUBSUB SHARDNUMSUB go out together, on two connections
STARTING = ("SSUBSCRIBE", "PUBSUB SHARDNUMSUB")


def _check_error(error: BaseException, command: str | tuple[str, ...],
                 version: str | None = None) -> None:
    """``command``: the sharded command the server refused first (one of them, where
    two connections ask at once)."""
    version = version or server_version(OLD)
    assert isinstance(error, UnsupportedServerError), repr(error)
    assert isinstance(error, RedisRefusedError)  # emit raises it: no outage, nothing held
    assert error.command in ((command,) if isinstance(command, str) else command), error
    command = error.command
    assert error.server == f"Redis {version}"
    message = str(error)
    assert message.startswith(f"Redis {version} at 127.0.0.1:"), message
    assert f"({command} is an unknown command there)" in message
    assert MINIMUM in message
    assert "AsyncRedisAdapter (classic pub/sub)" in message


def _stats(port: int) -> dict[str, int]:
    """Redis' error replies and connections so far (asking opens one connection)."""
    fields = parse_info(admin_command(port, "INFO", "stats"))
    return {name: int(fields[name])
            for name in ("total_error_replies", "total_connections_received")}


#: the ways a user names the server
FORMS = ["redis-url", "valkey-url", "redis-options", "ready-client"]


def _adapter(form: str, server: RedisServer, prefix: str) -> tuple[Any, Any]:
    """The adapter for ``form``, and a ready client to close afterwards (or None)."""
    if form == "redis-url":
        return AsyncShardedRedisAdapter(server.url, channel_prefix=prefix), None
    if form == "valkey-url":
        url = server.url.replace("redis://", "valkey://", 1)
        return AsyncShardedRedisAdapter(url, channel_prefix=prefix), None
    if form == "redis-options":
        options = {"socket_connect_timeout": 3}
        return AsyncShardedRedisAdapter(server.url, channel_prefix=prefix,
                                        redis_options=options), None
    client = aioredis.Redis.from_url(server.url)
    return AsyncShardedRedisAdapter(client, channel_prefix=prefix), client


@pytest.mark.needs_server(OLD)
@pytest.mark.parametrize("form", FORMS)
async def test_start_raises_at_once_naming_the_version_and_nothing_is_retried(
    old_redis: RedisServer, form: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="socketio_redis_adapter")
    adapter, client = _adapter(form, old_redis, _prefix())
    socketio.AsyncServer(async_mode="aiohttp", client_manager=adapter, namespaces="*")
    try:
        began = time.monotonic()
        with pytest.raises(UnsupportedServerError) as raised:
            await asyncio.wait_for(adapter.start(), 10)
        assert time.monotonic() - began < BOUND
        _check_error(raised.value, STARTING)

        # the same error from every call that needs sharded pub/sub, at once
        for call in (lambda: adapter.emit("news", 1), adapter.server_count,
                     lambda: adapter.emit("news", 2, to="room"), adapter.start):
            began = time.monotonic()
            with pytest.raises(UnsupportedServerError) as again:
                await asyncio.wait_for(call(), 10)
            assert time.monotonic() - began < BOUND
            assert again.value is raised.value

        # nothing is sent to Redis again: no retry, no reconnect (one connection: ours)
        before = _stats(old_redis.port)
        await asyncio.sleep(1.5)  # past the subscriber's retries and the server counts
        after = _stats(old_redis.port)
        assert after["total_error_replies"] == before["total_error_replies"]
        assert after["total_connections_received"] == before["total_connections_received"] + 1

        # logged once, as an error, with the whole message
        records = _error_records(caplog)
        assert len(records) == 1, [record.getMessage() for record in records]
        assert records[0].levelno == logging.ERROR
        assert records[0].getMessage() == str(raised.value)
        assert not [record for record in caplog.records
                    if "not subscribed" in record.getMessage()
                    or "not confirmed yet" in record.getMessage()]
    finally:
        await adapter.close()
        if client is not None:
            await client.aclose()


@pytest.mark.needs_server(OLD)
@pytest.mark.parametrize("form", ["redis-url", "redis-options"])
async def test_the_first_emit_raises_when_start_was_never_called(
    old_redis: RedisServer, form: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A server built at import time (no event loop: python-socketio starts the adapter
    with its first client): the first broadcast, before any client, raises already."""
    caplog.set_level(logging.INFO, logger="socketio_redis_adapter")
    adapter, client = _adapter(form, old_redis, _prefix())
    sio = await asyncio.to_thread(socketio.AsyncServer, async_mode="aiohttp",
                                  client_manager=adapter)
    try:
        began = time.monotonic()
        with pytest.raises(UnsupportedServerError) as raised:
            await asyncio.wait_for(sio.emit("news", {"n": 1}), 10)
        assert time.monotonic() - began < BOUND
        _check_error(raised.value, "SPUBLISH")
        with pytest.raises(UnsupportedServerError) as again:
            await asyncio.wait_for(sio.emit("news", {"n": 2}), BOUND)
        assert again.value is raised.value
        assert len(_error_records(caplog)) == 1
        assert adapter.stats["publish_failures"] == 0  # raised, not counted as lost
    finally:
        await adapter.close()
        if client is not None:
            await client.aclose()


@pytest.mark.needs_server(OLD)
async def test_a_server_started_by_its_first_client_logs_once_and_emit_raises(
    old_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """python-socketio calls the manager's ``initialize()`` with its first client (here
    a real one, over a websocket): the refusal is logged then, once, and every emit
    raises it."""
    caplog.set_level(logging.INFO)
    adapter = AsyncShardedRedisAdapter(old_redis.url, channel_prefix=_prefix())
    sio = await asyncio.to_thread(socketio.AsyncServer, async_mode="aiohttp",
                                  client_manager=adapter, namespaces="*")
    app = web.Application()
    sio.attach(app)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    clients: list[Client] = []
    try:
        clients.append(await Client.connect(f"http://127.0.0.1:{port}",
                                            namespaces=("/", "/chat")))
        deadline = time.monotonic() + BOUND
        while adapter.connection.unsupported is None:
            assert time.monotonic() < deadline, "the refusal was not found"
            await asyncio.sleep(0.01)
        for namespace in ("/", "/chat"):
            with pytest.raises(UnsupportedServerError) as raised:
                await asyncio.wait_for(sio.emit("news", 1, namespace=namespace), BOUND)
            _check_error(raised.value, STARTING)
        with pytest.raises(UnsupportedServerError):
            await asyncio.wait_for(sio.emit("news", 1, to=clients[0].sid()), BOUND)
        records = _error_records(caplog)
        assert len(records) == 1, [record.getMessage() for record in records]
        assert records[0].name == "socketio_redis_adapter"
        assert not [record for record in caplog.records if "not subscribed" in record.getMessage()]
    finally:
        for client in clients:
            await client.close()
        await adapter.close()
        await sio.shutdown()
        await runner.cleanup()


# -- the run's own topologies, when its server lacks sharded pub/sub (Redis 6.2) ----------


async def _refused_at_start(url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="socketio_redis_adapter")
    adapter = AsyncShardedRedisAdapter(url, channel_prefix=_prefix())
    socketio.AsyncServer(async_mode="aiohttp", client_manager=adapter)
    try:
        began = time.monotonic()
        with pytest.raises(UnsupportedServerError) as raised:
            await asyncio.wait_for(adapter.start(), 10)
        assert time.monotonic() - began < BOUND
        _check_error(raised.value, STARTING, server_version())
        with pytest.raises(UnsupportedServerError):
            await asyncio.wait_for(adapter.emit("news", 1), BOUND)
        with pytest.raises(UnsupportedServerError):
            await asyncio.wait_for(adapter.server_count(), BOUND)
        assert len(_error_records(caplog)) == 1
    finally:
        await adapter.close()


@pytest.mark.lacks_sharded_pubsub
async def test_on_a_cluster_start_raises_at_once(
    redis_cluster: RedisCluster, caplog: pytest.LogCaptureFixture
) -> None:
    await _refused_at_start(redis_cluster.url, caplog)


@pytest.mark.lacks_sharded_pubsub
async def test_under_sentinel_start_raises_at_once(
    sentinel_set: RedisSentinelSet, caplog: pytest.LogCaptureFixture
) -> None:
    await _refused_at_start(sentinel_set.url, caplog)



# -- reading the replies -----------------------------------------------------------------


@pytest.mark.parametrize("reply", [
    "ERR unknown command `SSUBSCRIBE`, with args beginning with: `socket.io#/#`, ",  # 6.2
    "ERR unknown command 'SPUBLISH'",  # before 6.2
    "ERR Unknown subcommand or wrong number of arguments for 'shardnumsub'. Try PUBSUB HELP.",
    "ERR Unknown PUBSUB subcommand or wrong number of arguments for 'SHARDNUMSUB'",  # 5.0
    "ERR unknown subcommand 'shardnumsub'. Try PUBSUB HELP.",  # 7.0's wording
])
def test_unknown_command_in_every_wording(reply: str) -> None:
    assert is_unknown_command(reply)
    assert is_unknown_command(reply.encode())


@pytest.mark.parametrize("reply", [
    "NOPERM this user has no permissions to access one of the channels",
    "MOVED 1234 127.0.0.1:7001", "ERR wrong number of arguments for 'spublish' command",
    "LOADING Redis is loading the dataset in memory", "",
])
def test_other_errors_are_not_an_unknown_command(reply: str) -> None:
    assert not is_unknown_command(reply)


@pytest.mark.parametrize(("hello", "label"), [
    ([b"server", b"redis", b"version", b"6.2.14", b"proto", 2], "Redis 6.2.14"),
    ([b"server", b"valkey", b"version", b"9.1.2", b"proto", 2], "Valkey 9.1.2"),
    ({"server": "redis", "version": "7.0.15"}, "Redis 7.0.15"),
    ([b"server", b"keydb", b"version", b"6.3.4"], "keydb 6.3.4"),
    ([b"proto", 2], None), (b"OK", None), (None, None),
])
def test_the_server_label_from_hello(hello: Any, label: str | None) -> None:
    assert server_label(hello) == label


def test_the_error_without_a_version_and_pickled() -> None:
    import pickle  # noqa: PLC0415

    error = UnsupportedServerError(b"ssubscribe", "ERR unknown command", "127.0.0.1:6379")
    assert str(error).startswith("The Redis server at 127.0.0.1:6379 has no sharded pub/sub")
    assert MINIMUM in str(error)
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), str(copy), copy.server) == (UnsupportedServerError, str(error), None)
