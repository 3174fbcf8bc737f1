"""What ``AsyncRedisAdapter`` does on Redis: its subscriptions (as a Node
server's), ``start()`` and ``close()``, and the flags of a volatile/compress
emit on the wire, against a real Node.js server where marked ``node``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

import msgpack
import pytest
import socketio
from aiohttp import web

from socketio_redis_adapter import AsyncRedisAdapter
from tests.manager.rig import (
    NAMESPACES,
    Rig,
    until,
)

# -- 7. and 8. subscriptions ----------------------------------------------------------------


def expected_channels(key: str, uids: dict[str, list[str]]) -> set[str]:
    channels = set()
    for nsp, nsp_uids in uids.items():
        channels |= {f"{key}-request#{nsp}#", f"{key}-response#{nsp}#"}
        channels |= {f"{key}-response#{nsp}#{uid}#" for uid in nsp_uids}
    return channels


@pytest.mark.node
async def test_subscriptions_match_a_node_server(rig: Rig) -> None:
    numpat_before = await rig.redis.pubsub_numpat()
    subscribers_before = await rig.subscribers()
    node = await rig.peer(NAMESPACES)
    servers = [await rig.server(), await rig.server()]
    for server in servers:
        await rig.client(server.url, namespaces=NAMESPACES)
        await asyncio.wait_for(server.adapter.start(), 5)

    for nsp in NAMESPACES:
        assert await rig.numsub(f"{rig.key}-request#{nsp}#") == 3
        assert await rig.numsub(f"{rig.key}-response#{nsp}#") == 3
        assert await node.command("server_count", nsp=nsp) == 3
    # Redis 7 counts unique patterns: one per namespace, shared by the servers
    assert await rig.redis.pubsub_numpat() == numpat_before + len(NAMESPACES)
    # each server's subscriber holds one pattern and three channels per namespace
    new = {
        cid: counts
        for cid, counts in (await rig.subscribers()).items()
        if cid not in subscribers_before
    }
    assert sorted(new.values()) == [(2, 6)] * 3, new

    node_uids = {nsp: (await node.command("adapter_state", nsp=nsp))["uid"] for nsp in NAMESPACES}
    uids = {nsp: [s.adapter.uid for s in servers] + [node_uids[nsp]] for nsp in NAMESPACES}
    assert await rig.channels() == expected_channels(rig.key, uids)


async def test_namespaces_declared_on_the_server_are_subscribed_by_start(rig: Rig) -> None:
    """An application builds its server inside a coroutine and starts the adapter."""
    adapter = AsyncRedisAdapter(rig.redis_url, key=rig.key)
    sio = socketio.AsyncServer(
        async_mode="aiohttp", client_manager=adapter, namespaces=["/", "/custom"]
    )

    @sio.on("connect", namespace="/custom")
    async def connect(sid: str, environ: dict[str, Any]) -> None:
        return None

    app = web.Application()
    sio.attach(app)
    try:
        await asyncio.wait_for(adapter.start(), 5)
        assert await rig.numsub(f"{rig.key}-request#/#") == 1
        assert await rig.numsub(f"{rig.key}-request#/custom#") == 1
        assert "/custom" in adapter.rooms
    finally:
        await adapter.close()


async def test_close_unsubscribes(rig: Rig) -> None:
    numpat_before = await rig.redis.pubsub_numpat()
    subscribers_before = await rig.subscribers()
    a, b = await rig.server(), await rig.server()
    for server in (a, b):
        await rig.client(server.url, namespaces=NAMESPACES)
        await asyncio.wait_for(server.adapter.start(), 5)
    for nsp in NAMESPACES:
        assert await rig.numsub(f"{rig.key}-request#{nsp}#") == 2
    assert await rig.redis.pubsub_numpat() == numpat_before + 2
    uids = {nsp: [a.adapter.uid, b.adapter.uid] for nsp in NAMESPACES}
    assert await rig.channels() == expected_channels(rig.key, uids)

    async def new_subscribers() -> list[tuple[int, int]]:
        return sorted(
            counts
            for cid, counts in (await rig.subscribers()).items()
            if cid not in subscribers_before
        )

    assert await new_subscribers() == [(2, 6), (2, 6)]

    await a.adapter.close()

    async def numsubs() -> list[int]:
        return [await rig.numsub(f"{rig.key}-request#{nsp}#") for nsp in NAMESPACES]

    await until(lambda: _eq(numsubs(), [1, 1]), "NUMSUB to drop by one", timeout=2)
    uids = {nsp: [b.adapter.uid] for nsp in NAMESPACES}
    await until(
        lambda: _eq(rig.channels(), expected_channels(rig.key, uids)),
        "server A's channels to go",
        timeout=2,
    )
    await until(lambda: _eq(new_subscribers(), [(2, 6)]), "A's patterns to go", timeout=2)
    assert await rig.redis.pubsub_numpat() == numpat_before + 2  # B still holds them

    await b.adapter.close()
    await until(lambda: _eq(numsubs(), [0, 0]), "NUMSUB to drop to zero", timeout=2)
    await until(lambda: _eq(rig.channels(), set()), "every channel to go", timeout=2)
    await until(
        lambda: _eq(rig.redis.pubsub_numpat(), numpat_before), "the patterns to go", timeout=2
    )
    assert await new_subscribers() == []


async def _eq(value: Awaitable[Any], expected: Any) -> bool:
    return bool(await value == expected)


# -- 9. volatile and compress -----------------------------------------------------------------


class WireTap:
    """A raw ``redis.asyncio`` pattern subscription to every broadcast of a key."""

    def __init__(self, rig: Rig) -> None:
        self.pattern = f"{rig.key}#*"
        self.pubsub = rig.redis.pubsub()

    async def __aenter__(self) -> WireTap:
        await self.pubsub.psubscribe(self.pattern)

        async def confirmed() -> bool:
            message = await self.pubsub.get_message(timeout=0.05)
            return message is not None and message["type"] == "psubscribe"

        await until(confirmed, "the raw pattern subscription")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.pubsub.aclose()

    async def next_broadcast(self, timeout: float = 5.0) -> tuple[str, list[Any]]:
        """The next broadcast's channel and its value, decoded with ``msgpack``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            message = await self.pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)
            if message is not None and message["type"] == "pmessage":
                return message["channel"].decode(), msgpack.unpackb(message["data"], timestamp=3)
        raise AssertionError("no broadcast seen on the wire")


async def test_volatile_and_compress_flags_on_the_wire(rig: Rig) -> None:
    a, b = await rig.server(), await rig.server()
    clients = [await rig.client(a.url), await rig.client(b.url)]
    async with WireTap(rig) as tap:
        cases: list[tuple[dict[str, Any], dict[str, Any]]] = [
            ({"volatile": True}, {"volatile": True}),
            ({"compress": False}, {"compress": False}),
            ({"volatile": True, "compress": True}, {"volatile": True, "compress": True}),
            ({}, {}),
        ]
        for number, (options, flags) in enumerate(cases):
            event = f"v{number}"
            await a.sio.manager.emit(event, number, "/", **options)
            for client in clients:  # idle clients get volatile events
                assert await client.wait_for(event) == [[number]]
            channel, value = await tap.next_broadcast()
            assert channel == f"{rig.key}#/#"
            uid, packet, opts = value
            assert uid == a.adapter.uid
            assert list(opts) == ["rooms", "except", "flags"]
            assert list(packet) == ["type", "data", "nsp"]
            assert packet == {"type": 2, "data": [event, number], "nsp": "/"}
            assert opts == {"rooms": [], "except": [], "flags": flags}, options

        # a room broadcast goes to the room's channel with the same layout
        await a.sio.manager.emit("vr", 9, "/", to="nobody-here", volatile=True)
        channel, value = await tap.next_broadcast()
        assert channel == f"{rig.key}#/#nobody-here#"
        assert list(value[2]) == ["rooms", "except", "flags"]
        assert value[2] == {"rooms": ["nobody-here"], "except": [], "flags": {"volatile": True}}


def _layout(value: Any) -> Any:
    """A value with every map turned into its ordered ``(key, value)`` pairs."""
    if isinstance(value, dict):
        return [(key, _layout(item)) for key, item in value.items()]
    if isinstance(value, list):
        return [_layout(item) for item in value]
    return value


@pytest.mark.node
async def test_flags_on_the_wire_match_node(rig: Rig) -> None:
    """The same emits from Node and from Python publish the same maps, in order."""
    node = await rig.peer(("/",))
    a = await rig.server()
    async with WireTap(rig) as tap:
        cases: list[dict[str, Any]] = [
            {"volatile": True},
            {"compress": False},
            {"volatile": True, "compress": False},
            {},
        ]
        for number, options in enumerate(cases):
            event = f"w{number}"
            await node.command("emit", event=event, args=[number], rooms=["room"], **options)
            node_channel, node_value = await tap.next_broadcast()
            await a.sio.manager.emit(event, number, "/", to="room", **options)
            py_channel, py_value = await tap.next_broadcast()
            assert py_channel == node_channel == f"{rig.key}#/#room#"
            assert _layout(py_value[1:]) == _layout(node_value[1:]), options
