"""``AsyncShardedRedisAdapter`` between Python servers on a standalone Redis 7, in each mode.

Three servers, one client each: client 0 in ``r1``, client 1 in ``r1`` and
``r2``, client 2 in ``r3`` and the numeric room ``7``.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
import redis.asyncio as aioredis

from socketio_redis_adapter import RequestTimeoutError
from tests.sharded.rig import ShardedRig
from tests.support.sio_cluster import Client, PyServer

ROOMS: list[list[Any]] = [["r1"], ["r1", "r2"], ["r3", 7]]


async def _three(rig: ShardedRig) -> tuple[list[PyServer], list[Client]]:
    servers = [await rig.server() for _ in range(3)]
    clients = [
        await rig.client(server, rooms=rooms, data=f"data-{number}")
        for number, (server, rooms) in enumerate(zip(servers, ROOMS, strict=True))
    ]
    await rig.settled()
    return servers, clients


async def _check(server: PyServer, clients: list[Client], event: str,
                 expected: dict[int, list[Any]]) -> None:
    """Clients in ``expected`` got ``event`` once with those args; the others never
    (proven by a marker sent after it by the same server)."""
    marker = f"marker-{uuid.uuid4().hex[:6]}"
    await server.sio.emit(marker)
    for number, client in enumerate(clients):
        await client.wait_for(marker)
        got = client.named(event)
        assert got == ([expected[number]] if number in expected else []), (number, got)


@pytest.mark.parametrize(("target", "receivers"), [
    ({}, {0, 1, 2}),
    ({"to": "r1"}, {0, 1}),
    ({"to": ["r2", "r3"]}, {1, 2}),
    ({"to": 7}, {2}),
    ({"to": "r1", "except_rooms": "r2"}, {0}),
    ({"except_rooms": ["r1"]}, {2}),
    ({"to": "nobody"}, set()),
])
async def test_broadcasts_reach_exactly_the_selected_clients(
    rig: ShardedRig, target: dict[str, Any], receivers: set[int]
) -> None:
    servers, clients = await _three(rig)
    payload = {"n": 1, "blob": b"\x00\xff"}  # binary: travels as MessagePack
    await servers[0].adapter.emit("ev", payload, **target)
    await _check(servers[0], clients, "ev", {n: [payload] for n in receivers})
    await servers[2].adapter.emit("text", "plain", **target)  # JSON, from another server
    await _check(servers[2], clients, "text", {n: ["plain"] for n in receivers})


async def test_sid_targets_skip_sid_and_the_senders_own_copy(rig: ShardedRig) -> None:
    servers, clients = await _three(rig)
    sid2 = clients[2].sid()
    await servers[0].sio.emit("to-sid", 1, to=sid2)  # a socket id: main channel unless private
    await _check(servers[0], clients, "to-sid", {2: [1]})
    await servers[0].sio.emit("skip", 2, skip_sid=clients[0].sid())
    await _check(servers[0], clients, "skip", {1: [2], 2: [2]})
    await servers[1].sio.emit("once", 3, to="r1")  # the sender gets its own message back
    await _check(servers[1], clients, "once", {0: [3], 1: [3]})


async def test_room_channels_follow_each_mode(rig: ShardedRig) -> None:
    servers, clients = await _three(rig)
    prefix = rig.prefix
    base = {f"{prefix}#/#"} | {f"{prefix}#/#{s.adapter.uid}#" for s in servers}
    rooms = {f"{prefix}#/#{room}#" for room in ("r1", "r2", "r3", "7")}
    sids = {f"{prefix}#/#{client.sid()}#" for client in clients}
    expected = {
        "static": base, "dynamic": base | rooms, "dynamic-private": base | rooms | sids,
    }[rig.mode]
    assert await rig.shard_channels() == expected
    # the last local socket of r2 leaves: its channel goes; r1 keeps client 0's server
    sid1 = clients[1].sid()
    await clients[1].close()
    deadline = asyncio.get_running_loop().time() + 5
    gone = {f"{prefix}#/#r2#", f"{prefix}#/#{sid1}#"}
    while (await rig.shard_channels()) != expected - gone:
        assert asyncio.get_running_loop().time() < deadline, await rig.shard_channels()
        await asyncio.sleep(0.02)


async def _capture(url: str, channels: list[str]) -> tuple[Any, asyncio.Queue[tuple[str, Any]]]:
    client = aioredis.Redis.from_url(url)
    pubsub = client.pubsub()
    queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    await pubsub.ssubscribe(*channels)
    for _ in channels:
        await pubsub.get_sharded_message(timeout=2)  # the confirmations

    async def read() -> None:
        while True:
            message = await pubsub.get_sharded_message(timeout=1)
            if message is not None:
                await queue.put((message["channel"].decode(), message["data"]))

    task = asyncio.ensure_future(read())
    return (client, pubsub, task), queue


async def test_publish_channel_is_nodes_choice(rig: ShardedRig) -> None:
    servers, clients = await _three(rig)
    room20 = "x" * 20  # looks like a socket id to Node
    main = f"{rig.prefix}#/#"
    channels = [main, f"{main}r1#", f"{main}{room20}#"]
    handles, queue = await _capture(rig.redis_url, channels)
    try:
        await servers[0].sio.emit("a", 1, to="r1")
        await servers[0].sio.emit("b", 1, to=room20)
        await servers[0].sio.emit("c", 1, to=["r1", "r2"])
        acked: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        await servers[0].sio.emit("d", 1, to=clients[1].sid(), callback=acked.set_result)
        await asyncio.wait_for(acked, 3)
        got = [await asyncio.wait_for(queue.get(), 3) for _ in range(4)]
    finally:
        handles[2].cancel()
        await handles[1].aclose()
        await handles[0].aclose()
    dynamic = rig.mode != "static"
    private = rig.mode == "dynamic-private"
    assert [channel for channel, _ in got] == [
        f"{main}r1#" if dynamic else main,
        f"{main}{room20}#" if private else main,
        main,
        main,  # broadcasts with acks never use a room channel
    ]
    # Node's encoding: JSON without binary, key order type, data, uid, nsp
    assert got[0][1].startswith(b'{"type":3,"data":{"packet":{"type":2,"data":["a",1]}')
    assert got[0][1].endswith(f',"uid":"{servers[0].adapter.uid}","nsp":"/"}}'.encode())


async def test_requests_across_servers(rig: ShardedRig) -> None:
    servers, clients = await _three(rig)
    adapter = servers[0].adapter
    sids = [client.sid() for client in clients]
    assert await adapter.server_count() == 3
    sockets = await adapter.fetch_sockets()
    assert sorted(s.id for s in sockets) == sorted(sids)
    by_id = {s.id: s for s in sockets}
    assert by_id[sids[2]].rooms == {sids[2], "r3", 7}
    assert by_id[sids[1]].data == "data-1"
    assert sorted(s.id for s in await adapter.fetch_sockets("r1", except_rooms="r2")) == [sids[0]]
    assert await adapter.all_rooms() == {"r1", "r2", "r3", 7, *sids}
    assert await adapter.all_rooms(local=True) == {"r1", sids[0]}


async def test_joins_leaves_and_disconnects_across_servers(rig: ShardedRig) -> None:
    servers, clients = await _three(rig)
    adapter = servers[0].adapter
    sids = [client.sid() for client in clients]
    await adapter.sockets_join("joined", rooms="r1")
    await adapter.sockets_join(["j2"], rooms=sids[2])
    assert "joined" in servers[1].adapter.rooms["/"]
    deadline = asyncio.get_running_loop().time() + 5
    while "j2" not in servers[2].adapter.rooms["/"]:
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.02)
    assert "joined" in servers[0].adapter.rooms["/"]  # the sender applied it too
    await rig.settled()
    await servers[2].sio.emit("to-joined", 1, to="joined")
    await _check(servers[2], clients, "to-joined", {0: [1], 1: [1]})
    await adapter.sockets_leave("r1", except_rooms="r2")
    await servers[1].sio.emit("to-r1", 1, to="r1")
    await _check(servers[1], clients, "to-r1", {1: [1]})
    # python-socketio's own room calls reach a socket on another server
    await servers[0].sio.enter_room(sids[1], "by-sio")
    while "by-sio" not in servers[1].adapter.rooms["/"]:
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.02)
    await adapter.disconnect_sockets(rooms="r3")
    while clients[2].sio.connected:
        assert asyncio.get_running_loop().time() < deadline + 5
        await asyncio.sleep(0.02)
    assert clients[0].sio.connected and clients[1].sio.connected


async def test_server_side_events_and_acks(rig: ShardedRig) -> None:
    servers, clients = await _three(rig)
    got: list[Any] = []
    for number, server in enumerate(servers):
        @server.adapter.on_server_side_event("ping")
        async def ping(value: Any, number: int = number) -> Any:
            got.append((number, value))
            return {"pong": value, "from": number}

    await servers[0].adapter.server_side_emit("ping", 1)
    replies = await servers[0].adapter.server_side_call("ping", b"\x01")
    assert sorted(r["from"] for r in replies) == [1, 2]
    assert all(r["pong"] == b"\x01" for r in replies)
    expected = [(1, 1), (1, b"\x01"), (2, 1), (2, b"\x01")]
    assert sorted(map(repr, got)) == sorted(map(repr, expected))

    clients[1].ack_reply = "ack-1"
    clients[2].ack_reply = b"\x02"
    acks = await servers[0].adapter.emit_with_ack("ask", "q", timeout=3)
    assert sorted(map(repr, acks)) == sorted(map(repr, ["client-ack", "ack-1", b"\x02"]))
    replied: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    await servers[0].sio.emit("cb", 1, to=clients[2].sid(), callback=replied.set_result)
    assert await asyncio.wait_for(replied, 3) == b"\x02"


async def test_requests_time_out_with_what_came(rig: ShardedRig) -> None:
    servers, clients = await _three(rig)
    for server in servers[1:]:
        server.adapter.on_server_side_event("slow", lambda: asyncio.sleep(10))
    with pytest.raises(RequestTimeoutError) as caught:
        await servers[0].adapter.server_side_call("slow")
    assert str(caught.value) == "timeout reached: only 0 responses received out of 2"


async def test_bad_messages_are_counted_and_the_listener_lives(rig: ShardedRig) -> None:
    servers, clients = await _three(rig)
    main = f"{rig.prefix}#/#".encode()
    admin = rig.admin
    assert admin is not None
    for junk in (b"{not json", b"\xc1", b'{"type":"x"}', b'{"type":3,"data":{"packet":1}}',
                 b"[1,2]"):
        await admin.execute_command("SPUBLISH", main, junk)
    # a sender without nsp (adapter 8.2) counts as this namespace; another nsp is ignored
    other = b'{"type":3,"data":{"packet":{"type":2,"data":["n",1]},"opts":{"rooms":[],' \
            b'"except":[],"flags":{}}},"uid":"abc"%s}'
    await admin.execute_command("SPUBLISH", main, other % b"")
    await admin.execute_command("SPUBLISH", main, other % b',"nsp":"/else"')
    await _check(servers[1], clients, "n", {0: [1], 1: [1], 2: [1]})
    stats = servers[0].adapter.stats
    assert stats["malformed"] == 5
    assert stats["handler_errors"] == 0
