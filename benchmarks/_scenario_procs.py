"""Child processes for ``scenarios.py``: spawn, talk to (JSON lines), stop by PID.

Every child is started in its own process group and recorded in
``Child.running``; ``stop_all`` terminates exactly those PIDs (then kills the
ones still alive), so a failed scenario never leaves processes behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Sequence
from typing import Any


class ChildError(RuntimeError):
    """A child process failed, exited early, or did not answer in time."""


class Child:
    """A process that speaks JSON lines: commands on stdin, replies/events on stdout."""

    running: list[Child] = []

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        env: dict[str, str] | None = None,
        cwd: str | None = None,
    ) -> None:
        self.name = name
        self.proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=cwd,
            start_new_session=True,
            text=True,
            bufsize=1,
        )
        self.pid = self.proc.pid
        #: the listening port, for servers (from their "ready" event)
        self.port = 0
        Child.running.append(self)
        self._lines: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._stderr: list[str] = []
        self._next_id = 0
        #: replies read while waiting for another one, by command id
        self._stash: dict[int, dict[str, Any]] = {}
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            line = line.strip()
            if not line:
                continue
            try:
                self._lines.put(json.loads(line))
            except ValueError:
                self._stderr.append("stdout: " + line)
        self._lines.put(None)

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self._stderr.append(line.rstrip())
            del self._stderr[:-40]

    def _fail(self, what: str) -> ChildError:
        tail = "\n    ".join(self._stderr[-15:])
        code = self.proc.poll()
        state = f"exited with {code}" if code is not None else "still running"
        return ChildError(f"{self.name} (pid {self.pid}, {state}): {what}\n    {tail}")

    def _next(self, deadline: float, timeout: float, waiting_for: str) -> dict[str, Any]:
        """The child's next message; raise when it exits, reports a fatal error or
        ``deadline`` (``time.monotonic()``) passes."""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise self._fail(f"no {waiting_for} within {timeout:g} s")
            try:
                msg = self._lines.get(timeout=left)
            except queue.Empty:
                continue
            if msg is None:
                raise self._fail(f"exited while waiting for {waiting_for}")
            if msg.get("event") == "fatal":
                raise self._fail(f"fatal: {msg.get('error')}")
            return msg

    def _keep_reply(self, msg: dict[str, Any]) -> None:
        if msg.get("event") == "reply" and isinstance(msg.get("id"), int):
            self._stash[msg["id"]] = msg

    def wait_event(self, event: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            msg = self._next(deadline, timeout, repr(event))
            if msg.get("event") == event:
                return msg
            self._keep_reply(msg)

    def send(self, cmd: str, **fields: Any) -> int:
        """Send a command; return its id for :meth:`reply`."""
        self._next_id += 1
        rid = self._next_id
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps({"id": rid, "cmd": cmd, **fields}) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise self._fail(f"cannot send {cmd!r}: {exc}") from exc
        return rid

    def reply(self, rid: int, timeout: float = 30.0) -> dict[str, Any]:
        """The result of command ``rid``; replies to other commands that come first are
        kept for their own ``reply`` (commands may answer in any order)."""
        deadline = time.monotonic() + timeout
        while rid not in self._stash:
            self._keep_reply(self._next(deadline, timeout, f"reply to command {rid}"))
        msg = self._stash.pop(rid)
        if not msg.get("ok", False):
            raise self._fail(f"command {rid} failed: {msg.get('error')}")
        return msg.get("result") or {}

    def poll_reply(self, rid: int) -> dict[str, Any] | None:
        """The reply to ``rid`` if it has come, else None (waits at most 10 ms)."""
        try:
            return self.reply(rid, 0.01)
        except ChildError:
            if self.proc.poll() is not None:
                raise
            return None

    def request(self, cmd: str, timeout: float = 30.0, **fields: Any) -> dict[str, Any]:
        return self.reply(self.send(cmd, **fields), timeout)

    def stop(self, timeout: float = 5.0) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(timeout)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            with contextlib.suppress(Exception):
                if stream is not None:
                    stream.close()
        if self in Child.running:
            Child.running.remove(self)


def stop_all() -> None:
    """Stop every child started by this process, newest first."""
    for child in reversed(list(Child.running)):
        child.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise ChildError(f"no VmRSS for pid {pid}")


class RedisServer:
    """A throw-away redis-server on a free loopback port (no persistence).

    The pub/sub output-buffer limit is off, so a subscriber that falls behind
    a burst is slowed down rather than disconnected by Redis.
    """

    def __init__(self, binary: str = "redis-server") -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--client-output-buffer-limit",
                "pubsub 0 0 0",
                "--loglevel",
                "warning",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        self.url = f"redis://127.0.0.1:{self.port}/0"
        #: the primaries' addresses (one here)
        self.masters = [("127.0.0.1", self.port)]
        self.is_cluster = False
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                self.stop()
                raise ChildError(f"redis-server did not start on port {self.port}: {err}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)


class RedisClusterServer:
    """A throw-away Redis Cluster of 3 masters (no replicas) on loopback.

    Started and stopped (by PID) by the test suite's
    ``tests.support.topologies.RedisCluster``; the pub/sub output-buffer limit
    is turned off on every node, as for :class:`RedisServer`.  ``url`` is the
    ``redis+cluster://h:p,h:p,h:p`` form both our adapter and ``node_server.js``
    take.
    """

    def __init__(self, masters: int = 3) -> None:
        from tests.support.topologies import RedisCluster  # noqa: PLC0415 (repo root on sys.path)

        self._cluster = RedisCluster(masters=masters, replicas=0)
        self._cluster.start()
        try:
            nodes = self._cluster.masters()
            for node in nodes:
                node.command("CONFIG", "SET", "client-output-buffer-limit", "pubsub 0 0 0")
            self.masters = [node.address for node in nodes]
            self.url = self._cluster.url
            self.is_cluster = True
        except BaseException:
            self._cluster.stop()
            raise

    def stop(self) -> None:
        self._cluster.stop()
