"""Start the examples of ``examples/`` as a user would, and talk to them with real clients.

:class:`Launcher` starts each example as a subprocess (``python app.py``,
``uvicorn app:app`` or ``node server.js``, in the example's directory) with
``REDIS_URL`` and ``PORT`` in its environment, keeps its output in a file,
and stops every process it started, by PID.  :class:`ChatClient` is a
python-socketio ``AsyncClient`` that speaks the chat examples' events
(``join``, ``say``, ``who``, ``message``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import aiohttp
import socketio

from tests.support.ports import free_port
from tests.support.redis_server import _die_with_parent

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
START_TIMEOUT = 20.0  # an example must listen within this
STOP_TIMEOUT = 10.0  # SIGTERM, then SIGKILL after this
CHECK_TIMEOUT = 20.0  # a whole check (connect, join, relay both ways, who)
ROOM = "lobby"


class ExampleProcess:
    """One example process; its output (stdout and stderr) goes to ``log``."""

    def __init__(self, label: str, process: subprocess.Popen[bytes], log: Path,
                 port: int | None) -> None:
        self.label = label
        self.process = process
        self.log = log
        self.port = port

    @property
    def url(self) -> str:
        assert self.port is not None, f"{self.label} is not a server"
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    async def wait_listening(self, timeout: float = START_TIMEOUT) -> None:
        """Return once the server accepts TCP connections; fail if it exits first."""
        assert self.port is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"{self.label} exited with {self.process.returncode}")
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            return
        raise AssertionError(f"{self.label} did not listen on port {self.port} in {timeout} s")

    async def wait_exit(self, timeout: float = CHECK_TIMEOUT) -> int:
        """Wait for a process that ends by itself (a worker); return its exit code."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.process.poll() is None:
            if loop.time() >= deadline:
                raise AssertionError(f"{self.label} did not exit within {timeout} s")
            await asyncio.sleep(0.05)
        return self.process.returncode

    def stop(self) -> None:
        """SIGTERM (a graceful stop), then SIGKILL; by PID only."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT)


class Launcher:
    """Starts examples against one Redis, and stops them all at the end (a fixture)."""

    def __init__(self, redis_url: str, log_dir: Path) -> None:
        self.redis_url = redis_url
        self.log_dir = log_dir
        self.processes: list[ExampleProcess] = []

    def spawn(self, label: str, argv: list[str], cwd: Path, port: int | None, *,
              env: dict[str, str] | None = None) -> ExampleProcess:
        """Start ``argv`` in ``cwd`` with ``REDIS_URL`` (and ``PORT``, for a server)."""
        environment = dict(os.environ, REDIS_URL=self.redis_url, PYTHONUNBUFFERED="1",
                           **(env or {}))
        if port is not None:
            environment["PORT"] = str(port)
        log = self.log_dir / f"{len(self.processes)}-{re.sub(r'[^A-Za-z0-9.]+', '_', label)}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                argv, cwd=str(cwd), env=environment, stdin=subprocess.DEVNULL,
                stdout=out, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent,
            )
        started = ExampleProcess(label, process, log, port)
        self.processes.append(started)
        return started

    async def python(self, script: str, *args: str, env: dict[str, str] | None = None,
                     server: bool = True) -> ExampleProcess:
        """``python <script> <args>`` from the script's directory (``script`` is under
        examples/); for a server, once it listens."""
        path = EXAMPLES / script
        label = " ".join([*(f"{k}={v}" for k, v in (env or {}).items()), "python", script, *args])
        started = self.spawn(label, [sys.executable, path.name, *args], path.parent,
                             free_port() if server else None, env=env)
        if server:
            await self.listening(started)
        return started

    async def uvicorn(self, directory: str, target: str) -> ExampleProcess:
        """``uvicorn <target> --port P`` from ``examples/<directory>``."""
        command = Path(sys.executable).with_name("uvicorn")
        uvicorn = [str(command)] if command.exists() else [sys.executable, "-m", "uvicorn"]
        port = free_port()
        started = self.spawn(
            f"uvicorn {directory}/{target}",
            [*uvicorn, target, "--host", "127.0.0.1", "--port", str(port)],
            EXAMPLES / directory, port,
        )
        await self.listening(started)
        return started

    async def node(self, script: str) -> ExampleProcess:
        """``node <script>`` from the script's directory (``script`` is under examples/)."""
        path = EXAMPLES / script
        node = shutil.which("node")
        assert node is not None, "Node.js (node) is not on PATH"
        started = self.spawn(f"node {script}", [node, path.name], path.parent, free_port())
        await self.listening(started)
        return started

    async def listening(self, started: ExampleProcess) -> None:
        try:
            await started.wait_listening()
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.report()}") from None

    async def check(self, coroutine: Coroutine[Any, Any, Any],
                    timeout: float = CHECK_TIMEOUT) -> Any:
        """Await a check; on failure, add every process's output to the message."""
        try:
            return await asyncio.wait_for(coroutine, timeout)
        except (AssertionError, asyncio.TimeoutError, socketio.exceptions.SocketIOError) as exc:
            raise AssertionError(f"{type(exc).__name__}: {exc}\n{self.report()}") from None

    def report(self) -> str:
        parts = []
        for started in self.processes:
            code = started.process.poll()
            state = "running" if code is None else f"exit code {code}"
            parts.append(f"--- {started.label} ({state}), output:\n{started.output()[-4000:]}")
        return "\n".join(parts)

    def stop_all(self) -> None:
        for started in reversed(self.processes):
            started.stop()

    def tracebacks(self) -> str:
        """The output of every process that printed a Python traceback ('' if none did)."""
        return "\n".join(f"--- {started.label}:\n{started.output()[-4000:]}"
                         for started in self.processes if "Traceback" in started.output())


class ChatClient:
    """A real python-socketio client of a chat example (websocket transport)."""

    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.messages: list[dict[str, Any]] = []
        self._arrived = asyncio.Event()
        self.sio.on("message", self._on_message)

    async def _on_message(self, data: dict[str, Any]) -> None:
        self.messages.append(data)
        self._arrived.set()

    async def connect(self, url: str) -> None:
        await self.sio.connect(url, transports=["websocket"], wait_timeout=10)

    @property
    def sid(self) -> str:
        sid = self.sio.get_sid()
        assert sid is not None
        return str(sid)

    async def join(self, room: str) -> dict[str, str]:
        reply: dict[str, str] = await self.sio.call("join", room, timeout=10)
        assert reply["room"] == room, reply
        return reply

    async def say(self, room: str, text: str) -> None:
        await self.sio.emit("say", {"room": room, "text": text})

    async def who(self, room: str) -> list[str]:
        ids: list[str] = await self.sio.call("who", room, timeout=10)
        return ids

    async def wait_for(self, text: str, timeout: float, sender: str | None = None
                       ) -> dict[str, Any] | None:
        """The first message with ``text`` (from ``sender``, if given), waiting up to
        ``timeout``; None if none came."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for message in self.messages:
                if message.get("text") == text and sender in (None, message.get("from")):
                    return message
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            self._arrived.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), remaining)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.sio.disconnect()


async def relay(sender: ChatClient, receiver: ChatClient, sender_server: str,
                label: str, attempts: int = 30) -> None:
    """``sender`` says something in ROOM until ``receiver`` (on another server) hears it.

    Retried because a Node server may not yet be subscribed when it starts
    listening; the Python examples are (they start their adapter first).
    """
    for attempt in range(attempts):
        text = f"{label} #{attempt}"
        await sender.say(ROOM, text)
        got = await receiver.wait_for(text, 0.5)
        if got is not None:
            assert got == {"room": ROOM, "text": text, "from": sender.sid,
                           "server": sender_server}, got
            return
    raise AssertionError(f"{label}: nothing reached the other server's client "
                         f"in {attempts} attempts; it got {receiver.messages!r}")


async def page_served(url: str) -> None:
    """The server answers ``/`` with the chat page (which loads the client from a CDN)."""
    async with aiohttp.ClientSession() as session, session.get(url + "/") as response:
        page = await response.text()
        assert response.status == 200, f"GET {url}/: {response.status}"
    assert "socket.io.min.js" in page, f"GET {url}/ is not the chat page"


async def chat_crosses(url_a: str, url_b: str) -> tuple[str, str]:
    """One client on each server, in one room: messages cross both ways; ``who`` sees both.

    Each server also serves the chat page at ``/``.  Returns the servers' names
    (their ``join`` replies).
    """
    await page_served(url_a)
    await page_served(url_b)
    a, b = ChatClient(), ChatClient()
    try:
        await a.connect(url_a)
        await b.connect(url_b)
        server_a = (await a.join(ROOM))["server"]
        server_b = (await b.join(ROOM))["server"]
        assert server_a != server_b, f"both clients on {server_a}"
        await relay(a, b, server_a, f"hello from {server_a}")
        await relay(b, a, server_b, f"hello from {server_b}")
        expected = sorted([a.sid, b.sid])
        assert await a.who(ROOM) == expected
        assert await b.who(ROOM) == expected
        return server_a, server_b
    finally:
        await a.close()
        await b.close()
