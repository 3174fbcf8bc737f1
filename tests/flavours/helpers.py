"""Helpers of the flavour tests: the three-server layout and the delivery check."""

from __future__ import annotations

import uuid
from typing import Any

from tests.flavours.rig import FlavourRig
from tests.support.sio_cluster import Client, PyServer

ROOMS: list[list[Any]] = [["r1"], ["r1", "r2"], ["r3", 7]]


async def three(rig: FlavourRig) -> tuple[list[PyServer], list[Client]]:
    servers = [await rig.server() for _ in range(3)]
    clients = [
        await rig.client(server, rooms=rooms, data=f"data-{number}")
        for number, (server, rooms) in enumerate(zip(servers, ROOMS, strict=True))
    ]
    await rig.settled()
    return servers, clients


async def check(server: PyServer, clients: list[Client], event: str,
                 expected: dict[int, list[Any]]) -> None:
    """Clients in ``expected`` got ``event`` once with those args; the others never
    (proven by a marker sent after it by the same server).

    On a Redis Cluster a one-room broadcast of the sharded dynamic modes takes the
    room's channel, which may live on another node than the marker's: the marker can
    overtake it, so the receivers also wait for the event itself.
    """
    marker = f"marker-{uuid.uuid4().hex[:6]}"
    await server.sio.emit(marker)
    for number, client in enumerate(clients):
        await client.wait_for(marker)
        if number in expected:
            await client.wait_for(event)
        got = client.named(event)
        assert got == ([expected[number]] if number in expected else []), (number, got)



__all__ = ["ROOMS", "check", "three"]
