"""Real Node.js socket.io-client clients (``tests/node/clients.js``) in one process."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

from .node_peer import NODE_DIR, _check_environment


def _from_wire(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"$bin"}:
            return base64.b64decode(value["$bin"])
        return {k: _from_wire(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_wire(v) for v in value]
    return value


class NodeClients:
    """``count`` socket.io-client clients of one URL, each in ``rooms``.

    ``connected`` holds each client's connect report (its transport and the
    websocket extensions the server accepted); ``events[i]`` the ``(name,
    args)`` client ``i`` got, in order.
    """

    def __init__(self, process: asyncio.subprocess.Process, count: int) -> None:
        self.process = process
        self.count = count
        self.connected: dict[int, dict[str, Any]] = {}
        self.events: list[list[tuple[str, list[Any]]]] = [[] for _ in range(count)]
        self._changed = asyncio.Event()
        self._reader = asyncio.ensure_future(self._read())

    @classmethod
    async def start(cls, url: str, count: int, *, rooms: list[str],
                    transports: tuple[str, ...] = ("websocket",),
                    deflate: bool = True, timeout: float = 20.0) -> NodeClients:
        """Start the clients; return once every one is connected (and upgraded)."""
        node = _check_environment()
        process = await asyncio.create_subprocess_exec(
            node, str(NODE_DIR / "clients.js"), url, str(count), ",".join(transports),
            "1" if deflate else "0", ",".join(rooms),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            cwd=str(NODE_DIR),
        )
        self = cls(process, count)
        try:
            await self._wait(lambda: len(self.connected) == count, timeout, "connected")
        except BaseException:
            await self.stop()
            raise
        return self

    async def _read(self) -> None:
        assert self.process.stdout is not None
        while True:
            line = await self.process.stdout.readline()
            if not line:
                break
            message = json.loads(line)
            if message["event"] == "connected":
                self.connected[message["client"]] = message
            elif message["event"] == "got":
                self.events[message["client"]].append(
                    (message["name"], _from_wire(message["args"])))
            self._changed.set()
        self._changed.set()

    async def _wait(self, done: Any, timeout: float, what: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not done():
            remaining = deadline - loop.time()
            if remaining <= 0 or self._reader.done():
                raise AssertionError(f"node clients: not {what} within {timeout} s "
                                     f"(exit code {self.process.returncode})")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except asyncio.TimeoutError:
                pass

    def named(self, client: int, name: str) -> list[list[Any]]:
        return [args for event, args in self.events[client] if event == name]

    async def wait_for(self, name: str, count: int, timeout: float = 20.0) -> None:
        """Wait until every client got ``name`` ``count`` times."""
        await self._wait(
            lambda: all(len(self.named(i, name)) >= count for i in range(self.count)),
            timeout, f"{count} x {name!r} each")

    async def kill(self) -> None:
        """Kill the process (SIGKILL, by its PID): every client's connection drops at once."""
        self.process.kill()
        await self.process.wait()
        await asyncio.wait_for(self._reader, 5)

    async def stop(self) -> None:
        """End the process (closing its stdin), by its PID if it does not end."""
        if self.process.returncode is not None:
            return
        if self.process.stdin is not None and not self.process.stdin.is_closing():
            self.process.stdin.close()
        try:
            await asyncio.wait_for(self.process.wait(), 5)
        except asyncio.TimeoutError:
            self.process.kill()
            await self.process.wait()
        await asyncio.wait_for(self._reader, 5)
