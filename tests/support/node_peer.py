"""Drive a real Node.js Socket.IO server (``tests/node/peer.js``) from asyncio tests.

The peer uses the real ``@socket.io/redis-adapter`` (the classic ``createAdapter`` or the
sharded ``createShardedAdapter``, on a standalone Redis or a Redis Cluster) and talks to us
with one JSON object per line: commands go to its stdin, replies and events come from its
stdout. Binary values cross that pipe as ``{"$bin": "<base64>"}`` and dates as
``{"$date": <ms>}``; this module converts them to and from ``bytes`` and aware ``datetime``
objects.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import datetime
import itertools
import json
import os
import shutil
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

NODE_DIR = Path(__file__).resolve().parent.parent / "node"
PEER_SCRIPT = NODE_DIR / "peer.js"
NODE_MODULES = NODE_DIR / "node_modules"

EventMatch = str | Callable[[dict[str, Any]], bool] | None


class NodePeerError(Exception):
    """A command failed in the peer, or the peer process is gone."""


class NodePeerTimeout(NodePeerError, asyncio.TimeoutError):
    """A reply or an event did not arrive in time."""


def to_wire(value: Any) -> Any:
    """Python values -> JSON values for peer.js (bytes -> {"$bin"}, datetime -> {"$date"})."""
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$bin": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        return {"$date": round(value.timestamp() * 1000)}
    if isinstance(value, Mapping):
        return {str(k): to_wire(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_wire(v) for v in value]
    return value


def from_wire(value: Any) -> Any:
    """JSON values from peer.js -> Python values ({"$bin"} -> bytes, {"$date"} -> datetime)."""
    if isinstance(value, list):
        return [from_wire(v) for v in value]
    if isinstance(value, dict):
        if len(value) == 1:
            if isinstance(value.get("$bin"), str):
                return base64.b64decode(value["$bin"])
            if isinstance(value.get("$date"), int | float):
                return datetime.datetime.fromtimestamp(
                    value["$date"] / 1000, tz=datetime.timezone.utc
                )
        return {k: from_wire(v) for k, v in value.items()}
    return value


def _check_environment() -> str:
    node = shutil.which("node")
    if node is None:
        raise RuntimeError(
            "Node.js (`node`) is not on PATH; the interop tests need Node 20+ and the npm "
            "packages: install Node, then run `npm ci --prefix tests/node` from the repo root"
        )
    if (
        not (NODE_MODULES / "@socket.io" / "redis-adapter").is_dir()
        or not (NODE_MODULES / "socket.io").is_dir()
    ):
        raise RuntimeError(
            f"the npm packages for the Node peer are not installed in {NODE_MODULES}: "
            "run `npm ci --prefix tests/node` from the repo root"
        )
    return node


class NodePeer:
    """One ``node tests/node/peer.js`` process (see peer.js for the command list)."""

    def __init__(self, process: asyncio.subprocess.Process, port: int) -> None:
        self.process = process
        self.port = port
        self.ready_info: dict[str, Any] = {}  # the "ready" event (adapter, server_counts, ...)
        self.events: list[dict[str, Any]] = []  # every non-reply event, in arrival order
        self.stderr_lines: collections.deque[str] = collections.deque(maxlen=300)
        self._unclaimed: list[dict[str, Any]] = []  # events not yet returned by wait_event
        self._waiters: list[asyncio.Future[None]] = []
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._ids = itertools.count(1)
        self._exited = False
        self._write_lock = asyncio.Lock()
        self._echo_stderr = bool(os.environ.get("NODE_PEER_VERBOSE"))
        self._reader = asyncio.create_task(self._read_stdout())
        self._stderr_reader = asyncio.create_task(self._read_stderr())

    # ------------------------------------------------------------------ start

    @classmethod
    async def start(
        cls,
        redis_url: str,
        *,
        key: str = "socket.io",
        namespaces: Iterable[str] = ("/",),
        parser: str = "msgpack",
        requests_timeout_ms: int | None = 1000,
        specific_response_channel: bool = False,
        port: int | None = None,
        startup_timeout: float = 20.0,
        adapter: str = "classic",
        subscription_mode: str | None = None,
        channel_prefix: str | None = None,
        cluster_nodes: Iterable[str | tuple[str, int]] | None = None,
        tls_ca: str | None = None,
        username: str | None = None,
        password: str | None = None,
    ) -> NodePeer:
        """Spawn a peer and wait until its adapter has subscribed and its HTTP port listens.

        ``adapter="sharded"`` runs ``createShardedAdapter`` with ``subscription_mode``
        (``"static"``, ``"dynamic"`` (Node's default) or ``"dynamic-private"``) and
        ``channel_prefix`` (default: ``key``); ``parser``, ``requests_timeout_ms`` and
        ``specific_response_channel`` only apply to the classic adapter. ``cluster_nodes``
        (``"host:port"``, ``"redis://host:port"`` or ``(host, port)``) makes the peer use a
        node-redis cluster client on those root nodes instead of ``redis_url``. ``tls_ca``
        (a CA file) turns TLS on; ``username``/``password`` log in as an ACL user.
        """
        if adapter not in ("classic", "sharded"):
            raise ValueError(f"adapter must be 'classic' or 'sharded', not {adapter!r}")
        if adapter != "sharded" and (subscription_mode is not None or channel_prefix is not None):
            raise ValueError("subscription_mode and channel_prefix need adapter='sharded'")
        node = _check_environment()
        # 0: the peer listens on a port the kernel picks and reports it (no race with
        # another process taking a port chosen here first)
        port = port or 0
        env = dict(os.environ)
        env.update(
            REDIS_URL=redis_url,
            PORT=str(port),
            KEY=key,
            NAMESPACES=",".join(namespaces),
            PARSER=parser,
            SPECIFIC_RESPONSE_CHANNEL="1" if specific_response_channel else "0",
        )
        env.pop("REQUESTS_TIMEOUT", None)
        if requests_timeout_ms is not None:
            env["REQUESTS_TIMEOUT"] = str(int(requests_timeout_ms))
        env["ADAPTER"] = adapter
        optional = {
            "SUBSCRIPTION_MODE": subscription_mode,
            "CHANNEL_PREFIX": channel_prefix,
            "REDIS_CLUSTER": (
                ",".join(n if isinstance(n, str) else f"{n[0]}:{n[1]}" for n in cluster_nodes)
                if cluster_nodes is not None
                else None
            ),
            "REDIS_TLS_CA": tls_ca,
            "REDIS_USERNAME": username,
            "REDIS_PASSWORD": password,
        }
        for name, value in optional.items():
            env.pop(name, None)  # never inherited from the test run's environment
            if value is not None:
                env[name] = value
        env.pop("DEBUG", None)  # the `debug` module must not write into the protocol
        if os.environ.get("NODE_PEER_DEBUG"):
            env["DEBUG"] = os.environ["NODE_PEER_DEBUG"]  # e.g. "socket.io-redis"; to stderr
        process = await asyncio.create_subprocess_exec(
            node,
            str(PEER_SCRIPT),
            cwd=str(NODE_DIR),
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            limit=32 * 1024 * 1024,
        )
        peer = cls(process, port)
        try:
            ready = await peer.wait_event(
                lambda e: (
                    e.get("event") == "ready"
                    or (e.get("event") == "error" and e.get("source") == "startup")
                ),
                timeout=startup_timeout,
            )
            if ready["event"] != "ready":
                raise NodePeerError(f"peer failed to start: {ready.get('message')}")
            peer.port = int(ready["port"])
            peer.ready_info = ready
        except BaseException as exc:
            await peer.stop(graceful=False)
            if isinstance(exc, Exception):
                raise NodePeerError(
                    f"Node peer did not become ready: {exc}\n--- peer stderr ---\n"
                    + peer.stderr_text()
                ) from exc
            raise
        return peer

    # ------------------------------------------------------------- properties

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def running(self) -> bool:
        return not self._exited and self.process.returncode is None

    def stderr_text(self) -> str:
        return "\n".join(self.stderr_lines)

    # ------------------------------------------------------------------ I/O

    async def _read_stdout(self) -> None:
        assert self.process.stdout is not None
        try:
            while True:
                line = await self.process.stdout.readline()
                if not line:
                    break
                try:
                    msg = json.loads(line)
                except ValueError:
                    self.stderr_lines.append("[stdout, not JSON] " + line.decode(errors="replace"))
                    continue
                if not isinstance(msg, dict):
                    continue
                self._dispatch(msg)
        finally:
            self._exited = True
            error = NodePeerError("the Node peer exited\n" + self.stderr_text())
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(error)
            self._pending.clear()
            self._wake_waiters()

    async def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        while True:
            line = await self.process.stderr.readline()
            if not line:
                return
            text = line.decode(errors="replace").rstrip("\n")
            self.stderr_lines.append(text)
            if self._echo_stderr:
                print(f"[node peer {self.process.pid}] {text}", file=sys.stderr)

    def _dispatch(self, msg: dict[str, Any]) -> None:
        if msg.get("event") == "reply":
            fut = self._pending.pop(msg.get("id"), None)  # type: ignore[arg-type]
            if fut is None or fut.done():
                return
            if msg.get("ok"):
                fut.set_result(from_wire(msg.get("result")))
            else:
                fut.set_exception(NodePeerError(str(msg.get("error"))))
            return
        event = from_wire(msg)
        self.events.append(event)
        self._unclaimed.append(event)
        self._wake_waiters()

    def _wake_waiters(self) -> None:
        for fut in self._waiters:
            if not fut.done():
                fut.set_result(None)
        self._waiters.clear()

    # -------------------------------------------------------------- commands

    async def command(self, cmd: str, /, *, timeout: float = 10.0, **fields: Any) -> Any:
        """Send one command; return its result or raise NodePeerError / NodePeerTimeout.

        A trailing underscore is dropped from field names, so ``except_=[...]`` sends the
        ``except`` field.
        """
        if not self.running:
            raise NodePeerError(f"the Node peer is not running (command {cmd!r})")
        assert self.process.stdin is not None
        cid = next(self._ids)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[cid] = fut
        fields = {(k[:-1] if k.endswith("_") else k): v for k, v in fields.items()}
        payload = {"id": cid, "cmd": cmd, **to_wire(fields)}
        try:
            async with self._write_lock:
                self.process.stdin.write((json.dumps(payload) + "\n").encode())
                await asyncio.wait_for(self.process.stdin.drain(), timeout)
            return await asyncio.wait_for(asyncio.shield(fut), timeout)
        except (ConnectionError, BrokenPipeError) as exc:
            raise NodePeerError(f"the Node peer is gone (command {cmd!r}): {exc}") from exc
        except asyncio.TimeoutError:
            raise NodePeerTimeout(f"no reply to {cmd!r} within {timeout}s") from None
        finally:
            self._pending.pop(cid, None)
            if not fut.done():
                fut.cancel()

    async def wait_subscriptions(self, timeout: float = 5.0) -> int:
        """Wait until Redis confirmed every (un)subscription the peer's adapters sent.

        The sharded adapter in the dynamic modes SSUBSCRIBEs a room's channel when the room
        is created (a socket joins it), without awaiting it: call this after joins and
        before broadcasting to the room from elsewhere. Returns how many subscription
        commands were still pending; raises NodePeerError if one failed or timed out.
        """
        result = await self.command(
            "wait_subscriptions", timeout=timeout + 2.0, timeout_ms=round(timeout * 1000)
        )
        return int(result)

    # ---------------------------------------------------------------- events

    @staticmethod
    def _predicate(match: EventMatch, where: dict[str, Any]) -> Callable[[dict[str, Any]], bool]:
        def pred(event: dict[str, Any]) -> bool:
            if isinstance(match, str) and event.get("event") != match:
                return False
            if callable(match) and not match(event):
                return False
            return all(event.get(k) == v for k, v in where.items())

        return pred

    async def wait_event(
        self,
        match: EventMatch = None,
        timeout: float = 5.0,
        *,
        consume: bool = True,
        **where: Any,
    ) -> dict[str, Any]:
        """Return the first event (already received or future) that matches.

        ``match`` is an event name (``"client_event"``), a predicate, or None; keyword
        arguments must equal the event's fields (``name="foo"``). Each matched event is
        handed out once unless ``consume=False``; ``self.events`` keeps them all.
        """
        pred = self._predicate(match, where)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for index, event in enumerate(self._unclaimed):
                if pred(event):
                    if consume:
                        del self._unclaimed[index]
                    return event
            if self._exited:
                raise NodePeerError(
                    f"the Node peer exited before the event {match!r} {where or ''} arrived\n"
                    + self.stderr_text()
                )
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise NodePeerTimeout(
                    f"no event matching {match!r} {where or ''} within {timeout}s; "
                    f"last events: {self.events[-5:]!r}"
                )
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.append(waiter)
            try:
                await asyncio.wait_for(waiter, remaining)
            except asyncio.TimeoutError:
                pass
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)

    def drain_events(self) -> list[dict[str, Any]]:
        """Return and forget the events no wait_event has claimed yet."""
        events, self._unclaimed = self._unclaimed, []
        return events

    # ------------------------------------------------------------------ stop

    async def stop(self, timeout: float = 5.0, *, graceful: bool = True) -> None:
        """Ask the peer to quit, then terminate (and at last kill) its own PID.

        With ``graceful=False`` the quit command is skipped and the PID is terminated.
        """
        if graceful and self.process.returncode is None and not self._exited:
            with contextlib.suppress(Exception):
                await self.command("quit", timeout=min(timeout, 3.0))
        if self.process.returncode is None:
            try:
                await asyncio.wait_for(self.process.wait(), timeout if graceful else 0.01)
            except asyncio.TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self.process.terminate()
                try:
                    await asyncio.wait_for(self.process.wait(), timeout)
                except asyncio.TimeoutError:
                    with contextlib.suppress(ProcessLookupError):
                        self.process.kill()
                    await asyncio.wait_for(self.process.wait(), timeout)
        if self.process.stdin is not None:
            with contextlib.suppress(Exception):
                self.process.stdin.close()
        for task in (self._reader, self._stderr_reader):
            if not task.done():
                with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                    await asyncio.wait_for(task, 2.0)
            if not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task

    async def __aenter__(self) -> NodePeer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
