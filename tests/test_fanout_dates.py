"""Dates reach clients as Node's ISO strings, with python-socketio's default packet class.

A broadcast from Node that holds a ``Date`` travels as a MessagePack timestamp (always
with the classic adapter's default parser, next to binary data with the sharded one) and
is decoded into a ``datetime``.  python-socketio's packets use ``engineio.json``, which
re-exports ``json.dumps``: the fan-out must still write a ``datetime`` as
``JSON.stringify`` writes a Date, instead of failing to deliver the event to anyone.
"""

from __future__ import annotations

import datetime
import json
import uuid
from typing import Any

import pytest

from socketio_redis_adapter import AsyncRedisAdapter, AsyncShardedRedisAdapter
from tests.support.redis_server import RedisServer
from tests.support.sio_cluster import Client, PyServer, close_all

WHEN = datetime.datetime(2020, 9, 13, 12, 26, 40, 123000, tzinfo=datetime.timezone.utc)
WHEN_TEXT = "2020-09-13T12:26:40.123Z"


@pytest.mark.parametrize("flavour", ["classic", "sharded"])
async def test_datetimes_are_delivered_as_iso_strings(
    redis_server: RedisServer, flavour: str
) -> None:
    prefix = f"dates-{uuid.uuid4().hex[:8]}"
    options: dict[str, Any] = (
        {"adapter_class": AsyncRedisAdapter, "key": prefix} if flavour == "classic"
        else {"adapter_class": AsyncShardedRedisAdapter, "channel_prefix": prefix,
              "subscription_mode": "static"}
    )
    servers: list[PyServer] = []
    clients: list[Client] = []
    try:
        servers = [await PyServer.start(redis_server.url, **options) for _ in range(2)]
        clients = [await Client.connect(server.url) for server in servers]
        assert servers[0].sio.packet_class.json is not json  # engineio.json
        for number, extra in enumerate(([b"\x01"], [])):
            event = f"dated-{number}"
            # local clients through the fan-out, remote ones through Redis and the fan-out
            await servers[0].adapter.emit(event, (WHEN, {"at": [WHEN]}, *extra))
            for client in clients:
                assert await client.wait_for(event) == [[WHEN_TEXT, {"at": [WHEN_TEXT]}, *extra]]
        assert [server.adapter.stats["handler_errors"] for server in servers] == [0, 0]
    finally:
        await close_all(clients, servers)
