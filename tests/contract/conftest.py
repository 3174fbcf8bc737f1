"""Fixtures of the contract tests: mixed clusters, built fresh per test."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.contract.rig import (
    BROADCAST_ROOMS,
    JOIN_ROOMS,
    NAMESPACES,
    NO_ROOMS,
    Cluster,
    ClusterFactory,
)
from tests.support.node_peer import NodePeer
from tests.support.redis_server import RedisServer
from tests.support.sio_cluster import Client, PyServer


@pytest.fixture
async def make_cluster(redis_server: RedisServer) -> AsyncIterator[ClusterFactory]:
    """Build clusters on a fresh key; everything is stopped at teardown."""
    built: list[tuple[NodePeer, list[PyServer], list[Client], asyncio.Event]] = []

    async def make(
        *,
        rooms: list[list[Any]] = BROADCAST_ROOMS,
        namespaces: tuple[str, ...] = NAMESPACES,
        parser: str = "msgpack",
        specific: bool = False,
    ) -> Cluster:
        key = f"contract-{uuid.uuid4().hex[:8]}"
        node = await NodePeer.start(  # stops itself if it cannot start
            redis_server.url, key=key, namespaces=namespaces, parser=parser,
            requests_timeout_ms=1000, specific_response_channel=specific,
        )
        servers: list[PyServer] = []
        clients: list[Client] = []
        release = asyncio.Event()
        built.append((node, servers, clients, release))  # torn down even if a step fails
        for _ in range(2):
            servers.append(await PyServer.start(
                redis_server.url, key=key, parser=parser, requests_timeout=1.0,
                publish_on_specific_response_channel=specific,
            ))
        urls = [node.url, servers[0].url, servers[1].url]
        for number, (url, client_rooms) in enumerate(zip(urls, rooms, strict=True)):
            clients.append(await Client.connect(
                url, rooms=client_rooms, namespaces=namespaces, data=f"test-{number}"
            ))
        for nsp in namespaces:
            await node.wait_event("connection", nsp=nsp, id=clients[0].sid(nsp))
        for server in servers:  # namespaces other than "/" subscribe with their first client
            await asyncio.wait_for(server.adapter.start(), 5)
        return Cluster(redis_server.url, key, node, servers, clients, release)

    yield make
    for node, servers, clients, release in built:
        release.set()
        for client in clients:
            await asyncio.wait_for(client.close(), 10)
        for server in servers:
            await asyncio.wait_for(server.stop(), 10)
        await node.stop()


@pytest.fixture
async def cluster(make_cluster: ClusterFactory) -> Cluster:
    return await make_cluster()


@pytest.fixture
async def join_cluster(make_cluster: ClusterFactory) -> Cluster:
    return await make_cluster(rooms=JOIN_ROOMS, namespaces=("/",))


@pytest.fixture
async def bare_cluster(make_cluster: ClusterFactory) -> Cluster:
    return await make_cluster(rooms=NO_ROOMS, namespaces=("/",))
