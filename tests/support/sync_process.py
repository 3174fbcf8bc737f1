"""Drives ``tests/support/sync_peer.py``: a synchronous server in its own process.

gevent and eventlet patch the standard library of the whole process, so a
server in those modes runs apart from the asyncio tests that talk to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import sys
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).with_name("sync_peer.py")
ROOT = Path(__file__).resolve().parents[2]


class SyncPeerError(Exception):
    """The peer failed, or a command it ran failed."""


class SyncPeer:
    """One ``sync_peer.py`` process (see its module doc for the commands)."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.port = 0
        self.events: list[dict[str, Any]] = []
        self.stderr: list[str] = []
        self._replies: dict[int, asyncio.Future[Any]] = {}
        self._ready: asyncio.Future[dict[str, Any]] = (
            asyncio.get_running_loop().create_future()
        )
        self._ids = itertools.count(1)
        self._reader = asyncio.ensure_future(self._read())
        self._errors = asyncio.ensure_future(self._read_stderr())

    @classmethod
    async def start(cls, mode: str, framework: str, redis_url: str, key: str,
                    timeout: float = 30.0) -> SyncPeer:
        env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONWARNINGS="ignore")
        process = await asyncio.create_subprocess_exec(
            sys.executable, str(SCRIPT), mode, framework, redis_url, key,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=env, cwd=str(ROOT),
        )
        peer = cls(process)
        try:
            ready = await asyncio.wait_for(asyncio.shield(peer._ready), timeout)
        except BaseException:
            await peer.stop()
            raise SyncPeerError(
                f"the {mode} peer did not start:\n" + "\n".join(peer.stderr)
            ) from None
        peer.port = int(ready["port"])
        return peer

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for line in self.process.stdout:
            try:
                msg = json.loads(line)
            except ValueError:
                self.stderr.append("stdout: " + line.decode(errors="replace"))
                continue
            if msg.get("event") == "ready" and not self._ready.done():
                self._ready.set_result(msg)
            elif msg.get("event") == "reply":
                future = self._replies.pop(msg.get("id"), None)
                if future is not None and not future.done():
                    if msg.get("ok"):
                        future.set_result(msg.get("result"))
                    else:
                        future.set_exception(SyncPeerError(str(msg.get("error"))))
            else:
                self.events.append(msg)
        error = SyncPeerError("the peer exited:\n" + "\n".join(self.stderr[-20:]))
        for future in self._replies.values():
            if not future.done():
                future.set_exception(error)
        if not self._ready.done():
            self._ready.set_exception(error)

    async def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        async for line in self.process.stderr:
            self.stderr.append(line.decode(errors="replace").rstrip())
            del self.stderr[:-200]

    async def command(self, cmd: str, timeout: float = 15.0, **fields: Any) -> Any:
        """Run one command in the peer; return its result."""
        rid = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._replies[rid] = future
        assert self.process.stdin is not None
        self.process.stdin.write((json.dumps({"id": rid, "cmd": cmd, **fields}) + "\n").encode())
        await self.process.stdin.drain()
        return await asyncio.wait_for(future, timeout)

    async def stop(self) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(Exception):
                await self.command("stop", timeout=5)
            try:
                await asyncio.wait_for(self.process.wait(), 5)
            except asyncio.TimeoutError:
                self.process.kill()
                await self.process.wait()
        for task in (self._reader, self._errors):
            task.cancel()
            with contextlib.suppress(BaseException):
                await task


__all__ = ["SyncPeer", "SyncPeerError"]
