"""The README's quickstart runs as written.

The ``python`` blocks of the README's "Quickstart" section are extracted as they
are: the first is the server (``app.py``), the second the client
(``client.py``).  The server is started twice, on two free loopback ports,
against a real redis-server of its own (``REDIS_URL`` and ``PORT`` in the
environment, as the README says); python-socketio clients connected to each
check that a chat message sent through one server reaches the other server's
client, both ways, and the README's client script is run against the two.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import socketio

from tests.support.ports import free_port
from tests.support.redis_server import RedisServer

pytestmark = [pytest.mark.examples, pytest.mark.timeout(120)]

README = Path(__file__).resolve().parents[1] / "README.md"
START_TIMEOUT = 30.0
DELIVERY_TIMEOUT = 10.0
CLIENT_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def quickstart_blocks() -> list[str]:
    """The ``python`` code blocks of the README's ``## Quickstart`` section, in order."""
    text = README.read_text(encoding="utf-8")
    start = text.index("\n## Quickstart\n")
    end = text.find("\n## ", start + 1)
    section = text[start : end if end != -1 else len(text)]
    return PYTHON_BLOCK.findall(section)


@dataclass
class Server:
    """One quickstart server process (stopped by its PID)."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")[-4000:]

    def describe(self) -> str:
        return f"server on port {self.port} (pid {self.process.pid}) said:\n{self.output()}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT)


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _start_server(script: Path, redis_url: str, log: Path) -> Server:
    port = free_port()
    env = {**os.environ, "REDIS_URL": redis_url, "PORT": str(port), "PYTHONUNBUFFERED": "1"}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, str(script)],
            cwd=script.parent,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server(process, port, log)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                f"the quickstart server exited with {process.returncode}\n{server.describe()}"
            )
        if _accepts(port):
            return server
        time.sleep(0.1)
    server.stop()
    raise AssertionError(
        f"the quickstart server did not listen within {START_TIMEOUT} s\n{server.describe()}"
    )


@pytest.fixture
def quickstart_dir(tmp_path: Path) -> Path:
    blocks = quickstart_blocks()
    assert len(blocks) >= 2, "the README's Quickstart needs a server and a client python block"
    assert "import socketio" in blocks[0], "the quickstart server must import socketio"
    (tmp_path / "app.py").write_text(blocks[0], encoding="utf-8")
    (tmp_path / "client.py").write_text(blocks[1], encoding="utf-8")
    return tmp_path


@pytest.fixture
def servers(quickstart_dir: Path, own_redis: RedisServer) -> Iterator[list[Server]]:
    """The quickstart server, twice, on one Redis of its own (the default key is theirs)."""
    started: list[Server] = []
    try:
        for name in ("first", "second"):
            started.append(
                _start_server(quickstart_dir / "app.py", own_redis.url,
                              quickstart_dir / f"{name}.log")
            )
        yield started
    finally:
        for server in started:
            server.stop()


def _failure(servers: list[Server], what: str) -> str:
    return "\n".join([what, *(server.describe() for server in servers)])


class ChatClient:
    """A python-socketio client that records the ``chat`` events it hears."""

    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.heard: list[Any] = []
        self.event = asyncio.Event()
        self.sio.on("chat", self._on_chat)

    async def _on_chat(self, message: Any) -> None:
        self.heard.append(message)
        self.event.set()

    async def wait_for_text(self, text: str) -> Any:
        """The first ``chat`` message carrying ``text``, within ``DELIVERY_TIMEOUT``."""
        deadline = time.monotonic() + DELIVERY_TIMEOUT
        while True:
            for message in self.heard:
                if isinstance(message, dict) and message.get("text") == text:
                    return message
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no chat {text!r} within {DELIVERY_TIMEOUT} s: {self.heard}")
            self.event.clear()
            try:
                await asyncio.wait_for(self.event.wait(), left)
            except asyncio.TimeoutError:  # the builtin one only from Python 3.11
                pass


async def test_a_chat_message_crosses_servers_both_ways(servers: list[Server]) -> None:
    first, second = servers
    alice, bob = ChatClient(), ChatClient()
    try:
        await alice.sio.connect(first.url, wait_timeout=10)
        await bob.sio.connect(second.url, wait_timeout=10)
        for sender, receiver, receiving_server, text in (
            (alice, bob, second, "from the first server"),
            (bob, alice, first, "from the second server"),
        ):
            await sender.sio.emit("chat", text)
            try:
                message = await receiver.wait_for_text(text)
            except TimeoutError as exc:
                pytest.fail(_failure(servers, f"{exc} (receiver on port {receiving_server.port})"))
            assert message["from"], message
    finally:
        await alice.sio.disconnect()
        await bob.sio.disconnect()


def test_the_readme_client_runs_against_the_two_servers(
    servers: list[Server], quickstart_dir: Path
) -> None:
    first, second = servers
    try:
        result = subprocess.run(
            [sys.executable, str(quickstart_dir / "client.py"), first.url, second.url],
            cwd=quickstart_dir,
            capture_output=True,
            text=True,
            timeout=CLIENT_TIMEOUT,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(_failure(servers, f"the README's client did not finish: {exc}"))
    report = f"client exited with {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n" \
        f"{result.stderr[-4000:]}"
    assert result.returncode == 0, _failure(servers, report)
    assert "hello from the other server" in result.stdout, _failure(servers, report)
