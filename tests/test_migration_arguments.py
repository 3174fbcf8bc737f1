"""python-socketio's manager arguments that the adapters do not take, and what replaces them.

``AsyncRedisManager(url, channel=..., write_only=...)`` / ``RedisManager(...)``:
``channel`` and ``write_only`` raise ``TypeError`` saying what to use instead
(nothing is connected first); then what the messages advise is checked to
work against a real Redis: ``key`` with an emitter for a classic cluster, a
server that serves no clients for a sharded one.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import socketio

from socketio_redis_adapter import (
    AsyncRedisAdapter,
    AsyncShardedRedisAdapter,
    Emitter,
    RedisAdapter,
)
from tests.support.redis_server import RedisServer
from tests.support.sio_cluster import Client, PyServer

URL = "redis://127.0.0.1:1/0"  # never connected: the arguments are refused first

EMITTERS = ("use socketio_redis_adapter.Emitter (asyncio) or SyncEmitter to emit from a "
            "process that is not a Socket.IO server")
CLASSIC = [(AsyncRedisAdapter, "key"), (RedisAdapter, "key")]
EVERY = [*CLASSIC, (AsyncShardedRedisAdapter, "channel_prefix")]


@pytest.mark.parametrize(("cls", "prefix"), EVERY)
def test_channel_says_to_use_the_prefix_argument(cls: type[Any], prefix: str) -> None:
    with pytest.raises(TypeError) as caught:
        cls(URL, channel="myapp")
    assert str(caught.value) == (
        f"{cls.__name__}() takes no 'channel' argument: use {prefix}=... (the channel "
        f"prefix; all servers of one app must use the same {prefix})"
    )


@pytest.mark.parametrize("value", [True, False])
@pytest.mark.parametrize(("cls", "prefix"), CLASSIC)
def test_write_only_says_to_use_an_emitter(cls: type[Any], prefix: str, value: bool) -> None:
    with pytest.raises(TypeError) as caught:
        cls(URL, write_only=value)
    assert str(caught.value) == (
        f"{cls.__name__}() takes no 'write_only' argument (every manager is a full member "
        f"of the cluster): {EMITTERS}"
    )


def test_write_only_on_the_sharded_adapter_says_what_serves_it() -> None:
    with pytest.raises(TypeError, match="takes no 'write_only' argument") as caught:
        AsyncShardedRedisAdapter(URL, write_only=True)
    message = str(caught.value)
    assert "the emitters speak the classic protocol, not the sharded one" in message
    assert "socketio.AsyncServer that serves no clients, await its start()" in message


@pytest.mark.parametrize(("cls", "prefix"), EVERY)
def test_the_channel_is_named_first_and_others_are_plain_type_errors(
    cls: type[Any], prefix: str,
) -> None:
    with pytest.raises(TypeError, match=f"use {prefix}="):
        cls(URL, channel="c", write_only=False)  # python-socketio's usual call
    with pytest.raises(TypeError) as caught:
        cls(URL, chanel="c")
    assert str(caught.value) == f"{cls.__name__}() got an unexpected keyword argument 'chanel'"


async def test_an_emitter_with_the_key_replaces_a_write_only_manager(
    redis_server: RedisServer,
) -> None:
    """What was ``AsyncRedisManager(url, channel=c, write_only=True)``."""
    key = f"migrated-{uuid.uuid4().hex[:8]}"
    server = await PyServer.start(redis_server.url, key=key)
    client = None
    try:
        client = await Client.connect(server.url)
        async with Emitter(redis_server.url, key=key) as emitter:
            await emitter.emit("from-worker", 1)
        assert await client.wait_for("from-worker") == [[1]]
    finally:
        if client is not None:
            await client.close()
        await server.stop()


@pytest.mark.needs_sharded_pubsub
async def test_a_server_without_clients_emits_to_a_sharded_cluster(
    redis_server: RedisServer,
) -> None:
    """What the sharded adapter's message advises for a process that only emits."""
    prefix = f"migrated-sharded-{uuid.uuid4().hex[:8]}"
    server = await PyServer.start(
        redis_server.url, adapter_class=AsyncShardedRedisAdapter, channel_prefix=prefix,
    )
    emit_only = AsyncShardedRedisAdapter(redis_server.url, channel_prefix=prefix)
    sio = socketio.AsyncServer(client_manager=emit_only)
    client = None
    try:
        await emit_only.start()
        client = await Client.connect(server.url, rooms=["r"])
        await sio.emit("from-worker", {"n": 2}, to="r")
        assert await client.wait_for("from-worker") == [[{"n": 2}]]
    finally:
        if client is not None:
            await client.close()
        await emit_only.close()
        await server.stop()
