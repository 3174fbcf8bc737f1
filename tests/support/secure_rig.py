"""One bounded scenario of two Python servers with our adapter, for the TLS, ACL and Sentinel tests.

:func:`run_scenario` starts two python-socketio servers with one flavour of our adapter on
one Redis URL, connects a client to each, and runs the cross-server features in order:
``start`` (subscriptions confirmed by Redis), ``server_count``, ``broadcast`` (binary, to
every client), ``room`` (to one room only), ``fetch_sockets``, ``server_side_call``
(server-side emit with acknowledgements), ``leave`` (a client leaves its room, which
then has no local socket: the sharded dynamic mode unsubscribes its channel), ``idle``
(long enough for the subscribers' idle ``PING``) and ``close``.  Every step is bounded
in time; the first step that fails ends the scenario, and the result says which one and
why.  :func:`acl_denials` reads what Redis refused to a user from ``ACL LOG``.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from socketio_redis_adapter import AsyncRedisAdapter, AsyncShardedRedisAdapter

from .servers import SERVER
from .sio_cluster import Client, PyServer
from .topologies import admin_command

#: the idle PING interval of the probes' subscribers (a PING within 2 intervals of silence)
IDLE_PING_INTERVAL = 1.0
#: how long the ``idle`` step stays silent: more than 2 intervals, so a PING is sent
IDLE_SECONDS = 2.6
#: seconds a subscription may wait for Redis' confirmation
CONFIRM_TIMEOUT = 2.0
#: seconds allowed to each step
STEP_TIMEOUT = 10.0

STEPS = ("start", "server_count", "broadcast", "room", "fetch_sockets", "server_side_call",
         "leave", "idle", "close")


class _Probe:
    """What both probe flavours add: short idle pings and confirmations, a recorded start error."""

    start_error: BaseException | None = None

    def _tune(self) -> None:
        connection: Any = getattr(self, "connection")  # noqa: B009 - set by the flavour
        connection.idle_ping_interval = IDLE_PING_INTERVAL
        connection.confirm_timeout = CONFIRM_TIMEOUT


class ProbeClassic(_Probe, AsyncRedisAdapter):
    """``AsyncRedisAdapter`` whose ``start`` records its error instead of raising."""

    def __init__(self, url: Any, **options: Any) -> None:
        super().__init__(url, **options)
        self._tune()

    async def start(self) -> None:
        try:
            await super().start()
        except Exception as exc:
            self.start_error = exc


class ProbeSharded(_Probe, AsyncShardedRedisAdapter):
    """``AsyncShardedRedisAdapter`` whose ``start`` records its error instead of raising."""

    def __init__(self, url: Any, **options: Any) -> None:
        super().__init__(url, **options)
        self._tune()

    async def start(self) -> None:
        try:
            await super().start()
        except Exception as exc:
            self.start_error = exc


@dataclass
class ScenarioResult:
    """What :func:`run_scenario` saw: the steps that passed, the one that failed and why."""

    flavour: str
    prefix: str
    passed: list[str] = field(default_factory=list)
    failed: str | None = None
    error: BaseException | None = None
    stats: list[dict[str, int]] = field(default_factory=list)
    #: ``time.time()`` when the ``close`` step began (None if it was not reached)
    closing_at: float | None = None

    @property
    def ok(self) -> bool:
        return self.failed is None

    def describe(self) -> str:
        return (f"{self.flavour} passed {self.passed}, failed {self.failed!r} with "
                f"{self.error!r}; stats {self.stats}")


def adapter_options(flavour: str, prefix: str) -> dict[str, Any]:
    """``PyServer.start`` options for ``flavour`` (``"classic"`` or ``"sharded"``) on ``prefix``."""
    if flavour == "classic":
        return {"adapter_class": ProbeClassic, "key": prefix}
    if flavour == "sharded":
        return {"adapter_class": ProbeSharded, "channel_prefix": prefix,
                "subscription_mode": "dynamic"}
    raise ValueError(f"unknown flavour {flavour!r}")


async def _settled(server: PyServer) -> None:
    """Wait until Redis confirmed the sharded room channels of ``server`` (dynamic mode)."""
    adapter = server.adapter
    if isinstance(adapter, AsyncShardedRedisAdapter):
        for channel in list(adapter.flavour.subscriptions.rooms.values()):
            await adapter.connection.ssubscribe(channel)


async def run_scenario(url: str, flavour: str, *, prefix: str | None = None,
                       redis_options: dict[str, Any] | None = None) -> ScenarioResult:
    """Run the scenario of the module doc on ``url``; never raises for a failing step."""
    prefix = prefix or f"sec-{uuid.uuid4().hex[:8]}"
    result = ScenarioResult(flavour, prefix)
    servers: list[PyServer] = []
    clients: list[Client] = []
    options = adapter_options(flavour, prefix)
    if redis_options is not None:
        options["redis_options"] = redis_options

    async def start() -> None:
        for _ in range(2):
            servers.append(await PyServer.start(url, requests_timeout=3.0, **options))
        errors = [s.adapter.start_error for s in servers if s.adapter.start_error is not None]
        if errors:
            raise errors[0]
        clients.append(await Client.connect(servers[0].url, rooms=["r1"], data="d0"))
        clients.append(await Client.connect(servers[1].url, rooms=["r2"], data="d1"))
        for server in servers:
            await _settled(server)

    async def server_count() -> None:
        for server in servers:
            count = await server.adapter.server_count()
            assert count == 2, f"server_count() == {count}"

    async def broadcast() -> None:
        payload = {"blob": b"\x00\x01\xfe\xff", "text": "hé"}
        await servers[0].adapter.emit("all", payload)
        for client in clients:
            assert await client.wait_for("all", timeout=3) == [[payload]]

    async def room() -> None:
        await servers[1].sio.emit("room", b"\xffroom", to="r1")
        await servers[1].sio.emit("marker", 1)  # after "room", on the same channel order
        assert await clients[0].wait_for("room", timeout=3) == [[b"\xffroom"]]
        await clients[1].wait_for("marker", timeout=3)
        assert clients[1].named("room") == []

    async def fetch_sockets() -> None:
        sockets = await servers[0].adapter.fetch_sockets()
        assert sorted(s.id for s in sockets) == sorted(c.sid() for c in clients)
        assert {s.id: s.data for s in sockets} == {clients[0].sid(): "d0", clients[1].sid(): "d1"}
        in_r2 = await servers[0].adapter.fetch_sockets("r2")
        assert [s.id for s in in_r2] == [clients[1].sid()]

    async def server_side_call() -> None:
        servers[1].adapter.on_server_side_event("hello", lambda n: {"pong": n})
        replies = await servers[0].adapter.server_side_call("hello", 5)
        assert replies == [{"pong": 5}], replies

    async def leave() -> None:
        await servers[0].sio.leave_room(clients[0].sid(), "r1")  # r1 has no socket left
        await servers[1].sio.emit("left", 1, to="r1")
        await servers[1].sio.emit("marker2", 1)
        await clients[0].wait_for("marker2", timeout=3)
        assert clients[0].named("left") == []

    async def idle() -> None:
        await asyncio.sleep(IDLE_SECONDS)

    async def close() -> None:
        if result.closing_at is None:
            result.closing_at = time.time()
        while clients:
            await clients.pop().close()
        while servers:
            server = servers.pop()
            result.stats.append(dict(server.adapter.stats))
            await server.stop()

    steps: list[tuple[str, Callable[[], Awaitable[None]]]] = [
        ("start", start), ("server_count", server_count), ("broadcast", broadcast),
        ("room", room), ("fetch_sockets", fetch_sockets), ("server_side_call", server_side_call),
        ("leave", leave), ("idle", idle), ("close", close),
    ]
    try:
        for name, step in steps:
            try:
                await asyncio.wait_for(step(), STEP_TIMEOUT)
            except Exception as exc:
                result.failed, result.error = name, exc
                break
            result.passed.append(name)
    finally:
        await asyncio.wait_for(close(), STEP_TIMEOUT)
    return result


def acl_denials(ports: Iterable[int], username: str, *, tls_ca: str | None = None,
                admin_password: str | None = None) -> set[tuple[str, str]]:
    """``(reason, object)`` of every ``ACL LOG`` entry of ``username`` on the nodes at ``ports``.

    ``reason`` is ``command`` (the object is the command, e.g. ``publish`` or
    ``pubsub|numsub``) or ``channel`` (the object is the channel or pattern).
    """
    found = set()
    for port in ports:
        entries = admin_command(port, "ACL", "LOG", "128", tls_ca=tls_ca,
                                password=admin_password)
        for entry in entries:
            fields = {str(entry[i]): entry[i + 1] for i in range(0, len(entry) - 1, 2)}
            if fields.get("username") == username:
                found.add((str(fields["reason"]), str(fields["object"])))
    return found


def logged_command(name: str) -> str:
    """How ``ACL LOG`` names the refused command ``name`` (``pubsub|numsub``) on this
    run's server: as it is, or without its subcommand on Redis 6.2 (``pubsub``)."""
    return name if SERVER.acl_by_subcommand else name.split("|", 1)[0]


def delete_user(ports: Iterable[int], username: str, *, tls_ca: str | None = None,
                admin_password: str | None = None) -> None:
    """``ACL DELUSER username`` on every node (a shared topology stays clean)."""
    for port in ports:
        admin_command(port, "ACL", "DELUSER", username, tls_ca=tls_ca, password=admin_password)


__all__ = ["STEPS", "ProbeClassic", "ProbeSharded", "ScenarioResult", "acl_denials",
           "adapter_options", "delete_user", "logged_command", "run_scenario"]
