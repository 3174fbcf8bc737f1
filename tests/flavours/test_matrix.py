"""Every cross-server feature between Python servers, for each flavour, on each topology.

Flavours: classic, and sharded in the static, dynamic and dynamic-private
modes; topologies: a standalone Redis 7 and a 3-master Redis Cluster.  Three
servers, one client each: client 0 in ``r1``, client 1 in ``r1`` and ``r2``,
client 2 in ``r3`` and the numeric room ``7``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from socketio_redis_adapter import RequestTimeoutError
from tests.flavours.helpers import check, three
from tests.flavours.rig import FlavourRig


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
    rig: FlavourRig, target: dict[str, Any], receivers: set[int]
) -> None:
    servers, clients = await three(rig)
    payload = {"n": 1, "blob": b"\x00\xff"}  # binary: travels as MessagePack
    await servers[0].adapter.emit("ev", payload, **target)
    await check(servers[0], clients, "ev", {n: [payload] for n in receivers})
    await servers[2].adapter.emit("text", "plain", **target)  # JSON, from another server
    await check(servers[2], clients, "text", {n: ["plain"] for n in receivers})


async def test_sid_targets_skip_sid_and_the_senders_own_copy(rig: FlavourRig) -> None:
    servers, clients = await three(rig)
    sid2 = clients[2].sid()
    await servers[0].sio.emit("to-sid", 1, to=sid2)  # a socket id: main channel unless private
    await check(servers[0], clients, "to-sid", {2: [1]})
    await servers[0].sio.emit("skip", 2, skip_sid=clients[0].sid())
    await check(servers[0], clients, "skip", {1: [2], 2: [2]})
    await servers[1].sio.emit("once", 3, to="r1")  # the sender gets its own message back
    await check(servers[1], clients, "once", {0: [3], 1: [3]})


async def test_requests_across_servers(rig: FlavourRig) -> None:
    servers, clients = await three(rig)
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


async def test_joins_leaves_and_disconnects_across_servers(rig: FlavourRig) -> None:
    servers, clients = await three(rig)
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
    await check(servers[2], clients, "to-joined", {0: [1], 1: [1]})
    await adapter.sockets_leave("r1", except_rooms="r2")
    await servers[1].sio.emit("to-r1", 1, to="r1")
    await check(servers[1], clients, "to-r1", {1: [1]})
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


async def test_server_side_events_and_acks(rig: FlavourRig) -> None:
    servers, clients = await three(rig)
    got: list[Any] = []
    for number, server in enumerate(servers):
        @server.adapter.on_server_side_event("ping")
        async def ping(value: Any, number: int = number) -> Any:
            got.append((number, value))
            return {"pong": value, "from": number}

    await servers[0].adapter.server_side_emit("ping", 1)
    replies = await servers[0].adapter.server_side_call("ping", b"\x01")
    assert sorted(r["from"] for r in replies) == [1, 2]
    # classic requests and replies travel as JSON (as Node's): bytes become Node's Buffer
    blob = b"\x01" if rig.sharded else {"type": "Buffer", "data": [1]}
    assert all(r["pong"] == blob for r in replies)
    expected = [(1, 1), (1, blob), (2, 1), (2, blob)]
    assert sorted(map(repr, got)) == sorted(map(repr, expected))

    clients[1].ack_reply = "ack-1"
    clients[2].ack_reply = b"\x02"
    acks = await servers[0].adapter.emit_with_ack("ask", "q", timeout=3)
    assert sorted(map(repr, acks)) == sorted(map(repr, ["client-ack", "ack-1", b"\x02"]))
    replied: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    await servers[0].sio.emit("cb", 1, to=clients[2].sid(), callback=replied.set_result)
    assert await asyncio.wait_for(replied, 3) == b"\x02"


async def test_requests_time_out_with_what_came(rig: FlavourRig) -> None:
    servers, clients = await three(rig)
    for server in servers[1:]:
        server.adapter.on_server_side_event("slow", lambda: asyncio.sleep(10))
    with pytest.raises(RequestTimeoutError) as caught:
        await servers[0].adapter.server_side_call("slow")
    assert str(caught.value) == "timeout reached: only 0 responses received out of 2"


