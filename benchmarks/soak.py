"""Soak: three servers under churn for minutes; RSS and every internal table stay flat.

Usage::

    python benchmarks/soak.py [--minutes N] [--short] [--flavour classic|sharded]
                              [--clients N] [--seed N] [--json PATH]

It starts its own redis-server on a free 127.0.0.1 port and three
python-socketio servers (aiohttp, our adapter; ``_soak_server.py``) in their
own processes, and drives them for ``--minutes`` (default 5; ``--short``:
about 40 s in all, for CI):

- real Socket.IO clients (python-socketio's ``AsyncClient``; websocket, one
  in six long-polling; one in four also in the ``/chat`` namespace)
  connect to a random server, join rooms (at connect and by events), leave
  them, broadcast to rooms through the server, stay 1 to 5 s and disconnect,
  again and again; every connection also joins a room of its own, so room
  names (and, sharded, room channels) keep changing.  One client in three
  answers acknowledgements late (after ``SLOW_ACK`` seconds, past every
  timeout).
- each server, in three loops: broadcasts to a room (text, binary, and in
  ``/chat``), to everyone and to rooms with exceptions; ``fetch_sockets``, ``all_rooms``,
  ``server_side_emit``, ``server_side_call``; ``emit_with_ack`` with a 1 s
  timeout (which the slow clients make expire); emits with a callback to a
  socket on another server and on this one; remote joins and leaves; and
  ``disconnect_sockets`` of a socket on another server.

Each server's RSS (VmRSS) and ``table_sizes()`` (plus engine.io's sockets
and environs, and the asyncio tasks) are sampled after ``gc.collect()``:
``baseline`` (servers up, each has had one client, none now), ``start`` (after the warm-up),
``mid``, ``end`` (of the load), and ``after`` (the load stopped, every client
gone, and ``GRACE`` seconds for every request, ack and callback timeout to
elapse).  The printed table shows the three servers' values as ``a/b/c``.

Pass (exit 0) when, on every server: every table and server count in
``after`` equals its ``baseline`` (the caches, listed in ``CACHES``, only
stay within their limits; asyncio tasks may be fewer: engine.io ends the
ping task of the priming client's socket at its next ping), RSS grew by at
most ``RSS_GROWTH_PCT`` % (or ``RSS_GROWTH_FLOOR`` MiB, whichever is larger)
between ``mid`` and ``end``,
the load really ran (acks timed out, callbacks crossed servers, remote
disconnects happened) and no operation failed other than by a request
timeout.  Exit 1 when a criterion is violated, 2 when the rig itself failed.
Only the processes it started are stopped, by PID.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import engineio.payload  # noqa: E402
import socketio  # noqa: E402
from _scenario_procs import Child, ChildError, RedisServer, stop_all  # noqa: E402
from _soak_server import (  # noqa: E402
    ACK_TIMEOUT,
    CALLBACK_TIMEOUT,
    CHAT,
    REQUESTS_TIMEOUT,
    ROOMS,
)

# python-engineio's client drops a long-polling payload of more than 16 packets (its
# max_decode_packets) and then misreads what follows; a server that emits in bursts
# (this adapter's emit does not yield between recipients, as python-socketio's own
# manager does by awaiting a task per recipient) queues more than that between two
# polls.  The soak measures the servers, so its polling clients take bigger payloads.
engineio.payload.Payload.max_decode_packets = 4096

SERVER = str(Path(__file__).resolve().parent / "_soak_server.py")
SERVERS = 3
#: a slow client answers acknowledgements after this many seconds (past every timeout)
SLOW_ACK = 2.5
#: seconds after the load stops (clients gone) before the ``after`` sample
GRACE = SLOW_ACK + max(ACK_TIMEOUT, CALLBACK_TIMEOUT, REQUESTS_TIMEOUT) + 3.0
#: RSS may grow this much between mid and end (5-minute runs grew 0.0 to 0.3 MiB)
RSS_GROWTH_PCT = 3.0
RSS_GROWTH_FLOOR = 2.0
#: bounded caches: not state, so not held to their baseline; the limit each stays within
CACHES = {
    "one_room_endings": 4096, "plain_read_targets": 1024, "publish_routes": 65536,
    "slot_cache": 65536, "own_endings": 64, "server_side_handlers": 64,
}
PHASES = ("baseline", "start", "mid", "end", "after")
MIB = 1024 * 1024


@dataclass
class Plan:
    """How long each part of a run lasts (seconds) and how many clients drive it."""

    load: float
    warmup: float
    clients: int
    sample_every: float

    @classmethod
    def make(cls, minutes: float, short: bool, clients: int | None) -> Plan:
        if short:
            return cls(load=24.0, warmup=8.0, clients=clients or 24, sample_every=4.0)
        load = max(60.0, minutes * 60.0)
        return cls(load=load, warmup=min(60.0, load / 5), clients=clients or 36,
                   sample_every=10.0)


@dataclass
class ClientStats:
    """What the driver's clients saw (counted by name)."""

    counts: Counter[str] = field(default_factory=Counter)


async def client_loop(index: int, urls: list[str], stopping: asyncio.Event, seed: int,
                      stats: ClientStats) -> None:
    """One client slot: connect, act for a while, disconnect, until ``stopping``."""
    rnd = random.Random(seed * 1000 + index)
    slow = index % 3 == 0
    transports = ["polling"] if index % 6 == 1 else ["websocket"]
    namespaces = ["/", CHAT] if index % 4 == 2 else ["/"]
    serial = 0

    async def pause(seconds: float) -> bool:
        """Sleep ``seconds`` or until stopping; True when stopping."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stopping.wait(), seconds)
        return stopping.is_set()

    while not stopping.is_set():
        serial += 1
        own = f"own-{index}-{serial}"
        client = socketio.AsyncClient(reconnection=False, logger=False, engineio_logger=False)

        @client.on("*")
        async def any_event(event: str, *args: Any) -> None:
            stats.counts["received"] += 1

        @client.on("ask")
        async def ask(*args: Any) -> str:
            stats.counts["asked"] += 1
            if slow:
                await asyncio.sleep(SLOW_ACK)
            return "ok"

        rooms = [*rnd.sample(ROOMS, rnd.randint(0, 3)), own]
        try:
            await asyncio.wait_for(client.connect(
                rnd.choice(urls), transports=transports, namespaces=namespaces,
                auth={"rooms": rooms}, wait_timeout=10,
            ), 15)
            stats.counts["connects"] += 1
            until = time.monotonic() + rnd.uniform(1.0, 5.0)
            while time.monotonic() < until and client.connected:
                action = rnd.random()
                if action < 0.3:
                    await client.emit("join", rnd.choice(ROOMS))
                elif action < 0.55:
                    await client.emit("leave", rnd.choice(ROOMS))
                elif action < 0.9:
                    await client.emit("say", [rnd.choice(ROOMS), "hello"])
                else:
                    await client.emit("say", [own, "alone"])
                if await pause(rnd.uniform(0.2, 0.8)):
                    break
            if not client.connected:
                stats.counts["disconnected_by_server"] += 1
        except socketio.exceptions.BadNamespaceError:
            # disconnect_sockets without close: "/" is gone, "/chat" still connected
            stats.counts["disconnected_by_server"] += 1
        except (socketio.exceptions.SocketIOError, asyncio.TimeoutError, OSError) as exc:
            stats.counts[f"client_error:{type(exc).__name__}"] += 1
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.disconnect(), 10)
        await pause(rnd.uniform(0.05, 0.4))


async def prime(urls: list[str]) -> None:
    """One client on each server, once: what a server starts with its first client
    (engine.io's service task) belongs to the baseline."""
    for url in urls:
        client = socketio.AsyncClient(reconnection=False, logger=False, engineio_logger=False)
        await asyncio.wait_for(client.connect(url, transports=["websocket"], wait_timeout=10),
                               15)
        await asyncio.wait_for(client.disconnect(), 10)
    await asyncio.sleep(1.0)


class Servers:
    """The three server processes, asked in parallel (one request at a time each)."""

    def __init__(self, flavour: str, redis_url: str, seed: int) -> None:
        prefix = f"soak-{uuid.uuid4().hex[:8]}"
        self.children: list[Child] = []
        for i in range(SERVERS):
            self.children.append(Child(
                f"server{i + 1}",
                [sys.executable, SERVER, flavour, redis_url, prefix, str(seed * 10 + i)],
            ))
        self.ready = [child.wait_event("ready", 60) for child in self.children]
        self.urls = [f"http://127.0.0.1:{ready['port']}" for ready in self.ready]

    async def ask(self, cmd: str, timeout: float = 60.0, **fields: Any) -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(
            asyncio.to_thread(child.request, cmd, timeout, **fields)
            for child in self.children
        )))

    async def sample(self) -> list[dict[str, Any]]:
        return await self.ask("sample", gc=True)


def _row(values: list[Any]) -> str:
    return "/".join(str(v) for v in values)


def report(samples: dict[str, list[dict[str, Any]]], series: list[tuple[float, list[int]]]
           ) -> list[str]:
    """The figures as printed lines: one row per table, one column per phase."""
    phases = [phase for phase in PHASES if phase in samples]
    names = sorted({name for sample in samples["baseline"] for name in sample["tables"]})
    server_names = sorted(samples["baseline"][0]["server"])
    rows: list[tuple[str, list[str]]] = [
        ("rss MiB", [_row([round(s["rss"] / MIB, 1) for s in samples[p]]) for p in phases]),
    ]
    for name in server_names:
        rows.append((f"server.{name}", [_row([s["server"][name] for s in samples[p]])
                                        for p in phases]))
    for name in names:
        rows.append((name, [_row([s["tables"].get(name, "-") for s in samples[p]])
                            for p in phases]))
    width = max(len(name) for name, _ in rows) + 2
    cols = [max(len(phase), *(len(values[i]) for _, values in rows)) + 2
            for i, phase in enumerate(phases)]
    lines = ["table".ljust(width) + "".join(p.ljust(c) for p, c in zip(phases, cols,
                                                                        strict=True))]
    for name, values in rows:
        lines.append(name.ljust(width) + "".join(v.ljust(c) for v, c in zip(values, cols,
                                                                             strict=True)))
    lines.append("")
    lines.append("RSS MiB over the load (t s: a/b/c): " + "  ".join(
        f"{t:.0f}: {_row([round(r / MIB, 1) for r in rss])}" for t, rss in series
    ))
    return lines


def check(samples: dict[str, list[dict[str, Any]]], loads: list[dict[str, Any]]
          ) -> tuple[list[str], list[str]]:
    """The pass criterion: (failures, notes)."""
    failures: list[str] = []
    notes: list[str] = []
    for i, (base, after) in enumerate(zip(samples["baseline"], samples["after"], strict=True)):
        server = f"server{i + 1}"
        for name, value in after["tables"].items():
            if name in CACHES:
                if value > CACHES[name]:
                    failures.append(f"{server}: cache {name} = {value} > {CACHES[name]}")
            elif value != base["tables"].get(name):
                failures.append(f"{server}: {name} = {value} after the load, "
                                f"{base['tables'].get(name)} before")
        for name, value in after["server"].items():
            # engine.io ends a gone socket's ping task at its next ping: fewer is fine
            if value > base["server"][name] or (
                value < base["server"][name] and name != "asyncio_tasks"
            ):
                failures.append(f"{server}: server.{name} = {value} after the load, "
                                f"{base['server'][name]} before")
        extra = Counter(after["tasks"])
        extra.subtract(base["tasks"])
        if any(extra.values()):
            notes.append(f"{server}: asyncio tasks after minus before: " + ", ".join(
                f"{name} {count:+d}" for name, count in sorted(extra.items()) if count))
        mid, end = samples["mid"][i]["rss"], samples["end"][i]["rss"]
        growth = end - mid
        allowed = max(mid * RSS_GROWTH_PCT / 100, RSS_GROWTH_FLOOR * MIB)
        notes.append(f"{server}: RSS mid->end {growth / MIB:+.1f} MiB "
                     f"({100 * growth / mid:+.1f} %; allowed {allowed / MIB:.1f} MiB), "
                     f"start->end {(end - samples['start'][i]['rss']) / MIB:+.1f} MiB")
        if growth > allowed:
            failures.append(f"{server}: RSS grew {growth / MIB:.1f} MiB between mid and end "
                            f"(allowed {allowed / MIB:.1f})")
    total: Counter[str] = Counter()
    for load in loads:
        total.update(load["counts"])
    for name, count in sorted(total.items()):
        if ":error:" in name:
            failures.append(f"{count} operations failed: {name}")
    for needed in ("emit_with_ack:timeout", "remote_callback", "remote_disconnect",
                   "server_side_call", "fetch_sockets"):
        if total[needed] == 0:
            failures.append(f"the load never did {needed}: the soak proved nothing about it")
    return failures, notes


def _client_errors(stats: ClientStats) -> Any:
    """A loop exception handler that counts the clients' unretrieved task errors.

    python-socketio's client handles each message in a task; one that a
    disconnect overtakes (the client drops a binary packet's header when it
    disconnects, then reads the attachment as a packet) ends with an error
    nobody retrieves.  That is the client going away, not a server's fault.
    """
    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        stats.counts[f"client_task_error:{type(exc).__name__ if exc else 'none'}"] += 1

    return handler


async def drive(flavour: str, plan: Plan, seed: int) -> tuple[int, dict[str, Any]]:
    began = time.monotonic()
    stats = ClientStats()
    asyncio.get_running_loop().set_exception_handler(_client_errors(stats))
    redis = RedisServer()
    try:
        servers = await asyncio.to_thread(Servers, flavour, redis.url, seed)
        await prime(servers.urls)
        samples: dict[str, list[dict[str, Any]]] = {"baseline": await servers.sample()}
        await servers.ask("load_start")
        stopping = asyncio.Event()
        clients = [asyncio.ensure_future(client_loop(i, servers.urls, stopping, seed, stats))
                   for i in range(plan.clients)]
        load_began = time.monotonic()
        series: list[tuple[float, list[int]]] = []
        marks = {"start": plan.warmup, "mid": plan.warmup + (plan.load - plan.warmup) / 2,
                 "end": plan.load}
        next_sample = plan.warmup
        while True:
            elapsed = time.monotonic() - load_began
            due = min([next_sample, *(t for p, t in marks.items() if p not in samples)])
            if elapsed < due:
                await asyncio.sleep(min(due - elapsed, 1.0))
                if any(task.done() and task.exception() for task in clients):
                    raise next(t.exception() for t in clients  # type: ignore[misc]
                               if t.done() and t.exception())
                continue
            sample = await servers.sample()
            series.append((elapsed, [s["rss"] for s in sample]))
            for phase, at in marks.items():
                if phase not in samples and elapsed >= at:
                    samples[phase] = sample
            next_sample += plan.sample_every
            if "end" in samples:
                break
        stopping.set()
        await asyncio.wait_for(asyncio.gather(*clients), 60)
        loads = [reply for reply in await servers.ask("load_stop", timeout=60)]
        stopped = time.monotonic()
        await asyncio.sleep(GRACE)
        samples["after"] = await servers.sample()
        failures, notes = check(samples, loads)
        # when something is not back, look again later: slow, or left behind for good?
        if failures:
            await asyncio.sleep(10)
            later = await servers.sample()
            notes.append("10 s later: " + "; ".join(
                f"server{i + 1} " + ", ".join(
                    f"{k}={v}" for k, v in s["tables"].items()
                    if k not in CACHES and v != samples["baseline"][i]["tables"].get(k)
                ) for i, s in enumerate(later)
            ))
        lines = report(samples, series)
        result = {
            "flavour": flavour, "plan": plan.__dict__, "seed": seed,
            "fastpath": servers.ready[0].get("fastpath"), "samples": samples,
            "rss_series": series, "server_ops": loads, "clients": dict(stats.counts),
            "grace": GRACE, "failures": failures, "notes": notes,
            "load_seconds": round(stopped - load_began, 1),
            "wall_seconds": round(time.monotonic() - began, 1),
        }
        print(f"soak: flavour {flavour}, {SERVERS} servers, {plan.clients} client slots, "
              f"load {plan.load:.0f} s (warm-up {plan.warmup:.0f} s), grace {GRACE:.1f} s, "
              f"compiled core {result['fastpath']}")
        print("\n".join(lines))
        ops: Counter[str] = Counter()
        for load in loads:
            ops.update(load["counts"])
        print("server operations (3 servers): " + ", ".join(
            f"{name} {count}" for name, count in sorted(ops.items())))
        print("clients: " + ", ".join(f"{k} {v}" for k, v in sorted(stats.counts.items())))
        for note in notes:
            print(note)
        if failures:
            print("FAIL:")
            for failure in failures:
                print("  " + failure)
        else:
            print("PASS: every table back to its baseline after the load, caches within "
                  "their limits, RSS flat between mid and end")
        print(f"wall time {result['wall_seconds']} s")
        return (1 if failures else 0), result
    finally:
        stop_all()
        redis.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=5.0,
                        help="load duration, warm-up included (default 5)")
    parser.add_argument("--short", action="store_true",
                        help="about 40 s in all, for CI")
    parser.add_argument("--flavour", choices=("classic", "sharded"), default="classic")
    parser.add_argument("--clients", type=int, default=None,
                        help="concurrent client slots (default 36; 24 with --short)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None,
                        help="also write every figure to this file")
    args = parser.parse_args(argv)
    plan = Plan.make(args.minutes, args.short, args.clients)
    try:
        code, result = asyncio.run(drive(args.flavour, plan, args.seed))
    except (ChildError, OSError, asyncio.TimeoutError) as exc:
        print(f"soak: the rig failed: {exc!r}", file=sys.stderr)
        return 2
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=1, default=str))
    return code


if __name__ == "__main__":
    sys.exit(main())
