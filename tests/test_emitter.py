"""``Emitter`` and ``SyncEmitter``: the bytes they publish equal those of Node's
``@socket.io/redis-emitter`` 5.1.0, and Node and Python servers act on them."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis

from socketio_redis_adapter import Emitter, JsonParser, SyncEmitter
from tests.support.node_peer import NODE_DIR, NodePeer, to_wire
from tests.support.redis_server import RedisServer
from tests.support.sio_cluster import Client, PyServer

CAPTURE_SCRIPT = NODE_DIR / "emit_capture.js"


def new_key(prefix: str = "emitter") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


# -- capturing what is published --------------------------------------------


class Capture:
    """A raw, binary-safe subscriber to every channel that starts with ``key``.

    ``collect()`` publishes a sentinel and returns what arrived before it, so
    "nothing more was published" is proven without sleeping.
    """

    def __init__(self, redis_url: str, key: str) -> None:
        self.key = key
        self.client = aioredis.Redis.from_url(redis_url)
        self.pubsub = self.client.pubsub()
        self.sentinel = f"{key}|end-of-capture".encode()

    async def __aenter__(self) -> Capture:
        await self.pubsub.psubscribe(f"{self.key}*")
        message = await self._next(5.0)
        assert message["type"] == "psubscribe", message
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.pubsub.aclose()
        await self.client.aclose()

    async def _next(self, timeout: float) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            message = await self.pubsub.get_message(timeout=deadline - loop.time())
            if message is not None:
                return dict(message)
        raise AssertionError(f"nothing arrived on {self.key}* within {timeout}s")

    async def collect(self, timeout: float = 10.0) -> list[tuple[bytes, bytes]]:
        """Every (channel, payload) published since the last collect()."""
        await self.client.publish(self.sentinel, b"")
        got: list[tuple[bytes, bytes]] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            message = await self._next(max(deadline - loop.time(), 0.01))
            if message["type"] != "pmessage":
                continue
            if message["channel"] == self.sentinel:
                return got
            got.append((message["channel"], message["data"]))


async def node_emitter_publishes(redis_url: str, key: str, calls: list[dict[str, Any]]) -> None:
    """Run the calls with the real Node emitter (tests/node/emit_capture.js)."""
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("Node.js (`node`) is not on PATH: run `npm ci --prefix tests/node`")
    env = dict(os.environ, REDIS_URL=redis_url, KEY=key)
    env.pop("DEBUG", None)
    process = await asyncio.create_subprocess_exec(
        node, str(CAPTURE_SCRIPT), cwd=str(NODE_DIR), env=env,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(
            process.communicate(json.dumps({"calls": to_wire(calls)}).encode()), 30
        )
    except asyncio.TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode == 0, stderr.decode(errors="replace")
    assert json.loads(stdout) == {"published": len(calls)}


# -- running the same calls with our emitters --------------------------------

PY_METHODS = {
    "emit": "emit",
    "socketsJoin": "sockets_join",
    "socketsLeave": "sockets_leave",
    "disconnectSockets": "disconnect_sockets",
    "serverSideEmit": "server_side_emit",
}


def python_call(emitter: Any, call: dict[str, Any]) -> Any:
    """Apply one call spec (the emit_capture.js format) to our emitter."""
    target = emitter
    if "of" in call:
        target = target.of(call["of"])
    if "to" in call:
        target = target.to(call["to"])
    if "except" in call:
        target = target.except_(call["except"])
    if call.get("volatile"):
        target = target.volatile
    if "compress" in call:
        target = target.compress(call["compress"])
    return getattr(target, PY_METHODS[call["method"]])(*call.get("args", []))


BYTE_CASES: dict[str, list[dict[str, Any]]] = {
    "emit to all": [{"method": "emit", "args": ["hello", 1, "2", {"a": [True, None]}]}],
    "emit with no args": [{"method": "emit", "args": ["bare"]}],
    "to one room": [{"to": "room1", "method": "emit", "args": ["r", {"a": 1}]}],
    "to one room as a list": [{"to": ["room1"], "method": "emit", "args": ["r"]}],
    "to a numeric room": [{"to": 123, "method": "emit", "args": ["n", 7]}],
    "to two rooms except one": [
        {"to": ["room1", "room2"], "except": "room3", "method": "emit", "args": ["m", "x"]}
    ],
    "except only": [{"except": ["room1", "room2"], "method": "emit", "args": ["e"]}],
    "volatile": [{"volatile": True, "method": "emit", "args": ["v", 1]}],
    "compress false": [{"compress": False, "method": "emit", "args": ["c"]}],
    "volatile then compress": [
        {"volatile": True, "compress": False, "method": "emit", "args": ["vc"]}
    ],
    "namespace /custom": [{"of": "/custom", "method": "emit", "args": ["ns", 1]}],
    "namespace without slash": [{"of": "custom", "to": "r", "method": "emit", "args": ["ns"]}],
    "binary args": [
        {"method": "emit", "args": ["bin", b"\x01\x02\x03", {"nested": [b"\x04", b""]}]}
    ],
    "numbers and strings": [
        {
            "method": "emit",
            "args": [
                "types", 0, 127, 128, 255, 256, 65535, 65536, 4294967296, -1, -32, -33,
                -129, -32769, -2147483649, 1.5, -0.25, "é€😀", "x" * 40, "y" * 300,
                list(range(20)), {str(i): i for i in range(17)},
            ],
        }
    ],
    "socketsJoin": [
        {"to": "room1", "except": "roomX", "method": "socketsJoin", "args": [["room2", "room3"]]}
    ],
    "socketsJoin one room": [{"method": "socketsJoin", "args": ["solo"]}],
    "socketsLeave": [{"to": ["a", "b"], "method": "socketsLeave", "args": [["room9"]]}],
    "disconnectSockets(true)": [
        {"to": "room1", "except": ["x"], "method": "disconnectSockets", "args": [True]}
    ],
    "disconnectSockets()": [{"of": "/custom", "method": "disconnectSockets", "args": []}],
    "serverSideEmit": [
        {"method": "serverSideEmit", "args": ["hello", "world", 1, "2", b"\x05", {"é": [None]}]}
    ],
    "serverSideEmit in a namespace": [
        {"of": "/custom", "method": "serverSideEmit", "args": ["ping"]}
    ],
}


@pytest.mark.node
@pytest.mark.parametrize("case", list(BYTE_CASES))
async def test_bytes_equal_node_emitter(redis_server: RedisServer, case: str) -> None:
    calls = BYTE_CASES[case]
    key = new_key()
    async with Capture(redis_server.url, key) as capture:
        await node_emitter_publishes(redis_server.url, key, calls)
        from_node = await capture.collect()
        assert len(from_node) == len(calls)

        emitter = Emitter(redis_server.url, key=key)
        try:
            for call in calls:
                await python_call(emitter, call)
        finally:
            await emitter.close()
        assert await capture.collect() == from_node

        def run_sync() -> None:
            with SyncEmitter(redis_server.url, key=key) as sync_emitter:
                for call in calls:
                    python_call(sync_emitter, call)

        await asyncio.to_thread(run_sync)
        assert await capture.collect() == from_node


async def test_wire_format_without_node(redis_server: RedisServer) -> None:
    """The section 6.1 shapes, checked directly (runs without Node too)."""
    key = new_key()
    async with Capture(redis_server.url, key) as capture, Emitter(
        redis_server.url, key=key
    ) as emitter:
        await emitter.emit("fromEmitter", 1)
        await emitter.to("room1").except_("roomX").sockets_join("room7")
        await emitter.to("room1").sockets_leave(["a", "b"])
        await emitter.disconnect_sockets()
        await emitter.server_side_emit("hello", b"\x05")
        got = await capture.collect()
    request = f"{key}-request#/#".encode()
    assert got == [
        (
            f"{key}#/#".encode(),
            b"\x93\xa7emitter\x83\xa4type\x02\xa4data\x92\xabfromEmitter\x01\xa3nsp\xa1/"
            b"\x83\xa5rooms\x90\xa5flags\x80\xa6except\x90",
        ),
        (request, b'{"type":2,"opts":{"rooms":["room1"],"except":["roomX"]},"rooms":["room7"]}'),
        (request, b'{"type":3,"opts":{"rooms":["room1"],"except":[]},"rooms":["a","b"]}'),
        (request, b'{"type":4,"opts":{"rooms":[],"except":[]},"close":false}'),
        (request, b'{"uid":"emitter","type":6,"data":["hello",{"type":"Buffer","data":[5]}]}'),
    ]


# -- the API, without Node -----------------------------------------------------


async def test_builder_is_immutable_and_of_adds_the_slash(redis_server: RedisServer) -> None:
    async with Emitter(redis_server.url, key=new_key()) as emitter:
        room = emitter.to("a")
        both = room.in_(["b", "a"]).except_("c")
        flagged = both.volatile.compress(False)
        custom = flagged.of("custom")
        assert custom.namespace == "/custom" and emitter.of("/x").namespace == "/x"
        assert emitter.namespace == "/" and "rooms=[]" in repr(emitter)
        assert "rooms=['a']" in repr(room) and "flags={}" in repr(room)
        assert "rooms=['a', 'b'] except=['c'] flags={}" in repr(both)
        assert "flags={'volatile': True, 'compress': False}" in repr(flagged)
        assert custom.client is emitter.client and custom.key == emitter.key


async def test_refusals_publish_nothing(redis_server: RedisServer) -> None:
    key = new_key()
    async with Capture(redis_server.url, key) as capture, Emitter(
        redis_server.url, key=key
    ) as emitter:
        for reserved in ("connect", "connect_error", "disconnect", "disconnecting",
                         "newListener", "removeListener"):
            with pytest.raises(ValueError, match="reserved"):
                await emitter.to("r").emit(reserved, 1)
        with pytest.raises(TypeError):
            await emitter.emit("x", object())
        with pytest.raises(TypeError):
            await emitter.emit("x", {1j: 1})
        with pytest.raises(TypeError, match="acknowledgements"):
            await emitter.emit("x", 1, lambda *a: None)
        with pytest.raises(TypeError, match="acknowledgements"):
            await emitter.server_side_emit("x", lambda *a: None)
        with pytest.raises(TypeError):
            await emitter.server_side_emit("x", {1, 2})
        with pytest.raises(ValueError, match="reserved"):
            await emitter.server_side_emit("connection")
        with pytest.raises(TypeError):
            await emitter.emit(42)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            emitter.to(None)
        with pytest.raises(TypeError):
            emitter.except_([b"bytes"])
        with pytest.raises(TypeError):
            await emitter.sockets_join({"a": 1})
        assert await capture.collect() == []
    with pytest.raises(ValueError):
        Emitter(redis_server.url, key="")
    with pytest.raises(TypeError):
        Emitter(redis.Redis.from_url(redis_server.url))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        SyncEmitter(aioredis.Redis.from_url(redis_server.url))  # type: ignore[arg-type]


async def test_close_only_closes_a_client_it_created(redis_server: RedisServer) -> None:
    client = aioredis.Redis.from_url(redis_server.url)
    try:
        emitter = Emitter(client, key=new_key())
        await emitter.emit("x")
        await emitter.close()
        assert await client.ping()
    finally:
        await client.aclose()

    sync_client = redis.Redis.from_url(redis_server.url)
    try:
        with SyncEmitter(sync_client, key=new_key()) as sync_emitter:
            await asyncio.to_thread(sync_emitter.emit, "x")
        assert await asyncio.to_thread(sync_client.ping)
    finally:
        await asyncio.to_thread(sync_client.close)

    # one created from a URL is closed: its connection leaves the server's client list
    name = f"owned-{uuid.uuid4().hex[:8]}"
    owned = Emitter(f"{redis_server.url}?client_name={name}", key=new_key())
    await owned.of("/x").emit("x")
    assert name in await client_names(redis_server)
    await owned.of("/x").close()
    await wait_gone(redis_server, name)

    sync_name = f"owned-sync-{uuid.uuid4().hex[:8]}"
    sync_owned = SyncEmitter(f"{redis_server.url}?client_name={sync_name}", key=new_key())
    await asyncio.to_thread(sync_owned.emit, "x")
    assert sync_name in await client_names(redis_server)
    await asyncio.to_thread(sync_owned.close)
    await wait_gone(redis_server, sync_name)


async def client_names(redis_server: RedisServer) -> list[str]:
    observer = aioredis.Redis.from_url(redis_server.url)
    try:
        return [str(entry["name"]) for entry in await observer.client_list()]
    finally:
        await observer.aclose()


async def wait_gone(redis_server: RedisServer, name: str) -> None:
    for _ in range(100):
        if name not in await client_names(redis_server):
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"the connection {name} is still open")


async def test_json_parser(redis_server: RedisServer) -> None:
    key = new_key()
    async with Capture(redis_server.url, key) as capture:
        with SyncEmitter(redis_server.url, key=key, parser="json") as emitter:
            await asyncio.to_thread(emitter.to("r").emit, "j", b"\x01", "é")
        [(channel, payload)] = await capture.collect()
    assert channel == f"{key}#/#r#".encode()
    assert payload == (
        '["emitter",{"type":2,"data":["j",{"type":"Buffer","data":[1]},"é"],"nsp":"/"},'
        '{"rooms":["r"],"flags":{},"except":[]}]'
    ).encode()
    assert JsonParser().decode(payload)[0] == "emitter"


# -- Node and Python servers acting on it --------------------------------------


class Cluster:
    """A Node server and a Python server on one key, two clients on each.

    Clients 0 and 1 are on Node, 2 and 3 on Python; 0 and 2 are in room1,
    1 and 3 in room2.  Every client is in the namespaces ``/`` and ``/custom``.
    """

    def __init__(
        self, key: str, node: NodePeer, server: PyServer, clients: list[Client], sync: bool,
        emitter: Emitter | SyncEmitter,
    ) -> None:
        self.key = key
        self.node = node
        self.server = server
        self.clients = clients
        self.sync = sync
        self.emitter = emitter

    async def send(self, action: Callable[[Any], Any]) -> None:
        """Run ``action(emitter)``; the sync emitter runs in a thread."""
        if self.sync:
            await asyncio.to_thread(action, self.emitter)
        else:
            await action(self.emitter)

    async def check(self, event: str, expected: dict[int, list[Any]], nsp: str = "/") -> None:
        """Each client in ``expected`` got the args once; the others nothing.

        A marker to everyone from the same emitter follows the event, so a
        client that got the marker would have got the event before it.
        """
        marker = f"marker-{uuid.uuid4().hex[:6]}"
        await self.send(lambda emitter: emitter.of(nsp).emit(marker))
        for client in self.clients:
            await client.wait_for(marker, namespace=nsp)
        got = {number: client.named(event, nsp) for number, client in enumerate(self.clients)}
        assert got == {
            number: [expected[number]] if number in expected else []
            for number in range(len(self.clients))
        }

    async def node_rooms(self, client: int, nsp: str = "/") -> list[Any]:
        sid = self.clients[client].sid(nsp)
        sockets = await self.node.command("sockets")
        return next(s["rooms"] for s in sockets[nsp] if s["id"] == sid)

    def python_rooms(self, client: int, nsp: str = "/") -> list[Any]:
        return list(self.server.adapter.get_rooms(self.clients[client].sid(nsp), nsp))

    async def wait_rooms(self, predicate: Callable[[list[Any], list[Any]], bool]) -> None:
        """Poll (bounded) until ``predicate(node rooms, python rooms)`` holds.

        Each list holds the rooms of every client on that server, in the
        namespace ``/``.
        """
        for _ in range(100):
            node_rooms = [await self.node_rooms(0), await self.node_rooms(1)]
            python_rooms = [self.python_rooms(2), self.python_rooms(3)]
            if predicate(node_rooms, python_rooms):
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"rooms never matched: node {node_rooms}, python {python_rooms}")


NAMESPACES = ("/", "/custom")


@pytest.fixture(params=["async", "sync"])
async def cluster(redis_server: RedisServer, request: pytest.FixtureRequest
                  ) -> AsyncIterator[Cluster]:
    key = new_key("emitter-cluster")
    node = await NodePeer.start(redis_server.url, key=key, namespaces=NAMESPACES)
    server: PyServer | None = None
    clients: list[Client] = []
    sync = request.param == "sync"
    emitter: Emitter | SyncEmitter = (
        SyncEmitter(redis_server.url, key=key) if sync else Emitter(redis_server.url, key=key)
    )
    try:
        server = await PyServer.start(redis_server.url, key=key)
        urls = [node.url, node.url, server.url, server.url]
        rooms = [["room1"], ["room2"], ["room1"], ["room2"]]
        for url, client_rooms in zip(urls, rooms, strict=True):
            clients.append(await Client.connect(url, rooms=client_rooms, namespaces=NAMESPACES))
        for client in clients[:2]:
            for nsp in NAMESPACES:
                await node.wait_event("connection", nsp=nsp, id=client.sid(nsp))
        yield Cluster(key, node, server, clients, sync, emitter)
    finally:
        for client in clients:
            await client.close()
        if sync:
            await asyncio.to_thread(emitter.close)
        else:
            await emitter.close()  # type: ignore[misc]
        if server is not None:
            await server.stop()
        await node.stop()


ALL = (0, 1, 2, 3)


@pytest.mark.node
async def test_emit_to_all_with_binary(cluster: Cluster) -> None:
    args = [1, "2", b"\x03\x04", {"nested": [b"\x05"]}]
    await cluster.send(lambda emitter: emitter.emit("test", *args))
    await cluster.check("test", {n: args for n in ALL})


@pytest.mark.node
async def test_emit_to_room(cluster: Cluster) -> None:
    await cluster.send(lambda emitter: emitter.to("room1").emit("r", {"a": 1}))
    await cluster.check("r", {0: [{"a": 1}], 2: [{"a": 1}]})


@pytest.mark.node
async def test_emit_except_room(cluster: Cluster) -> None:
    await cluster.send(lambda emitter: emitter.except_("room1").emit("ex"))
    await cluster.check("ex", {1: [], 3: []})


@pytest.mark.node
async def test_emit_to_rooms_except_room(cluster: Cluster) -> None:
    await cluster.send(
        lambda emitter: emitter.to(["room1", "room2"]).except_(["room2"]).emit("once", "o")
    )
    await cluster.check("once", {0: ["o"], 2: ["o"]})


@pytest.mark.node
async def test_emit_to_sids_on_both_servers(cluster: Cluster) -> None:
    sids = [cluster.clients[1].sid(), cluster.clients[2].sid()]
    await cluster.send(lambda emitter: emitter.to(sids).emit("direct", 1))
    await cluster.check("direct", {1: [1], 2: [1]})


@pytest.mark.node
async def test_emit_to_namespace(cluster: Cluster) -> None:
    await cluster.send(lambda emitter: emitter.of("custom").to("room2").emit("c", "x"))
    await cluster.check("c", {1: ["x"], 3: ["x"]}, nsp="/custom")
    for client in cluster.clients:
        assert client.named("c") == []


@pytest.mark.node
async def test_volatile_and_compress_flags(cluster: Cluster) -> None:
    await cluster.send(lambda emitter: emitter.volatile.compress(False).emit("flags", True))
    await cluster.check("flags", {n: [True] for n in ALL})


@pytest.mark.node
async def test_sockets_join_then_room_emit(cluster: Cluster) -> None:
    await cluster.send(lambda emitter: emitter.to("room1").sockets_join(["joined", "j2"]))
    await cluster.wait_rooms(
        lambda node, py: "joined" in node[0] and "j2" in node[0] and "joined" in py[0]
        and "j2" in py[0]
    )
    await cluster.send(lambda emitter: emitter.to("joined").emit("j", 1))
    await cluster.check("j", {0: [1], 2: [1]})
    assert "joined" not in await cluster.node_rooms(1)
    assert "joined" not in cluster.python_rooms(3)


@pytest.mark.node
async def test_sockets_leave(cluster: Cluster) -> None:
    await cluster.send(lambda emitter: emitter.except_("room1").sockets_leave("room2"))
    await cluster.wait_rooms(lambda node, py: "room2" not in node[1] and "room2" not in py[1])
    await cluster.send(lambda emitter: emitter.to(["room1", "room2"]).emit("left", 2))
    await cluster.check("left", {0: [2], 2: [2]})


async def wait_disconnected(client: Client, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while client.sio.connected:
        if loop.time() > deadline:
            raise AssertionError(f"client {client.sid()} still connected after {timeout}s")
        await asyncio.sleep(0.02)


@pytest.mark.node
async def test_disconnect_sockets_close(cluster: Cluster) -> None:
    await cluster.send(lambda emitter: emitter.to("room1").disconnect_sockets(close=True))
    await wait_disconnected(cluster.clients[0])
    await wait_disconnected(cluster.clients[2])
    assert cluster.clients[1].sio.connected and cluster.clients[3].sio.connected
    cluster.clients = [cluster.clients[1], cluster.clients[3]]
    await cluster.check("after", {})


@pytest.mark.node
async def test_disconnect_sockets_from_one_namespace(cluster: Cluster) -> None:
    node_sid = cluster.clients[1].sid("/custom")  # read before the client loses it
    await cluster.send(lambda emitter: emitter.of("/custom").to("room2").disconnect_sockets())
    await cluster.node.wait_event("disconnect", nsp="/custom", id=node_sid, timeout=10)
    for _ in range(250):
        if "/custom" not in cluster.clients[3].sio.namespaces:
            break
        await asyncio.sleep(0.02)
    else:
        raise AssertionError("the Python server's client stayed in /custom")
    assert "/" in cluster.clients[1].sio.namespaces and "/" in cluster.clients[3].sio.namespaces
    await cluster.send(lambda emitter: emitter.emit("still-here"))
    await cluster.check("still-here", {n: [] for n in ALL})


@pytest.mark.node
async def test_server_side_emit_reaches_node(cluster: Cluster) -> None:
    await cluster.node.command("on_server_side_event", nsp="/", event="sse")
    await cluster.send(lambda emitter: emitter.server_side_emit("sse", "world", 1, b"\x05"))
    event = await cluster.node.wait_event("server_side_event", name="sse", timeout=10)
    assert event["args"] == ["world", 1, {"type": "Buffer", "data": [5]}]
    assert event["ack"] is False


@pytest.mark.node
async def test_server_side_emit_reaches_python(cluster: Cluster) -> None:
    received: asyncio.Queue[tuple[str, list[Any]]] = asyncio.Queue()
    adapter = cluster.server.adapter
    adapter.on_server_side_event("sse", lambda *args: received.put_nowait(("/", list(args))))
    adapter.on_server_side_event(
        "sse", lambda *args: received.put_nowait(("/custom", list(args))), namespace="/custom"
    )
    await cluster.send(lambda emitter: emitter.server_side_emit("sse", "world", {"n": 1}))
    assert await asyncio.wait_for(received.get(), 10) == ("/", ["world", {"n": 1}])
    await cluster.send(lambda emitter: emitter.of("custom").server_side_emit("sse", b"\x01"))
    assert await asyncio.wait_for(received.get(), 10) == (
        "/custom", [{"type": "Buffer", "data": [1]}]
    )
