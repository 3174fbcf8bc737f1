"""Node's sharded adapter and ours in one cluster; Node's classic adapter and ours on a
Redis Cluster.

Sharded: a real Node server with ``createShardedAdapter`` (``@socket.io/redis-adapter``
8.3 on socket.io-adapter 2.5's ``ClusterAdapter``) and two python-socketio servers with
``AsyncShardedRedisAdapter`` share one channel prefix, in each subscription mode, on a
standalone Redis 7 and on a 3-master Redis Cluster (the peer with a node-redis cluster
client, ours with a ``redis+cluster://`` URL).  Classic: ``createAdapter`` with a
node-redis cluster client and ``AsyncRedisAdapter`` on the same cluster.

The layout is the contract rig's (``tests/contract/rig.py``): client 0 on the Node server
in ``room1`` and ``123``, client 1 on ``servers[0]`` in ``room1`` and ``room2``, client 2
on ``servers[1]`` in ``room3``.  Every case runs from both sides: the requester or sender
is ``servers[0]`` (``"py"``) or the Node server (``"node"``).  Node's ``ClusterAdapter``
has no ``allRooms()``, so only our side asks for every room in the sharded flavour (we
add up the rooms of FETCH_SOCKETS's answers, Node's sockets' included).
"""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from socketio_redis_adapter import RequestTimeoutError
from tests.contract.rig import (
    REQUESTERS,
    SERVER_DISCONNECT,
    Cluster,
    build_cluster,
    counted,
    emit_with_ack,
    eventually,
    fetch,
    no_pending_requests,
    tear_down,
)
from tests.support.redis_server import RedisServer
from tests.support.topologies import NO_CLIENT_SETINFO, RedisCluster

pytestmark = pytest.mark.node

MODES = ("static", "dynamic", "dynamic-private")
NJ = "nj-ü#字"
TOPOLOGIES = ("standalone", "cluster")
PAYLOADS: list[list[Any]] = [
    [1, "2", b"\x03\xff", {"k": b"\x00", "n": None, "l": [True, 1.5]}],  # MessagePack
    [{"plain": ["json", 4]}, "text"],  # JSON
]
WHEN = datetime.datetime(2020, 9, 13, 12, 26, 40, 123000, tzinfo=datetime.timezone.utc)
#: what a Date becomes for a client (JSON.stringify): Node's clients and ours alike
WHEN_TEXT = "2020-09-13T12:26:40.123Z"
#: (target, receivers): rooms and except rooms of a broadcast, clients that get it
BROADCASTS: list[tuple[dict[str, list[Any]], set[int]]] = [
    ({}, {0, 1, 2}),
    ({"rooms": ["room1"]}, {0, 1}),
    ({"rooms": ["room1", "room3"]}, {0, 1, 2}),
    ({"rooms": [123]}, {0}),  # a number: Node's channel is `${prefix}#/#123#`
    ({"rooms": ["room3"]}, {2}),
    ({"rooms": ["room1"], "except_rooms": ["room2"]}, {0}),
    ({"except_rooms": ["room1"]}, {2}),
    ({"rooms": ["nobody"]}, set()),
]


def topology_url(request: pytest.FixtureRequest, topology: str) -> tuple[str, Any]:
    """Our servers' URL and the Node peer's cluster nodes (None: standalone)."""
    if topology == "cluster":
        cluster: RedisCluster = request.getfixturevalue("redis_cluster")
        return cluster.url, cluster.startup_nodes
    server: RedisServer = request.getfixturevalue("redis_server")
    return server.url, None


@pytest.fixture(params=[(t, m) for t in TOPOLOGIES for m in MODES],
                ids=lambda param: f"{param[0]}-{param[1]}")
async def mixed(request: pytest.FixtureRequest) -> AsyncIterator[Cluster]:
    """One Node server and two Python servers, sharded, in one mode on one topology."""
    topology, mode = request.param
    url, nodes = topology_url(request, topology)
    built: list[Cluster] = []
    try:
        cluster = await build_cluster(
            url, built, flavour=mode, cluster_nodes=nodes, namespaces=("/", "/custom")
        )
        assert cluster.node.ready_info["adapter"] == "sharded"
        assert cluster.node.ready_info["cluster"] is (nodes is not None)
        state = await cluster.node_state()
        assert (state["subscriptionMode"], state["channel"]) == (mode, f"{cluster.key}#/#")
        yield cluster
    finally:
        await tear_down(built)


async def subscribers(cluster: Cluster, room: Any) -> int:
    """SHARDNUMSUB of a room's channel ``prefix#/#room#`` (on its node of a cluster)."""
    channel = f"{cluster.key}#/#{room}#".encode()
    count: int = await cluster.py.connection.shardnumsub(channel)
    return count


async def wait_rooms(
    cluster: Cluster, number: int, present: set[Any], absent: frozenset[Any] = frozenset()
) -> None:
    """Client ``number``'s socket is in ``present`` and in none of ``absent``, on its server."""
    async def done() -> bool:
        rooms = await cluster.rooms_of(number)
        return present <= rooms and not (absent & rooms)

    await eventually(done, f"client {number} in {present}, not in {absent}", timeout=5)


# ------------------------------------------------------------------ broadcasts


async def test_broadcasts_both_ways(mixed: Cluster) -> None:
    """To all, to rooms (a number too), with except rooms, with binary and JSON payloads,
    and to a single socket id on the other side, from each side; the room channels the
    modes subscribe have the same names on both sides."""
    sids = mixed.sids()
    dynamic = mixed.flavour != "static"
    # "room1" has a socket on the Node server and one on servers[0]: both subscribe its
    # channel in the dynamic modes; "123" only the Node server; sid rooms in private mode.
    assert await subscribers(mixed, "room1") == (2 if dynamic else 0)
    assert await subscribers(mixed, 123) == (1 if dynamic else 0)
    private = mixed.flavour == "dynamic-private"
    assert [await subscribers(mixed, sid) for sid in sids] == [1 if private else 0] * 3

    for requester in REQUESTERS:
        for number, (target, receivers) in enumerate(BROADCASTS):
            event = f"{requester}-{number}"
            payload = PAYLOADS[number % 2]
            await mixed.emit(requester, event, payload, **target)
            await mixed.check(requester, event, {n: payload for n in receivers},
                              rooms=target.get("rooms", ()))
        # a socket id on the other side: its own channel in dynamic-private mode
        other = 2 if requester == "node" else 0
        event = f"{requester}-to-sid"
        await mixed.emit(requester, event, PAYLOADS[0], rooms=[sids[other]])
        await mixed.check(requester, event, {other: PAYLOADS[0]}, rooms=[sids[other]])
        # a socket's broadcast (socket.broadcast / skip_sid): everyone but the sender
        event = f"{requester}-from-socket"
        if requester == "node":
            await mixed.node.command("socket_emit", nsp="/", sid=sids[0], event=event,
                                     args=PAYLOADS[0], broadcast=True)
            await mixed.check(requester, event, {1: PAYLOADS[0], 2: PAYLOADS[0]})
        else:
            await mixed.servers[0].sio.emit(event, tuple(PAYLOADS[0]), skip_sid=sids[1])
            await mixed.check(requester, event, {0: PAYLOADS[0], 2: PAYLOADS[0]})
        # every socket of the other side but one, by its id
        event = f"{requester}-except-sid"
        await mixed.emit(requester, event, PAYLOADS[1], except_rooms=[sids[other]])
        await mixed.check(requester, event, {n: PAYLOADS[1] for n in range(3) if n != other})
        await dates(mixed, requester)
        # large: about 1 MB of MessagePack, and 300 kB of JSON text
        big = [bytes(range(256)) * 3000, "é" * 100_000, {"n": list(range(1000))}]
        await mixed.emit(requester, f"{requester}-big", big)
        await mixed.check(requester, f"{requester}-big", {n: big for n in range(3)})
        await mixed.emit(requester, f"{requester}-big-text", big[1:], rooms=["room1"])
        await mixed.check(requester, f"{requester}-big-text", {0: big[1:], 1: big[1:]},
                          rooms=["room1"])
        # another namespace: channels of its own (`${prefix}#/custom#...`)
        for number, (target, receivers) in enumerate(BROADCASTS[:2]):
            event = f"{requester}-custom-{number}"
            await mixed.emit(requester, event, PAYLOADS[0], nsp="/custom", **target)
            await mixed.check(requester, event, {n: PAYLOADS[0] for n in receivers},
                              nsp="/custom", rooms=target.get("rooms", ()))


async def dates(mixed: Cluster, requester: str) -> None:
    """A Date in a broadcast: a MessagePack timestamp next to binary data (a datetime here),
    an ISO string in JSON; every client gets Node's ISO string."""
    for number, extra in enumerate(([b"\x01"], [])):
        event = f"{requester}-date-{number}"
        await mixed.emit(requester, event, [WHEN, {"at": [WHEN]}, *extra])
        expected = [WHEN_TEXT, {"at": [WHEN_TEXT]}, *extra]
        await mixed.check(requester, event, {n: expected for n in range(3)})


# -------------------------------------------------------------------- requests


async def test_requests_both_ways(mixed: Cluster) -> None:
    """Server counts, fetchSockets, allRooms (ours), serverSideEmit with and without
    acknowledgements, and broadcasts with acknowledgements, from each side."""
    sids = mixed.sids()
    for nsp in ("/", "/custom"):
        assert await mixed.node.command("server_count", nsp=nsp) == 3
        for server in mixed.servers:
            assert await server.adapter.server_count(nsp) == 3

    # binary socket data: servers[1]'s FETCH_SOCKETS_RESPONSE travels as MessagePack
    blob = {"blob": b"\x00\xff", "n": 2}
    async with mixed.servers[1].sio.session(sids[2]) as session:
        session["data"] = blob
    for requester in REQUESTERS:
        found = {s["id"]: s for s in await fetch(mixed, requester)}
        assert set(found) == set(sids), requester
        assert found[sids[0]]["rooms"] == {sids[0], "room1", 123}
        assert found[sids[1]]["rooms"] == {sids[1], "room1", "room2"}
        assert found[sids[2]]["rooms"] == {sids[2], "room3"}
        assert [found[sid]["data"] for sid in sids] == ["test-0", "test-1", blob]
        assert found[sids[0]]["handshake"]["auth"] == {"rooms": ["room1", 123], "data": "test-0"}
        assert found[sids[2]]["handshake"]["address"] == "127.0.0.1"
        selected = await fetch(mixed, requester, rooms=[123])
        assert [s["id"] for s in selected] == [sids[0]]
        selected = await fetch(mixed, requester, rooms=["room1"])
        assert sorted(s["id"] for s in selected) == sorted(sids[:2])
        await no_pending_requests(mixed, requester)
    # with except rooms
    found = await mixed.node.command("fetch_sockets", nsp="/", except_=["room2", 123])
    assert [s["id"] for s in found] == [sids[2]]
    assert [s.id for s in await mixed.py.fetch_sockets("room1", except_rooms=123)] == [sids[1]]

    # every room, through FETCH_SOCKETS: the Node server's sockets' rooms included
    assert await mixed.py.all_rooms() == {*sids, "room1", "room2", "room3", 123}
    assert await mixed.servers[1].adapter.all_rooms() == {*sids, "room1", "room2", "room3", 123}

    await server_side_events(mixed)
    await broadcasts_with_acks(mixed)


async def server_side_events(mixed: Cluster) -> None:
    node = mixed.node
    calls: list[list[list[Any]]] = [[], []]
    replies = [2, b"\x03\x00"]  # a binary reply travels as MessagePack
    for number, server in enumerate(mixed.servers):
        def handler(*args: Any, number: int = number) -> Any:
            calls[number].append(list(args))
            return replies[number]

        server.adapter.on_server_side_event("hello", handler)
    await node.command("on_server_side_event", nsp="/", event="hello", reply=b"\x05")

    # Node -> us, without and with acknowledgements
    await node.command("server_side_emit", nsp="/", event="hello", args=["world", b"\x01"])

    async def both_called() -> bool:
        return all(calls)

    await eventually(both_called, "the Python servers got Node's server-side event")
    result = await node.command("server_side_emit", nsp="/", event="hello", args=[7], ack=True)
    assert result["err"] is None
    assert counted(result["responses"]) == counted(replies)
    assert calls == [[["world", b"\x01"], [7]]] * 2
    assert (await mixed.node_state())["requests"] == 0

    # us -> Node and the other Python server
    await mixed.py.server_side_emit("hello", "from-py", {"b": b"\x02"})
    event = await node.wait_event("server_side_event", name="hello")
    assert (event["args"], event["ack"]) == (["from-py", {"b": b"\x02"}], False)
    responses = await mixed.py.server_side_call("hello", 8)
    assert counted(responses) == counted([b"\x05", replies[1]])
    event = await node.wait_event("server_side_event", name="hello")
    assert (event["args"], event["ack"]) == ([8], True)
    assert calls[0] == [["world", b"\x01"], [7]]  # a server ignores its own events
    await no_pending_requests(mixed, "py")


async def broadcasts_with_acks(mixed: Cluster) -> None:
    sids = mixed.sids()
    for number, client in enumerate(mixed.clients):
        client.ack_reply = [number, b"\x0a"] if number == 2 else number
    for requester in REQUESTERS:
        err, responses = await emit_with_ack(mixed, requester, "ask", timeout=3)
        assert err is None, requester
        assert counted(responses) == counted([0, 1, [2, b"\x0a"]])
        err, responses = await emit_with_ack(mixed, requester, "ask", to="room1", timeout=3)
        assert (err, counted(responses)) == (None, counted([0, 1]))
        other = 2 if requester == "node" else 0
        err, responses = await emit_with_ack(mixed, requester, "ask", to=sids[other], timeout=3)
        assert (err, responses) == (None, [mixed.clients[other].ack_reply])
        await no_pending_requests(mixed, requester)
    # everyone twice, room1 twice, client 0 from "py" and client 2 from "node" by id
    assert [len(client.named("ask")) for client in mixed.clients] == [5, 4, 3]

    # an emit to the Node server's socket with a callback, from a Python server
    replied: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    await mixed.servers[1].sio.emit("cb", b"\x01", to=sids[0], callback=replied.set_result)
    assert await asyncio.wait_for(replied, 5) == 0

    # a silent client on the other side: the requester times out with the other acks
    mixed.never_ack(0, "silent")
    with pytest.raises(RequestTimeoutError) as info:
        await mixed.py.emit_with_ack("silent", 1, timeout=0.5)
    assert counted(info.value.responses) == counted([1, [2, b"\x0a"]])
    mixed.never_ack(2, "silent-py")
    err, responses = await emit_with_ack(mixed, "node", "silent-py", timeout=0.5)
    assert err == "operation has timed out"
    assert counted(responses) == counted([0, 1])

    async def no_acks_left() -> bool:
        return bool((await mixed.node_state())["ackRequests"] == 0)

    # Node drops each entry flags.timeout (3 s above) after its emit
    await eventually(no_acks_left, "Node's ackRequests is empty", timeout=8)
    assert mixed.py.engine.pending.acks == {}


# ------------------------------------------------- joins, leaves and disconnects


async def test_joins_leaves_and_disconnects_both_ways(mixed: Cluster) -> None:
    """socketsJoin/socketsLeave/disconnectSockets by selector from each side; a room made
    on the other side gets its channel subscribed (dynamic modes) before a broadcast."""
    sids = mixed.sids()
    dynamic = mixed.flavour != "static"

    # Python: the sockets of room1 (client 0 on Node, client 1 here) join "pj"
    await mixed.py.sockets_join("pj", rooms="room1")
    await wait_rooms(mixed, 0, {"pj"})
    assert "pj" in await mixed.rooms_of(1)  # the sender applied it too
    await mixed.settled()  # Node's SSUBSCRIBE of the new room (dynamic modes)
    assert await subscribers(mixed, "pj") == (2 if dynamic else 0)
    await mixed.emit("py", "to-pj", ["p"], rooms=["pj"])
    await mixed.check("py", "to-pj", {0: ["p"], 1: ["p"]}, rooms=["pj"])

    # Node: the socket of client 2 (on servers[1]), by its id, joins NJ (non-ASCII, with
    # a "#": the channel names, UTF-8, must be the same bytes on both sides)
    await mixed.node.command("sockets_join", nsp="/", rooms=[sids[2]], target=NJ)
    await wait_rooms(mixed, 2, {NJ})
    await mixed.settled()  # servers[1]'s SSUBSCRIBE of the new room (dynamic modes)
    assert await subscribers(mixed, NJ) == (1 if dynamic else 0)
    await mixed.emit("node", "to-nj", [b"\x07"], rooms=[NJ])
    await mixed.check("node", "to-nj", {2: [b"\x07"]}, rooms=[NJ])

    # our RemoteSocket of the Node server's socket: join, emit, leave
    [remote] = await mixed.py.fetch_sockets(rooms=[sids[0]])
    await remote.join(["rs", 5])
    await wait_rooms(mixed, 0, {"rs", 5})
    await mixed.settled()
    await mixed.emit("py", "to-rs", [b"\x01"], rooms=["rs"])
    await mixed.check("py", "to-rs", {0: [b"\x01"]}, rooms=["rs"])
    await remote.emit("direct", 1, b"\x02")
    assert await mixed.clients[0].wait_for("direct") == [[1, b"\x02"]]
    await remote.leave(["rs", 5])
    await wait_rooms(mixed, 0, set(), {"rs", 5})

    # Node: the sockets of pj but those of room2 leave pj (client 0 only);
    # Python: the sockets of nj and room3 leave nj, except those of room1 (client 2)
    await mixed.node.command("sockets_leave", nsp="/", rooms=["pj"], except_=["room2"],
                             target="pj")
    await mixed.py.sockets_leave(NJ, rooms=[NJ, "room3"], except_rooms=["room1"])
    await wait_rooms(mixed, 0, set(), {"pj"})
    await wait_rooms(mixed, 2, set(), {NJ})
    await mixed.expect_rooms([{"room1", 123}, {"room1", "room2", "pj"}, {"room3"}], "node")
    await mixed.node.wait_subscriptions()  # Node's SUNSUBSCRIBE of pj
    for number, server in enumerate(mixed.servers):  # ours, dropped in the background

        async def unsubscribed(server: Any = server) -> bool:
            return ("/", NJ) not in server.adapter.flavour.subscriptions.rooms

        await eventually(unsubscribed, f"servers[{number}] dropped {NJ}")
    await eventually(
        lambda: _equals(subscribers(mixed, "pj"), 1 if dynamic else 0), "pj: one subscriber"
    )
    await eventually(lambda: _equals(subscribers(mixed, NJ), 0), "nj: no subscriber")
    for requester in REQUESTERS:
        await mixed.emit(requester, f"{requester}-pj", [1], rooms=["pj"])
        await mixed.check(requester, f"{requester}-pj", {1: [1]}, rooms=["pj"])

    # disconnectSockets: Node disconnects client 2 (room3, on servers[1]) from "/" ...
    reasons = [watch_disconnect(mixed, number) for number in range(3)]
    await mixed.node.command("disconnect_sockets", nsp="/", rooms=["room3"])
    await eventually(_disconnected(mixed, 2), "client 2 disconnected by the Node server")
    # ... and servers[0] disconnects client 0 (on Node) by its id, closing its connection
    await mixed.py.disconnect_sockets(close=True, rooms=[sids[0]])
    event = await mixed.node.wait_event("disconnect", nsp="/", id=sids[0])
    assert event["reason"] == "server namespace disconnect"

    async def closed() -> bool:
        return not mixed.clients[0].sio.connected

    await eventually(closed, "client 0's connection closed by the Node server", timeout=8)
    assert mixed.clients[1].sio.connected
    assert mixed.clients[2].sio.namespaces.keys() == {"/custom"}  # close=false: kept
    assert reasons[1] == []
    assert reasons[2] == [("/", SERVER_DISCONNECT)]
    # the client's own order of its namespaces' disconnect events depends on its scheduling
    # (the DISCONNECT packet is handled in a task, the closed connection at once; Python
    # 3.12 runs them the other way round): the set is what the servers decide
    assert ("/", SERVER_DISCONNECT) in reasons[0]
    assert {nsp for nsp, _ in reasons[0]} == {"/", "/custom"}
    found = await mixed.node.command("fetch_sockets", nsp="/")
    assert [s["id"] for s in found] == [sids[1]]
    assert [s.id for s in await mixed.py.fetch_sockets()] == [sids[1]]
    # the Node server closes client 1's connection (on servers[0]) from "/custom"
    await mixed.node.command("disconnect_sockets", nsp="/custom", rooms=["room2"], close=True)

    async def closed_1() -> bool:
        return not mixed.clients[1].sio.connected

    await eventually(closed_1, "client 1's connection closed by the Node server", timeout=8)
    assert ("/custom", SERVER_DISCONNECT) in reasons[1]
    assert {nsp for nsp, _ in reasons[1]} == {"/", "/custom"}
    assert mixed.clients[2].sio.namespaces.keys() == {"/custom"}


async def _equals(value: Any, expected: Any) -> bool:
    return bool(await value == expected)


def watch_disconnect(cluster: Cluster, number: int) -> list[Any]:
    """Record (namespace, reason) each time client ``number`` is disconnected."""
    reasons: list[Any] = []

    def on_disconnect(namespace: str, reason: Any = None) -> None:
        reasons.append((namespace, reason))

    # under "*", as the client's catch-all, which a handler under "/" would hide
    cluster.clients[number].sio.on("disconnect", on_disconnect, namespace="*")
    return reasons


def _disconnected(cluster: Cluster, number: int, nsp: str = "/") -> Any:
    async def check() -> bool:
        return cluster.clients[number].sio.get_sid(nsp) is None

    return check


# ------------------------------------------- Node's classic adapter on a cluster


@pytest.fixture
async def classic_on_cluster(redis_cluster: RedisCluster) -> AsyncIterator[Cluster]:
    built: list[Cluster] = []
    try:
        yield await build_cluster(
            redis_cluster.url, built, cluster_nodes=redis_cluster.startup_nodes,
            namespaces=("/",),
        )
    finally:
        await tear_down(built)


async def test_classic_adapters_on_a_redis_cluster(
    classic_on_cluster: Cluster, redis_cluster: RedisCluster
) -> None:
    """Node's createAdapter on a node-redis cluster client and our AsyncRedisAdapter on
    ``redis+cluster://``: server counts summed over the nodes, broadcasts, rooms,
    fetchSockets, allRooms, socketsJoin/socketsLeave, serverSideEmit with acknowledgements
    and disconnectSockets both ways, and our RemoteSocket of the Node server's socket."""
    mixed = classic_on_cluster
    assert mixed.node.ready_info["cluster"] is True
    assert mixed.node.ready_info["adapter"] == "classic"
    sids = mixed.sids()
    # each server subscribes on one node of its choice: counted over all of them
    assert await mixed.node.command("server_count", nsp="/") == 3
    for server in mixed.servers:
        assert await server.adapter.server_count() == 3
    # Node's node is random, ours the first master: one more subscriber of the request
    # channel on every node makes both sides sum over all three, whatever they chose
    extra = [aioredis.Redis(host=host, port=port, **NO_CLIENT_SETINFO)
             for host, port in redis_cluster.startup_nodes]
    pubsubs = [connection.pubsub() for connection in extra]
    try:
        for pubsub in pubsubs:
            await asyncio.wait_for(pubsub.subscribe(f"{mixed.key}-request#/#"), 5)
        assert await mixed.node.command("server_count", nsp="/") == 6
        assert await mixed.py.server_count() == 6
    finally:
        for pubsub, connection in zip(pubsubs, extra, strict=True):
            await pubsub.aclose()
            await connection.aclose()

    async def three_again() -> bool:
        counts = [await mixed.node.command("server_count", nsp="/"),
                  await mixed.py.server_count()]
        return counts == [3, 3]

    await eventually(three_again, "both count 3 servers again")

    for requester in REQUESTERS:
        for number, (target, receivers) in enumerate(BROADCASTS):
            event = f"{requester}-{number}"
            payload = PAYLOADS[number % 2]
            await mixed.emit(requester, event, payload, **target)
            await mixed.check(requester, event, {n: payload for n in receivers},
                              rooms=target.get("rooms", ()))
        await dates(mixed, requester)  # the classic flavour's broadcasts: all MessagePack
        other = 2 if requester == "node" else 0
        await mixed.emit(requester, f"{requester}-sid", [1], rooms=[sids[other]])
        await mixed.check(requester, f"{requester}-sid", {other: [1]}, rooms=[sids[other]])

        found = {s["id"]: s for s in await fetch(mixed, requester)}
        assert set(found) == set(sids)
        assert found[sids[0]]["rooms"] == {sids[0], "room1", 123}
        assert found[sids[2]]["rooms"] == {sids[2], "room3"}
        assert [s["id"] for s in await fetch(mixed, requester, rooms=["room2"])] == [sids[1]]
        await no_pending_requests(mixed, requester)

    expected = {*sids, "room1", "room2", "room3", 123}
    assert set(await mixed.node.command("all_rooms", nsp="/")) == expected
    assert await mixed.py.all_rooms() == expected

    # rooms joined on the other side are seen by the requests and reached by broadcasts
    await mixed.node.command("sockets_join", nsp="/", rooms=["room3"], target="joined")
    await mixed.py.sockets_join("joined", rooms=[sids[0]])
    await wait_rooms(mixed, 2, {"joined"})
    await wait_rooms(mixed, 0, {"joined"})
    assert set(await mixed.node.command("all_rooms", nsp="/")) == expected | {"joined"}
    assert await mixed.py.all_rooms() == expected | {"joined"}
    for requester in REQUESTERS:
        await mixed.emit(requester, f"{requester}-joined", ["j"], rooms=["joined"])
        await mixed.check(requester, f"{requester}-joined", {0: ["j"], 2: ["j"]},
                          rooms=["joined"])
    for requester in REQUESTERS:
        err, responses = await emit_with_ack(mixed, requester, "ask", to="joined", timeout=3)
        assert (err, counted(responses)) == (None, counted(["client-ack"] * 2))

    # serverSideEmit with acknowledgements, both ways
    for number, server in enumerate(mixed.servers):
        server.adapter.on_server_side_event("hello", lambda *args, n=number: [n, *args])
    await mixed.node.command("on_server_side_event", nsp="/", event="hello", reply="node")
    result = await mixed.node.command("server_side_emit", nsp="/", event="hello", args=[1],
                                      ack=True)
    assert (result["err"], counted(result["responses"])) == (None, counted([[0, 1], [1, 1]]))
    assert counted(await mixed.py.server_side_call("hello", 2)) == counted(["node", [1, 2]])
    await no_pending_requests(mixed, "node")
    await no_pending_requests(mixed, "py")

    # socketsLeave both ways: the Node server's socket by ours, servers[1]'s by Node's
    await mixed.py.sockets_leave("joined", rooms=[sids[0]])
    await mixed.node.command("sockets_leave", nsp="/", rooms=["room3"], target="joined")
    await wait_rooms(mixed, 0, set(), {"joined"})
    await wait_rooms(mixed, 2, set(), {"joined"})
    assert set(await mixed.node.command("all_rooms", nsp="/")) == expected
    assert await mixed.py.all_rooms() == expected
    # our RemoteSocket of the Node server's socket: emit, join, leave
    [remote] = await mixed.py.fetch_sockets(rooms=[sids[0]])
    await remote.emit("direct", 1, b"\x02")
    assert await mixed.clients[0].wait_for("direct") == [[1, b"\x02"]]
    await remote.join("rs")
    await wait_rooms(mixed, 0, {"rs"})
    await mixed.emit("py", "to-rs", ["r"], rooms=["rs"])
    await mixed.check("py", "to-rs", {0: ["r"]}, rooms=["rs"])
    await remote.leave("rs")
    await wait_rooms(mixed, 0, set(), {"rs"})

    # disconnectSockets both ways
    reasons = [watch_disconnect(mixed, number) for number in range(3)]
    await mixed.node.command("disconnect_sockets", nsp="/", rooms=["room2"])
    await eventually(_disconnected(mixed, 1), "client 1 disconnected by the Node server")
    await mixed.py.disconnect_sockets(rooms=[sids[0]])
    event = await mixed.node.wait_event("disconnect", nsp="/", id=sids[0])
    assert event["reason"] == "server namespace disconnect"
    await eventually(_disconnected(mixed, 0), "client 0 disconnected by a Python server")
    assert reasons[:2] == [[("/", SERVER_DISCONNECT)]] * 2
    assert reasons[2] == [] and mixed.clients[2].sio.connected
