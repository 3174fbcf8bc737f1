"""The contract: socketsJoin/socketsLeave, disconnectSockets and fetchSockets.

See ``tests/contract/rig.py`` for the cluster every case runs on.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from tests.contract.rig import (
    NO_ROOMS,
    REQUESTERS,
    SERVER_DISCONNECT,
    Cluster,
    ClusterFactory,
    fetch,
    no_pending_requests,
)

pytestmark = pytest.mark.node

# ------------------------------------------------------ socketsJoin / Leave


async def sockets_op(
    cluster: Cluster, requester: str, op: str, target: str, rooms: list[Any] | None = None
) -> None:
    """``io.in(rooms).socketsJoin(target)`` (op "join") or ``socketsLeave`` ("leave")."""
    if requester == "node":
        await cluster.node.command(f"sockets_{op}", nsp="/", rooms=rooms or [], target=target)
    elif op == "join":
        await cluster.py.sockets_join(target, rooms=rooms)
    else:
        await cluster.py.sockets_leave(target, rooms=rooms)


@pytest.mark.parametrize("requester", REQUESTERS)
async def test_sockets_join_all(join_cluster: Cluster, requester: str) -> None:
    await sockets_op(join_cluster, requester, "join", "room4")
    await join_cluster.expect_rooms(
        [{"a", "b", "room4"}, {"a", "room4"}, {"a", "b", "room4"}], requester
    )


@pytest.mark.parametrize("requester", REQUESTERS)
async def test_sockets_join_matching(join_cluster: Cluster, requester: str) -> None:
    await sockets_op(join_cluster, requester, "join", "room4", rooms=["b"])
    await join_cluster.expect_rooms([{"a", "b", "room4"}, {"a"}, {"a", "b", "room4"}], requester)


@pytest.mark.parametrize("requester", REQUESTERS)
async def test_sockets_join_given_socket(join_cluster: Cluster, requester: str) -> None:
    target = 2 if requester == "node" else 0
    await sockets_op(
        join_cluster, requester, "join", "room4", rooms=[join_cluster.clients[target].sid()]
    )
    expected = [{"a", "b"}, {"a"}, {"a", "b"}]
    expected[target].add("room4")
    await join_cluster.expect_rooms(expected, requester)


@pytest.mark.parametrize("requester", REQUESTERS)
async def test_sockets_leave_all(join_cluster: Cluster, requester: str) -> None:
    await sockets_op(join_cluster, requester, "leave", "a")
    await join_cluster.expect_rooms([{"b"}, set(), {"b"}], requester)


@pytest.mark.parametrize("requester", REQUESTERS)
async def test_sockets_leave_matching(join_cluster: Cluster, requester: str) -> None:
    await sockets_op(join_cluster, requester, "leave", "a", rooms=["b"])
    await join_cluster.expect_rooms([{"b"}, {"a"}, {"b"}], requester)


@pytest.mark.parametrize("requester", REQUESTERS)
async def test_sockets_leave_given_socket(join_cluster: Cluster, requester: str) -> None:
    target = 2 if requester == "node" else 0
    await sockets_op(
        join_cluster, requester, "leave", "a", rooms=[join_cluster.clients[target].sid()]
    )
    expected = [{"a", "b"}, {"a"}, {"a", "b"}]
    expected[target].discard("a")
    await join_cluster.expect_rooms(expected, requester)


# ---------------------------------------------------------- disconnectSockets


@pytest.mark.parametrize("requester", REQUESTERS)
async def test_disconnect_sockets_all(make_cluster: ClusterFactory, requester: str) -> None:
    cluster = await make_cluster(rooms=NO_ROOMS, namespaces=("/",))
    reasons: list[list[Any]] = [[], [], []]
    gone = [asyncio.Event() for _ in range(3)]
    for number, client in enumerate(cluster.clients):
        def on_disconnect(reason: Any = None, number: int = number) -> None:
            reasons[number].append(reason)
            gone[number].set()

        client.sio.on("disconnect", on_disconnect)
    if requester == "node":
        await cluster.node.command("disconnect_sockets", nsp="/")
    else:
        await cluster.py.disconnect_sockets()
    await asyncio.wait_for(asyncio.gather(*(event.wait() for event in gone)), 5)
    # python-socketio's name for Socket.IO's "io server disconnect"
    assert reasons == [[SERVER_DISCONNECT]] * 3
    assert (await cluster.node.command("sockets"))["/"] == []
    for server in cluster.servers:
        assert await server.adapter.fetch_sockets(local=True) == []


# -------------------------------------------------------------- fetchSockets


@pytest.mark.parametrize("requester", REQUESTERS)
async def test_fetch_sockets_returns_all(bare_cluster: Cluster, requester: str) -> None:
    sockets = await fetch(bare_cluster, requester)
    assert sorted(s["id"] for s in sockets) == sorted(bare_cluster.sids())
    assert sorted(s["data"] for s in sockets) == ["test-0", "test-1", "test-2"]
    await no_pending_requests(bare_cluster, requester)


@pytest.mark.parametrize("requester", REQUESTERS)
async def test_fetch_sockets_returns_a_single_socket(
    bare_cluster: Cluster, requester: str
) -> None:
    target = 2 if requester == "node" else 0
    sid = bare_cluster.clients[target].sid()
    [socket] = await fetch(bare_cluster, requester, rooms=[sid])
    assert socket["id"] == sid
    assert socket["data"] == f"test-{target}"
    assert socket["rooms"] == {sid}  # rooms.size === 1
    handshake = socket["handshake"]
    if requester == "py":
        # the Node socket, as the Node server itself describes it
        [own] = await bare_cluster.node.command("fetch_sockets", nsp="/", rooms=[sid], local=True)
        assert handshake == own["handshake"]
        assert handshake["auth"] == {"rooms": [], "data": "test-0"}
    else:
        # the Python socket, as its own server describes it
        [own] = await bare_cluster.servers[1].adapter.fetch_sockets(sid, local=True)
        assert handshake == own.handshake
        assert set(handshake) == {
            "headers", "time", "address", "xdomain", "secure", "issued", "url", "query", "auth"
        }
        assert handshake["address"] == "127.0.0.1"
        assert handshake["query"]["EIO"] == "4"
        assert handshake["query"]["transport"] == "websocket"
        assert handshake["url"].startswith("/socket.io/?")
        assert "transport=websocket" in handshake["url"]
        assert handshake["headers"]["host"] == f"127.0.0.1:{bare_cluster.servers[1].port}"
        assert handshake["secure"] is False
        assert abs(handshake["issued"] - time.time() * 1000) < 60_000
        assert handshake["time"].endswith("GMT+0000 (Coordinated Universal Time)")
    await no_pending_requests(bare_cluster, requester)


@pytest.mark.parametrize("requester", REQUESTERS)
async def test_fetch_sockets_returns_only_local(bare_cluster: Cluster, requester: str) -> None:
    sockets = await fetch(bare_cluster, requester, local=True)
    local = 0 if requester == "node" else 1
    assert [s["id"] for s in sockets] == [bare_cluster.clients[local].sid()]
    await no_pending_requests(bare_cluster, requester)
