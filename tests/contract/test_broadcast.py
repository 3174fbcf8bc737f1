"""The contract: broadcasts, and broadcasts with acknowledgements.

See ``tests/contract/rig.py`` for the cluster every case runs on.
"""

from __future__ import annotations

import pytest

from socketio_redis_adapter.core.waiters import RequestTimeoutError
from tests.contract.rig import (
    REQUESTERS,
    Cluster,
    ack_registry_empty,
    counted,
    emit_with_ack,
)

pytestmark = pytest.mark.node

# ---------------------------------------------------------------- broadcast


@pytest.mark.parametrize("requester", REQUESTERS)
async def test_broadcasts_to_all_clients(cluster: Cluster, requester: str) -> None:
    await cluster.emit(requester, "test", [1, "2", b"\x03\x04"])
    await cluster.check(requester, "test", {n: [1, "2", b"\x03\x04"] for n in range(3)})


@pytest.mark.parametrize("requester", REQUESTERS)
async def test_broadcasts_to_all_clients_in_a_namespace(cluster: Cluster, requester: str) -> None:
    await cluster.emit(requester, "test", [], nsp="/custom")
    await cluster.check(requester, "test", {0: [], 1: [], 2: []}, nsp="/custom")
    await cluster.check(requester, "test", {})  # nothing in "/"


@pytest.mark.parametrize("requester", REQUESTERS)
async def test_broadcasts_to_all_clients_in_a_room(cluster: Cluster, requester: str) -> None:
    await cluster.emit(requester, "test", [], rooms=["room3"])
    await cluster.check(requester, "test", {2: []})


@pytest.mark.parametrize("requester", REQUESTERS)
async def test_broadcasts_to_all_clients_except_in_room(cluster: Cluster, requester: str) -> None:
    await cluster.emit(requester, "test", [], except_rooms=["room1"])
    await cluster.check(requester, "test", {2: []})


@pytest.mark.parametrize("requester", REQUESTERS)
async def test_broadcasts_to_all_clients_once(cluster: Cluster, requester: str) -> None:
    # client 1 is in room1 and room2; client 2 (room3) is excluded
    await cluster.emit(requester, "test", [], rooms=["room1", "room2"], except_rooms=["room3"])
    await cluster.check(requester, "test", {0: [], 1: []})


@pytest.mark.parametrize("requester", REQUESTERS)
async def test_broadcasts_to_local_clients_only(cluster: Cluster, requester: str) -> None:
    await cluster.emit(requester, "test", [], local=True)
    await cluster.check(requester, "test", {0 if requester == "node" else 1: []})


@pytest.mark.parametrize("requester", REQUESTERS)
async def test_broadcasts_to_a_single_client(cluster: Cluster, requester: str) -> None:
    target = 2 if requester == "node" else 0
    await cluster.emit(requester, "test", [], rooms=[cluster.clients[target].sid()])
    await cluster.check(requester, "test", {target: []})


@pytest.mark.parametrize("requester", REQUESTERS)
async def test_broadcasts_to_a_numeric_room(cluster: Cluster, requester: str) -> None:
    await cluster.emit(requester, "test", [], rooms=[123])
    await cluster.check(requester, "test", {0: []})


# ----------------------------------------------- broadcast with acknowledgements


@pytest.mark.parametrize("requester", REQUESTERS)
async def test_broadcasts_with_multiple_acknowledgements(
    cluster: Cluster, requester: str
) -> None:
    for number, client in enumerate(cluster.clients):
        client.ack_reply = number + 1
    err, responses = await emit_with_ack(cluster, requester, "test")
    assert err is None
    assert counted(responses) == counted([1, 2, 3])
    for client in cluster.clients:
        assert client.named("test") == [[1, "2"]]
    await ack_registry_empty(cluster, requester)


@pytest.mark.parametrize("requester", REQUESTERS)
async def test_broadcasts_with_multiple_acknowledgements_binary_content(
    cluster: Cluster, requester: str
) -> None:
    for number, client in enumerate(cluster.clients):
        client.ack_reply = bytes([number, 0xFF])
    err, responses = await emit_with_ack(cluster, requester, "test")
    assert err is None
    assert all(isinstance(r, bytes) for r in responses), responses
    assert sorted(responses) == [b"\x00\xff", b"\x01\xff", b"\x02\xff"]
    await ack_registry_empty(cluster, requester)


@pytest.mark.parametrize("requester", REQUESTERS)
async def test_broadcasts_with_multiple_acknowledgements_no_client(
    cluster: Cluster, requester: str
) -> None:
    err, responses = await emit_with_ack(cluster, requester, "test", to="abc")
    assert (err, responses) == (None, [])
    await ack_registry_empty(cluster, requester)


@pytest.mark.parametrize("requester", REQUESTERS)
async def test_broadcasts_with_multiple_acknowledgements_timeout(
    cluster: Cluster, requester: str
) -> None:
    for number, client in enumerate(cluster.clients):
        client.ack_reply = number + 1
    silent = 2 if requester == "node" else 0  # on the other side of the requester
    cluster.never_ack(silent, "test")
    if requester == "py":
        with pytest.raises(RequestTimeoutError) as info:
            await cluster.py.emit_with_ack("test", (1, "2"), timeout=0.5)
        responses = info.value.responses
    else:
        err, responses = await emit_with_ack(cluster, requester, "test")
        assert err == "operation has timed out"
    expected = [n + 1 for n in range(3) if n != silent]
    assert counted(responses) == counted(expected)
    await ack_registry_empty(cluster, requester)
