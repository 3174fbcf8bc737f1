"""The copyable examples of ``examples/`` start as their docstrings say and work as a cluster.

Each test starts a real redis-server of its own, starts an example twice on
two free loopback ports (a Node.js server and a Python one for the mixed
cluster), connects a real python-socketio client to each server and checks
that a message said through one server reaches the client on the other, both
ways, and that ``who`` (``fetch_sockets``) sees the sockets of both servers.
The worker tests start two chat servers of other examples and check that every
message of the worker reaches a client of each.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.redis_server import RedisServer

from .helpers import EXAMPLES, ROOM, ChatClient, Launcher, chat_crosses

pytestmark = pytest.mark.examples

TICKS = 3


@pytest.fixture
def launcher(own_redis: RedisServer, tmp_path: Path) -> Iterator[Launcher]:
    """Starts examples against a redis-server of this test; stops them all at the end.

    The examples must also stop cleanly (SIGTERM, as a process manager does):
    no traceback in their output.
    """
    started = Launcher(own_redis.url, tmp_path)
    try:
        yield started
    finally:
        started.stop_all()
    tracebacks = started.tracebacks()
    assert not tracebacks, f"an example printed a traceback:\n{tracebacks}"


async def test_aiohttp_chat(launcher: Launcher) -> None:
    a = await launcher.python("aiohttp_chat/app.py")
    b = await launcher.python("aiohttp_chat/app.py")
    await launcher.check(chat_crosses(a.url, b.url))


async def test_fastapi_chat(launcher: Launcher) -> None:
    a = await launcher.uvicorn("fastapi_chat", "app:app")
    b = await launcher.python("fastapi_chat/app.py")
    await launcher.check(chat_crosses(a.url, b.url))


async def test_flask_chat_threading_and_gevent(launcher: Launcher) -> None:
    a = await launcher.python("flask_chat/app.py")
    b = await launcher.python("flask_chat/app.py", env={"ASYNC_MODE": "gevent"})
    names = await launcher.check(chat_crosses(a.url, b.url))
    assert names == (f"flask-threading:{a.port}", f"flask-gevent:{b.port}")


async def test_django_asgi(launcher: Launcher) -> None:
    a = await launcher.uvicorn("django_asgi", "asgi:app")
    b = await launcher.python("django_asgi/asgi.py")
    await launcher.check(chat_crosses(a.url, b.url))


@pytest.mark.node
async def test_mixed_cluster(launcher: Launcher) -> None:
    modules = EXAMPLES / "mixed_cluster" / "node_modules"
    if not (modules / "@socket.io" / "redis-adapter").is_dir():
        pytest.fail(f"the npm packages of the mixed-cluster example are not installed in "
                    f"{modules}: run `npm ci --prefix examples/mixed_cluster`")
    a = await launcher.node("mixed_cluster/server.js")
    b = await launcher.python("mixed_cluster/app.py")
    await launcher.check(chat_crosses(a.url, b.url))


async def ticks_reach(clients: list[ChatClient], worker: str) -> None:
    for client in clients:
        for tick in range(1, TICKS + 1):
            text = f"tick {tick}/{TICKS}"
            got = await client.wait_for(text, 10, sender=worker)
            assert got == {"room": ROOM, "text": text, "from": worker, "server": "emitter"}, (
                f"{worker}: {text!r} did not reach a client; it got {client.messages!r}")


async def join_all(clients: list[ChatClient], urls: list[str]) -> list[str]:
    """Connect each client to its server and join ROOM; return the servers' names."""
    names = []
    for client, url in zip(clients, urls, strict=True):
        await client.connect(url)
        names.append((await client.join(ROOM))["server"])
    return names


@pytest.mark.parametrize("worker", ["async_worker", "sync_worker"])
async def test_emitter_worker(launcher: Launcher, worker: str) -> None:
    """The worker's messages reach a client of an aiohttp server and one of a Flask
    server (gevent mode, chosen by the command-line flag this time)."""
    servers = [await launcher.python("aiohttp_chat/app.py"),
               await launcher.python("flask_chat/app.py", "--gevent")]
    clients = [ChatClient(), ChatClient()]
    try:
        names = await launcher.check(join_all(clients, [server.url for server in servers]))
        assert names == [f"aiohttp:{servers[0].port}", f"flask-gevent:{servers[1].port}"]
        process = await launcher.python(
            f"emitter_worker/{worker}.py", server=False,
            env={"ROOM": ROOM, "TICKS": str(TICKS), "INTERVAL": "0.1"},
        )
        code = await launcher.check(process.wait_exit())
        assert code == 0, f"{worker} exited with {code}\n{launcher.report()}"
        await launcher.check(ticks_reach(clients, worker))
    finally:
        for client in clients:
            await client.close()
