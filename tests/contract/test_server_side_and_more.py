"""The contract: serverSideEmit, allRooms, unknown channels, the custom
parser and the specific response channel.

See ``tests/contract/rig.py`` for the cluster every case runs on.
"""

from __future__ import annotations

from typing import Any

import pytest
import redis.asyncio as aioredis

from socketio_redis_adapter.core.waiters import RequestTimeoutError
from tests.contract.rig import (
    NO_ROOMS,
    REQUESTERS,
    Cluster,
    ClusterFactory,
    ack_registry_empty,
    counted,
    emit_with_ack,
    eventually,
    fetch,
    no_pending_requests,
)
from tests.support.sio_cluster import PyServer

pytestmark = pytest.mark.node

# ------------------------------------------------------------ serverSideEmit


def record(server: PyServer, event: str, reply: Any = None) -> list[list[Any]]:
    """Register a server-side handler on a Python server; return its call log."""
    calls: list[list[Any]] = []

    def handler(*args: Any) -> Any:
        calls.append(list(args))
        return reply

    server.adapter.on_server_side_event(event, handler)
    return calls


@pytest.mark.parametrize("requester", REQUESTERS)
async def test_server_side_emit_to_other_servers(cluster: Cluster, requester: str) -> None:
    await cluster.node.command("on_server_side_event", nsp="/", event="hello", no_reply=True)
    await cluster.node.command("on_server_side_event", nsp="/", event="marker", no_reply=True)
    hello = [record(server, "hello") for server in cluster.servers]
    marker = [record(server, "marker") for server in cluster.servers]
    if requester == "node":
        await cluster.node.command(
            "server_side_emit", nsp="/", event="hello", args=["world", 1, "2"]
        )
        receivers, sender = [hello[0], hello[1]], None
    else:
        await cluster.py.server_side_emit("hello", "world", 1, "2")
        node_event = await cluster.node.wait_event("server_side_event", name="hello")
        assert node_event["args"] == ["world", 1, "2"]
        receivers, sender = [hello[1]], hello[0]

    async def received() -> bool:
        return all(calls for calls in receivers)

    await eventually(received, "the other servers got the event")
    assert all(calls == [["world", 1, "2"]] for calls in receivers)
    # a marker from another server: the sender handles its messages in order
    if requester == "node":
        await cluster.servers[0].adapter.server_side_emit("marker")
        await cluster.node.wait_event("server_side_event", name="marker")
        assert [e for e in cluster.node.events if e.get("name") == "hello"] == []
    else:
        await cluster.servers[1].adapter.server_side_emit("marker")

        async def sender_got_marker() -> bool:
            return bool(marker[0])

        await eventually(sender_got_marker, "servers[0] got the marker")
        assert sender == []


@pytest.mark.parametrize("requester", REQUESTERS)
async def test_server_side_emit_with_responses(cluster: Cluster, requester: str) -> None:
    if requester == "node":
        record(cluster.servers[0], "hello", 2)
        record(cluster.servers[1], "hello", "3")
        result = await cluster.node.command(
            "server_side_emit", nsp="/", event="hello", args=["world"], ack=True
        )
        assert result["err"] is None
        responses = result["responses"]
    else:
        await cluster.node.command("on_server_side_event", nsp="/", event="hello", reply=2)
        record(cluster.servers[1], "hello", "3")
        responses = await cluster.py.server_side_call("hello", "world")
    assert counted(responses) == counted([2, "3"])
    await no_pending_requests(cluster, requester)


@pytest.mark.parametrize("requester", REQUESTERS)
async def test_server_side_emit_timeout_if_one_server_does_not_respond(
    cluster: Cluster, requester: str
) -> None:
    if requester == "node":
        record(cluster.servers[0], "hello", 2)  # servers[1] has no handler
        result = await cluster.node.command(
            "server_side_emit", nsp="/", event="hello", args=["world"], ack=True
        )
        message, responses = result["err"], result["responses"]
    else:
        # Node's handler never calls back
        await cluster.node.command("on_server_side_event", nsp="/", event="hello", no_reply=True)
        record(cluster.servers[1], "hello", 2)
        with pytest.raises(RequestTimeoutError) as info:
            await cluster.py.server_side_call("hello", "world")
        message, responses = str(info.value), info.value.responses
    assert message == "timeout reached: only 1 responses received out of 2"
    assert responses == [2]
    await no_pending_requests(cluster, requester)


# ------------------------------------------------------------------ allRooms


@pytest.mark.parametrize("requester", REQUESTERS)
async def test_all_rooms_across_several_nodes(bare_cluster: Cluster, requester: str) -> None:
    sids = bare_cluster.sids()
    if requester == "node":  # a socket on the other side joins woot1
        await bare_cluster.servers[1].sio.enter_room(sids[2], "woot1")
        rooms = await bare_cluster.node.command("all_rooms", nsp="/")
        assert len(rooms) == 4
        rooms = set(rooms)
    else:
        await bare_cluster.node.command("join", sid=sids[0], nsp="/", room="woot1")
        rooms = await bare_cluster.py.all_rooms()
    assert rooms == {*sids, "woot1"}
    await no_pending_requests(bare_cluster, requester)


# ------------------------------------------------------- unknown channels


async def test_ignores_messages_from_unknown_channels(cluster: Cluster) -> None:
    key = cluster.key
    garbage = b"\x01not a message\xff\x00"
    redis = aioredis.Redis.from_url(cluster.redis_url)
    try:
        for channel in (
            f"{key}#/#nope",  # matches every "/" pattern; not <key>#<nsp>#<room>#
            f"{key}#/#nope#",  # a room nobody is in
            f"{key}#/unknown#",  # a namespace nobody serves
            f"{key}-request#/#",  # undecodable request
            "foo",  # unrelated (Node's test: PSUBSCRIBE f?o)
            "woot",
        ):
            await redis.publish(channel, garbage)
    finally:
        await redis.aclose()
    for requester in REQUESTERS:
        await cluster.emit(requester, f"after-{requester}", ["ok"])
        await cluster.check(requester, f"after-{requester}", {n: ["ok"] for n in range(3)})
    assert cluster.node.running
    assert [e for e in cluster.node.events if e.get("event") == "error"] == []
    assert await cluster.node.command("server_count", nsp="/") == 3


# ------------------------------------------------------------- custom parser


@pytest.mark.parametrize("requester", REQUESTERS)
async def test_custom_parser_broadcasts(make_cluster: ClusterFactory, requester: str) -> None:
    cluster = await make_cluster(parser="json", namespaces=("/",))
    await cluster.emit(requester, "test", [1, "2", [3]])
    await cluster.check(requester, "test", {n: [1, "2", [3]] for n in range(3)})


# ------------------------------------------- specific response channel


@pytest.mark.parametrize("requester", REQUESTERS)
async def test_specific_response_channel(make_cluster: ClusterFactory, requester: str) -> None:
    """publishOnSpecificResponseChannel on every member: requests still complete."""
    cluster = await make_cluster(rooms=NO_ROOMS, namespaces=("/",), specific=True)
    sockets = await fetch(cluster, requester)
    assert sorted(s["id"] for s in sockets) == sorted(cluster.sids())
    for number, client in enumerate(cluster.clients):
        client.ack_reply = number + 1
    err, responses = await emit_with_ack(cluster, requester, "test")
    assert err is None
    assert counted(responses) == counted([1, 2, 3])
    await no_pending_requests(cluster, requester)
    await ack_registry_empty(cluster, requester)
