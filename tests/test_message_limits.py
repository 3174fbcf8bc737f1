"""Hostile input through a real redis-server: the message size limit and malformed payloads.

``max_message_size`` drops an incoming message larger than the limit (the
raw transports skip it unread; redis-py has read it first), counts it in
``stats["oversized"]`` and logs it with its channel; the listener stays up
and the next emit arrives.  Deep nesting, 4 GB length headers and truncated
messages on every channel of both flavours, with both classic parsers, are
counted as malformed and never stop the listener.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import tracemalloc
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import redis.asyncio as aioredis

from socketio_redis_adapter import AsyncRedisAdapter, AsyncShardedRedisAdapter, RedisPubSub
from socketio_redis_adapter.transport.limits import DEFAULT_MAX_MESSAGE_SIZE
from socketio_redis_adapter.transport.raw import RawPubSub
from tests.support.redis_server import RedisServer
from tests.support.sio_cluster import Client, PyServer, close_all

KiB, MiB = 1 << 10, 1 << 20
DEEP = 200_000

CONNECTIONS: dict[str, Callable[[str], Any]] = {
    "raw": lambda url: RawPubSub(url),
    "redis-py": lambda url: RedisPubSub.from_url(url),
}


def _classic_channels(adapter: Any) -> list[bytes]:
    channels = adapter.channels
    return [
        channels.broadcast("/"),
        channels.room("/", "r"),
        channels.request("/"),
        channels.response("/"),
        channels.specific_response("/", adapter.uid),
    ]


def _sharded_channels(adapter: Any) -> list[bytes]:
    return [adapter.channels.main("/"), adapter.channels.response("/", adapter.uid)]


async def _start_pair(url: str, flavour: str, **options: Any) -> tuple[list[PyServer], Any]:
    prefix = f"limits-{uuid.uuid4().hex[:8]}"
    if flavour == "sharded":
        options = {"adapter_class": AsyncShardedRedisAdapter, "channel_prefix": prefix,
                   "subscription_mode": "static", **options}
    else:
        options = {"key": prefix, **options}
    servers: list[PyServer] = []
    for _ in range(2):
        extra = dict(options)
        if "connection" in extra:
            extra["connection"] = extra["connection"](url)
        servers.append(await PyServer.start(url, **extra))
    return servers, servers[1].adapter


async def _publish_all(url: str, command: str, channels: list[bytes], payloads: list[bytes]
                       ) -> None:
    publisher = aioredis.Redis.from_url(url)
    try:
        for channel in channels:
            for payload in payloads:
                await publisher.execute_command(command, channel, payload)
    finally:
        await publisher.aclose()


async def _emit_arrives(servers: list[PyServer], client: Client, event: str) -> None:
    await servers[0].sio.emit(event, {"n": 1})
    assert await client.wait_for(event, timeout=10) == [[{"n": 1}]]


def test_the_default_limit_and_its_checks() -> None:
    assert DEFAULT_MAX_MESSAGE_SIZE == 32 * MiB
    assert AsyncRedisAdapter(connection=RawPubSub("redis://127.0.0.1:1/0")) \
        .connection.max_message_size == 32 * MiB  # type: ignore[attr-defined]
    for bad in (-1, 1.5, True, "1"):
        with pytest.raises(ValueError, match="max_message_size"):
            AsyncRedisAdapter("redis://127.0.0.1:1/0", max_message_size=bad)  # type: ignore[arg-type]
    adapter = AsyncShardedRedisAdapter("redis://127.0.0.1:1/0", max_message_size=None)
    assert adapter.connection.max_message_size is None  # type: ignore[attr-defined]


@pytest.mark.parametrize("kind", list(CONNECTIONS))
async def test_oversized_messages_on_every_classic_channel_are_dropped(
    redis_server: RedisServer, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    servers, adapter = await _start_pair(redis_server.url, "classic",
                                         connection=CONNECTIONS[kind],
                                         max_message_size=64 * KiB)
    clients = [await Client.connect(server.url, rooms=["r"]) for server in servers]
    try:
        assert adapter.connection.max_message_size == 64 * KiB
        channels = _classic_channels(adapter)
        with caplog.at_level(logging.WARNING, logger="socketio_redis_adapter"):
            await _publish_all(redis_server.url, "PUBLISH", channels, [b"\x93" + b"x" * MiB])
            # an emit of 32 KiB fits: it arrives, and so does the next one
            await servers[0].sio.emit("fits", "y" * (32 * KiB))
            assert await clients[1].wait_for("fits", timeout=10) == [["y" * (32 * KiB)]]
            await _emit_arrives(servers, clients[1], "after")
        assert adapter.stats["oversized"] == len(channels)
        assert adapter.stats["malformed"] == 0
        logged = [r.getMessage() for r in caplog.records if "max_message_size" in r.getMessage()]
        for channel in channels:
            assert any(channel.decode() in text for text in logged), (channel, logged)
    finally:
        await close_all(clients, servers)


@pytest.mark.needs_sharded_pubsub
async def test_oversized_messages_on_sharded_channels_are_dropped(
    redis_server: RedisServer,
) -> None:
    servers, adapter = await _start_pair(redis_server.url, "sharded", max_message_size=64 * KiB)
    clients = [await Client.connect(server.url) for server in servers]
    try:
        channels = _sharded_channels(adapter)
        await _publish_all(redis_server.url, "SPUBLISH", channels, [b"{" + b" " * MiB + b"}"])
        await _emit_arrives(servers, clients[1], "after")
        assert adapter.stats["oversized"] == len(channels)
    finally:
        await close_all(clients, servers)


def _publish_streaming(port: int, channel: bytes, size: int) -> None:
    """PUBLISH ``size`` zero bytes without ever holding them (one 1 MiB block, resent)."""
    block = bytes(MiB)
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(b"*3\r\n$7\r\nPUBLISH\r\n$%d\r\n%s\r\n$%d\r\n" % (len(channel), channel, size))
        for _ in range(size // MiB):
            sock.sendall(block)
        sock.sendall(b"\r\n")
        reply = sock.recv(64)
        assert reply.startswith(b":"), reply


async def test_an_oversized_message_is_never_held_by_the_raw_transport(
    own_redis: RedisServer,
) -> None:
    """48 MiB published (Redis' pubsub output limit lifted so it is delivered): each
    server skips it as it streams in; the Python memory of this process (both servers)
    peaks far below the message."""
    control = aioredis.Redis.from_url(own_redis.url)
    try:
        await control.config_set("client-output-buffer-limit", "pubsub 0 0 0")
    finally:
        await control.aclose()
    servers, adapter = await _start_pair(own_redis.url, "classic", max_message_size=MiB)
    clients = [await Client.connect(server.url) for server in servers]
    try:
        tracemalloc.start()
        try:
            await asyncio.to_thread(
                _publish_streaming, own_redis.port, adapter.channels.broadcast("/"), 48 * MiB
            )
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 30
            while adapter.stats["oversized"] < 1 or servers[0].adapter.stats["oversized"] < 1:
                assert loop.time() < deadline, "the message never came through"
                await asyncio.sleep(0.05)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < 8 * MiB, f"peak {peak / MiB:.1f} MiB for a 48 MiB message"
        await _emit_arrives(servers, clients[1], "after")
        assert adapter.connection.reconnects == 0
    finally:
        await close_all(clients, servers)


def _msgpack_nested(depth: int) -> bytes:
    return b"\x91" * depth + b"\x01"


def _hostile(real: bytes) -> list[bytes]:
    """Deep nesting (msgpack and JSON), 4 GB headers, and ``real`` cut at every length."""
    payloads = [
        _msgpack_nested(DEEP),
        b"\x93\xa1u\x83\xa4type\x02\xa4data\x92\xa1e" + _msgpack_nested(DEEP) + b"\xa3nsp\xa1/\x80",
        b"[" * DEEP + b"]" * DEEP,
        b'{"a":' * DEEP + b"1" + b"}" * DEEP,
        b'{"type":3,"data":{"packet":{"type":2,"data":' + b"[" * DEEP,
    ]
    for header in (b"\xdb", b"\xc6", b"\xdd", b"\xdf"):  # str32, bin32, array32, map32
        payloads.append(header + b"\xff\xff\xff\xffabc")
        payloads.append(b"\x93" + header + b"\xff\xff\xff\xff")
    payloads += [real[:size] for size in range(1, len(real))]
    return payloads


@pytest.mark.parametrize("setup", ["classic-msgpack", "classic-json", "sharded"])
async def test_hostile_payloads_on_every_channel_never_stop_the_listener(
    redis_server: RedisServer, setup: str
) -> None:
    flavour = setup.split("-")[0]
    options = {"parser": setup.split("-")[1]} if flavour == "classic" else {}
    servers, adapter = await _start_pair(redis_server.url, flavour, **options)
    clients = [await Client.connect(server.url, rooms=["r"]) for server in servers]
    try:
        if flavour == "classic":
            real = servers[0].adapter.codec.encode_broadcast("/", ["e", {"a": [1, "b"]}],
                                                             ["r"], [], {})[1]
            channels, command = _classic_channels(adapter), "PUBLISH"
        else:
            real = servers[0].adapter.codec.encode_broadcast("/", ["e", {"a": [1, "b"]}],
                                                             [], [], {})[1]
            channels, command = _sharded_channels(adapter), "SPUBLISH"
        payloads = _hostile(real)
        await _publish_all(redis_server.url, command, channels, payloads)
        await _emit_arrives(servers, clients[1], "after")
        assert adapter.stats["malformed"] >= len(payloads)
        assert adapter.connection.handler_errors == 0
        assert adapter.stats["oversized"] == 0
        assert clients[1].named("e") == []  # no truncation was taken for the real message
    finally:
        await close_all(clients, servers)
