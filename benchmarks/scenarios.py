"""End-to-end scenarios: our adapter vs python-socketio's AsyncRedisManager vs Node.

Run from the repository root::

    python benchmarks/scenarios.py [--quick|--smoke] [--only a,b,...,sharded] [--json out.json]

It starts its own redis-server on a free loopback port, and for every
scenario and implementation starts separate server and client processes,
measures, and stops them (by PID).  Implementations (table rows):

* ``ours-compiled``: ``AsyncRedisAdapter`` with the compiled core (checked in the child);
* ``ours-pure``: the same with ``SOCKETIO_REDIS_ADAPTER_NO_EXTENSIONS=1``;
* ``python-socketio AsyncRedisManager``;
* ``node @socket.io/redis-adapter`` (``benchmarks/node_server.js``; skipped
  with a note when node or ``tests/node/node_modules`` is missing).

Python servers run aiohttp on uvloop.  Scenarios:

* **a, publish**: a server emits N events to a room nobody is in, a second
  server of the same kind listens; publisher CPU per emit, emits/s (wall),
  and the listening peer's CPU per message.
* **b, foreign rooms**: N raw publishes (each implementation's own format)
  to a room the receiver has no socket in; receiver CPU per message.
* **c, fan-out**: one receiver with 500 websocket clients in one room;
  a burst of raw broadcasts gives receiver CPU per delivery and
  deliveries/s, then series paced at 10 and 50 broadcasts a second give
  the steady-state CPU per delivery and p50/p99 latency.
* **d, many rooms**: rooms of 5 sockets over 3 servers, raw publishes to
  random rooms; CPU of all 3 servers per message and deliveries/s.
* **e, memory**: RSS growth of a server per idle connected socket, the
  median of three fresh servers (one process's RSS moves in steps of a few
  MB, a third of a KB per socket at 10k sockets).
* **f, g, h, cross-server requests**: two servers; 100 sockets in one room
  on server 1; server 0 makes calls one after another: ``fetch_sockets`` of
  the room (f), ``all_rooms`` (g), ``server_side_call("ping")`` answered
  ``"pong"`` (h; Node's ``serverSideEmitWithAck``); the call's latency p50
  and p99 and the CPU per call of each server.  python-socketio's managers
  have none of these (their rows say so).

The **uvicorn** group (``--only uvicorn``) runs c with the Python servers on
ASGI under uvicorn (its default websocket implementation) instead of aiohttp.

The **transport** group (``--only transport``) runs a, b and c with our
classic flavour (``AsyncRedisAdapter``, compiled core) on its two asyncio
transports: ``RawPubSub``, the adapter's own RESP client that ``redis://``
URLs get, and ``RedisPubSub`` (redis-py, ``connection=RedisPubSub.from_url(url)``),
what ``rediss://`` URLs and ``redis_options`` get.  The **transport-sync**
group (``--only transport-sync``) does the same for synchronous servers:
``RedisAdapter``'s manager and flavour on ``BlockingPubSub`` (its own blocking
client) and on redis-py's blocking client (``_redispy_blocking.py``).

The **sharded** group (``--only sharded``) runs a, b and c again on a
3-master Redis Cluster it starts (``tests.support.topologies.RedisCluster``,
stopped by PID at the end), with our ``AsyncShardedRedisAdapter`` and Node's
``createShardedAdapter`` (both in ``dynamic`` mode, Node's default) beside
the classic flavours (ours, Node's) on the same cluster; raw publishes are
SPUBLISHed to the master of the channel's slot.

CPU is each server's own process CPU time, so the numbers hold up on a
noisy machine better than wall-clock rates (emits/s, deliveries/s and
latencies are wall clock: compare them only within one run).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import signal
import subprocess
import sys
import time
import uuid
from importlib import metadata
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

# the repository root too: the cluster comes from the test suite's topologies
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from _scenario_cluster import (  # noqa: E402
    ARM,
    ARM_UVICORN,
    CLUSTER_IMPLS,
    IMPLS,
    NODE,
    NODE_SHARDED,
    OURS_CLASSIC,
    OURS_RAW,
    OURS_SHARDED,
    SYNC_BLOCKING,
    SYNC_EVENTLET_IMPLS,
    SYNC_GEVENT_IMPLS,
    SYNC_IMPLS,
    SYNC_RM,
    SYNC_RM_EVENTLET,
    SYNC_RM_GEVENT,
    SYNC_TRANSPORT_IMPLS,
    TRANSPORT_IMPLS,
    UVICORN_IMPLS,
    Cluster,
    Impl,
    node_missing,
)
from _scenario_procs import RedisClusterServer, RedisServer, stop_all  # noqa: E402
from _scenario_runs import RUNS, Sizes  # noqa: E402

# scenario: (title, [(metric key, header, format)], metrics compared (lower is better))
COLUMNS: dict[str, tuple[str, list[tuple[str, str, str]], list[str]]] = {
    "a": (
        "a) publish: emit to a room nobody is in (publisher CPU)",
        [
            ("us_per_emit", "publisher CPU µs/emit", "{:.1f}"),
            ("emits_per_s", "emits/s (wall)", "{:,.0f}"),
            ("peer_us_per_msg", "listening peer CPU µs/msg", "{:.1f}"),
        ],
        ["us_per_emit"],
    ),
    "b": (
        "b) foreign rooms: messages for a room the receiver lacks (receiver CPU)",
        [
            ("us_per_msg", "receiver CPU µs/msg", "{:.2f}"),
        ],
        ["us_per_msg"],
    ),
    "c": (
        "c) fan-out: one room of 500 websocket clients (receiver CPU)",
        [
            ("us_per_delivery", "receiver CPU µs/delivery (burst)", "{:.2f}"),
            ("deliveries_per_s", "deliveries/s (wall, burst)", "{:,.0f}"),
            ("paced_us_per_delivery", "receiver CPU µs/delivery (paced 10/s)", "{:.2f}"),
            ("paced50_us_per_delivery", "receiver CPU µs/delivery (paced 50/s)", "{:.2f}"),
            ("p50_ms", "latency p50 ms (10/s)", "{:.2f}"),
            ("p99_ms", "latency p99 ms (10/s)", "{:.2f}"),
            ("paced50_p99_ms", "latency p99 ms (50/s)", "{:.2f}"),
        ],
        ["us_per_delivery", "paced_us_per_delivery", "paced50_us_per_delivery"],
    ),
    "d": (
        "d) many rooms: rooms of 5 sockets over 3 servers, random rooms (CPU of all 3)",
        [
            ("us_per_msg", "CPU µs/msg (3 servers)", "{:.1f}"),
            ("us_per_delivery", "CPU µs/delivery", "{:.1f}"),
            ("deliveries_per_s", "deliveries/s (wall)", "{:,.0f}"),
        ],
        ["us_per_msg"],
    ),
    **{
        letter: (
            f"{letter}) {title}: server 0 asks, one call after another; server 1 has "
            "100 sockets in the room",
            [
                ("p50_ms", "latency p50 ms", "{:.2f}"),
                ("p99_ms", "latency p99 ms", "{:.2f}"),
                ("asker_us_per_call", "asking server CPU µs/call", "{:.0f}"),
                ("answerer_us_per_call", "answering server CPU µs/call", "{:.0f}"),
            ],
            ["p50_ms", "asker_us_per_call", "answerer_us_per_call"],
        )
        for letter, title in (("f", "fetch_sockets(room)"), ("g", "all_rooms()"),
                              ("h", "server_side_call (serverSideEmitWithAck)"))
    },
    "e": (
        "e) memory: RSS growth per idle connected socket",
        [
            ("kb_per_socket", "KB/socket", "{:.2f}"),
            ("mb_per_10k", "MB per 10k sockets", "{:.1f}"),
            ("rss0_mb", "RSS before, MB", "{:.1f}"),
        ],
        ["kb_per_socket"],
    ),
}


#: the cross-server request scenarios (ours and Node only)
REQUEST_SCENARIOS = ("f", "g", "h")

# the sharded group: scenarios a, b, c on a 3-master Redis Cluster
CLUSTER_COLUMNS: dict[str, tuple[str, list[tuple[str, str, str]], list[str]]] = {
    "a": (
        "sharded a) publish on a 3-master cluster: emit to a room nobody is in (publisher CPU)",
        COLUMNS["a"][1],
        ["us_per_emit"],
    ),
    "b": (
        "sharded b) foreign rooms on a 3-master cluster: messages for a room the receiver lacks",
        [
            ("us_per_msg", "receiver CPU µs/msg", "{:.2f}"),
            ("redis_sent_per_msg", "sent to the receiver by Redis, per msg", "{:.2f}"),
        ],
        [],  # ~0 in dynamic mode: a ratio to it means nothing
    ),
    "c": (
        "sharded c) fan-out on a 3-master cluster: one room of 500 websocket clients",
        COLUMNS["c"][1],
        ["us_per_delivery", "paced_us_per_delivery", "paced50_us_per_delivery"],
    ),
}

CLUSTER_NOTES = {
    "a": "dynamic mode: an emit to one room is SPUBLISHed on that room's own channel, which no "
    "server subscribed (nobody is in the room), so the listening peer gets nothing; the classic "
    "flavour PUBLISHes on its namespace pattern, which Redis Cluster forwards to every node, "
    "and the peer decodes and drops it.",
    "b": "dynamic mode: the receiver never subscribed the channel of a room it has no socket in, "
    "so Redis does not send it these messages at all (0 sent per message, from the SPUBLISH "
    "replies); its CPU over the window is what the idle server spends, ~0 by construction.  "
    "Classic: every message reaches the server, which decodes the room and drops it "
    "('–': a PUBLISH reply on a cluster only counts the node it was sent to).",
    "c": "the room's channel is subscribed on its slot's master only (sharded) or every "
    "message crosses the cluster bus to the subscriber's node (classic).",
}

#: a group of rows: its implementations, scenarios, columns and reference rows for ratios
GROUPS: dict[str, dict[str, Any]] = {
    "standalone": {
        "impls": IMPLS,
        "scenarios": ["a", "b", "c", "d", "e", "f", "g", "h"],
        "columns": COLUMNS,
        "refs": [("vs AsyncRedisManager", ARM), ("vs Node", NODE)],
        "notes": {},
    },
    "uvicorn": {
        "impls": UVICORN_IMPLS,
        "scenarios": ["c"],
        "columns": {"c": (f"uvicorn {COLUMNS['c'][0]}", COLUMNS["c"][1], COLUMNS["c"][2])},
        "refs": [("vs AsyncRedisManager (uvicorn)", ARM_UVICORN), ("vs Node", NODE)],
        "notes": {"c": "python-socketio's ASGIApp under uvicorn (its default websocket "
                       "implementation, websockets-sansio) on uvloop; Node as in the "
                       "standalone table."},
    },
    "sync": {
        "impls": SYNC_IMPLS,
        "scenarios": ["a", "b", "c"],
        "columns": {k: (f"sync {v[0]}", v[1], v[2]) for k, v in COLUMNS.items()},
        "refs": [("vs RedisManager", SYNC_RM)],
        "notes": {"c": "socketio.Server in threading mode: Werkzeug's threaded server, a "
                       "reader and a writer thread per websocket client (python-engineio); "
                       "ours writes broadcast frames straight to idle clients (direct_frames)."},
    },
    "sync-gevent": {
        "impls": SYNC_GEVENT_IMPLS,
        "scenarios": ["a", "b", "c"],
        "columns": {k: (f"sync-gevent {v[0]}", v[1], v[2]) for k, v in COLUMNS.items()},
        "refs": [("vs RedisManager (gevent)", SYNC_RM_GEVENT)],
        "notes": {"c": "socketio.Server in gevent mode: gevent's WSGI server with "
                       "gevent-websocket, the standard library monkey patched; every green "
                       "thread runs in one OS thread."},
    },
    "sync-eventlet": {
        "impls": SYNC_EVENTLET_IMPLS,
        "scenarios": ["a", "b", "c"],
        "columns": {k: (f"sync-eventlet {v[0]}", v[1], v[2]) for k, v in COLUMNS.items()},
        "refs": [("vs RedisManager (eventlet)", SYNC_RM_EVENTLET)],
        "notes": {"c": "socketio.Server in eventlet mode: eventlet's WSGI server and "
                       "websocket, the standard library monkey patched."},
    },
    "transport": {
        "impls": TRANSPORT_IMPLS,
        "scenarios": ["a", "b", "c"],
        "columns": {k: (f"transport {v[0]}", v[1], v[2]) for k, v in COLUMNS.items()},
        "refs": [("vs RawPubSub", OURS_RAW)],
        "notes": {"a": "AsyncRedisAdapter with the compiled core on both rows; RawPubSub is "
                       "what a redis:// URL gets, RedisPubSub (redis-py) what rediss:// URLs "
                       "and redis_options get."},
    },
    "transport-sync": {
        "impls": SYNC_TRANSPORT_IMPLS,
        "scenarios": ["a", "b", "c"],
        "columns": {k: (f"transport-sync {v[0]}", v[1], v[2]) for k, v in COLUMNS.items()},
        "refs": [("vs BlockingPubSub", SYNC_BLOCKING)],
        "notes": {"a": "RedisAdapter's manager and classic flavour with the compiled core on "
                       "both rows, socketio.Server in threading mode; only the Redis client "
                       "differs."},
    },
    "sharded": {
        "impls": CLUSTER_IMPLS,
        "scenarios": ["a", "b", "c"],
        "columns": CLUSTER_COLUMNS,
        "refs": [("vs ours classic", OURS_CLASSIC), ("vs Node sharded", NODE_SHARDED)],
        "notes": CLUSTER_NOTES,
    },
}


def command_output(argv: list[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "n/a"


def machine_facts() -> dict[str, str]:
    cpu = "n/a"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    redis_version = command_output(["redis-server", "--version"]).split(" ")
    return {
        "CPU": cpu,
        "cores": str(os.cpu_count()),
        "kernel": platform.release(),
        "Python": platform.python_version(),
        "python-socketio": metadata.version("python-socketio"),
        "redis-server": next((p[2:] for p in redis_version if p.startswith("v=")), "n/a"),
        "Node": command_output(["node", "--version"]) or "n/a",
        "adapter source": source_revision(),
    }


def source_revision() -> str:
    """The commit the adapter was measured at, and whether ``src/`` had local changes."""
    repo = str(Path(__file__).resolve().parent.parent)
    head = command_output(["git", "-C", repo, "rev-parse", "--short", "HEAD"]) or "n/a"
    dirty = command_output(["git", "-C", repo, "status", "--porcelain", "--", "src"])
    return f"{head} (src/ has uncommitted changes)" if dirty else head


def ratio(value: float | None, base: float | None) -> str:
    """``value / base`` as ``1.23×``; ``–`` when either is missing or base is 0."""
    if value is None or base is None or base == 0 or math.isnan(value) or math.isnan(base):
        return "–"
    return f"{value / base:.2f}×"


# scenarios measured on several fresh clusters; the run with the median of
# the scenario's first ratio column is kept
TRIALS = {"e": 3}


def run_trials(
    scenario: str, impl: Impl, target: RedisServer | RedisClusterServer, key: str, sizes: Sizes,
    metric: str,
) -> dict[str, Any]:
    """Run ``scenario`` for ``impl`` on fresh clusters; return the median run by ``metric``."""
    runs = []
    for trial in range(TRIALS.get(scenario, 1)):
        cluster = Cluster(impl, target, f"{key}-{trial}")
        try:
            runs.append(RUNS[scenario](cluster, sizes))
        except Exception as exc:
            print(f"  FAILED: {exc}", file=sys.stderr, flush=True)
            return {"error": str(exc).splitlines()[0]}
        finally:
            cluster.stop()
    runs.sort(key=lambda run: float(run[metric]))
    return dict(runs[len(runs) // 2])


def cell(fmt: str, value: Any) -> str:
    return "–" if value is None else fmt.format(value)


def table(
    scenario: str, results: dict[str, dict[str, Any]], group: dict[str, Any]
) -> str:
    """One scenario's markdown table, with ratios to the group's reference rows."""
    title, columns, compared = group["columns"][scenario]
    refs: list[tuple[str, str]] = group["refs"]
    headers = dict((key, header) for key, header, _ in columns)
    head = ["implementation"] + [h for _, h, _ in columns]
    for key in compared:
        what = f" ({headers[key].split('(')[-1].rstrip(')')})" if len(compared) > 1 else ""
        head += [f"{label}{what}" for label, _ in refs]
    lines = [
        f"**{title}**",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|",
    ]
    for name, row in results.items():
        if "error" in row or "skipped" in row:
            note = row.get("error") or row.get("skipped")
            lines.append(f"| {name} | " + " | ".join(["–"] * (len(head) - 1)) + f" |  ({note})")
            continue
        cells = [cell(fmt, row.get(key)) for key, _, fmt in columns]
        for key in compared:
            cells += [ratio(row[key], results.get(ref, {}).get(key)) for _, ref in refs]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append("")
    if compared:
        lines.append(
            "ratios: "
            + ", ".join(headers[k] for k in compared)
            + " of the row / of the reference row (lower is better)"
        )
    note = group["notes"].get(scenario)
    if note:
        lines.append(("\n" if compared else "") + "note: " + note)
    return "\n".join(lines)


def sharded_verdict(results: dict[str, dict[str, dict[str, Any]]], mode: str) -> str:
    """Ours sharded against ours classic on the cluster: the issue's "no worse" check."""
    checks = [
        ("a", "us_per_emit", "publisher CPU per emit"),
        ("c", "us_per_delivery", "receiver CPU per delivery (burst)"),
        ("c", "paced_us_per_delivery", "receiver CPU per delivery (paced)"),
        ("b", "us_per_msg", "receiver CPU per message for a room it lacks"),
    ]
    lines = ["**sharded vs classic flavour (ours, same cluster, this run)**", ""]
    for scenario, key, what in checks:
        rows = results.get(scenario, {})
        sharded, classic = rows.get(OURS_SHARDED, {}), rows.get(OURS_CLASSIC, {})
        if key not in sharded or key not in classic:
            continue
        a, b = float(sharded[key]), float(classic[key])
        verdict = "no worse" if a <= b * 1.05 else "WORSE"
        lines.append(f"* {what}: sharded {a:.2f} µs, classic {b:.2f} µs, "
                     f"ratio {ratio(a, b)} ({verdict}; 5% tolerance for noise)")
    if len(lines) == 2:
        return ""
    if mode == "smoke":
        lines.append("\n(smoke sizes: too small to tell; run without --smoke to compare)")
    return "\n".join(lines)


#: what ``--only sync`` runs: synchronous servers in each async mode python-socketio has
SYNC_GROUPS = ("sync", "sync-gevent", "sync-eventlet")


def parse_only(text: str) -> list[tuple[str, str]]:
    """``a,b,sharded`` -> [(group, scenario)]: letters are the standalone scenarios,
    ``sharded`` the cluster group's a, b, c, and ``sharded-X`` one of them."""
    plan: list[tuple[str, str]] = []
    for token in (t.strip() for t in text.split(",")):
        if not token:
            continue
        if token in GROUPS and token != "standalone":
            # "sync": synchronous servers in every async mode (threading, gevent, eventlet)
            groups = SYNC_GROUPS if token == "sync" else (token,)
            plan += [(group, s) for group in groups for s in GROUPS[group]["scenarios"]]
            continue
        # the longest group name first: transport-sync-a is not transport's "sync-a"
        for group in sorted(GROUPS, key=len, reverse=True):
            if group != "standalone" and token.startswith(group + "-"):
                plan.append((group, token[len(group) + 1:]))
                break
        else:
            plan.append(("standalone", token))
    for group, scenario in plan:
        if scenario not in GROUPS[group]["scenarios"]:
            raise ValueError(
                f"unknown scenario {scenario!r} in group {group}; choose from "
                f"{GROUPS['standalone']['scenarios']}, sharded, sync, uvicorn, transport, "
                "transport-sync, "
                + ", ".join(f"{g}-{x}" for g in ("sharded", "sync", "transport", "transport-sync")
                            for x in GROUPS[g]["scenarios"])
            )
    return list(dict.fromkeys(plan))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sizes_group = parser.add_mutually_exclusive_group()
    sizes_group.add_argument("--quick", action="store_true", help="smaller sizes (minutes)")
    sizes_group.add_argument(
        "--smoke", action="store_true",
        help="tiny sizes: every step runs once, the numbers mean little (CI; "
        "--only sharded --smoke takes well under a minute)",
    )
    parser.add_argument(
        "--only", default="a,b,c,d,e,f,g,h,sharded,sync,uvicorn,transport,transport-sync",
        help="comma-separated scenarios to run: a..h on a standalone Redis, 'sharded' for "
        "a, b, c on a 3-master Redis Cluster (sharded and classic flavours), 'sync' for a, b, "
        "c with synchronous servers (RedisAdapter, RedisManager) in threading, gevent and "
        "eventlet modes ('sync-gevent', 'sync-eventlet' for one mode), 'uvicorn' for c with ASGI "
        "servers under uvicorn, 'transport' for a, b, c with our classic flavour on "
        "RawPubSub and on RedisPubSub (redis-py), 'transport-sync' for a, b, c with "
        "RedisAdapter on BlockingPubSub and on redis-py's blocking client, or sharded-a, "
        "sync-b, transport-c, transport-sync-a... "
        "(default: a,b,c,d,e,f,g,h,sharded,sync,uvicorn,transport,transport-sync)",
    )
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument(
        "--rows", metavar="TEXT[|TEXT]",
        help="run only the rows whose name contains one of these texts, separated by '|' "
        "(row names hold commas), e.g. 'ours-compiled|RedisAdapter (sync, compiled)' for a "
        "regression run of our compiled adapters (the others are reported as skipped)",
    )
    args = parser.parse_args()
    wanted_rows = [text for text in (args.rows or "").split("|") if text]
    try:
        plan = parse_only(args.only)
    except ValueError as exc:
        parser.error(str(exc))
    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    sizes = Sizes.make(mode)

    def interrupted(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    facts = machine_facts()
    print("## Machine\n")
    for k, v in facts.items():
        print(f"* {k}: {v}")
    print(f"\nmode: {mode}; sizes: {sizes}\n", flush=True)
    skip_node = node_missing()
    if skip_node:
        print(f"note: skipping the Node rows: {skip_node}\n", flush=True)

    # results[group][scenario][row]
    all_results: dict[str, dict[str, dict[str, dict[str, Any]]]] = {}
    started = time.monotonic()
    targets: dict[str, RedisServer | RedisClusterServer] = {}
    run_id = uuid.uuid4().hex[:8]
    try:
        for group_name, scenario in plan:
            group = GROUPS[group_name]
            if group_name not in targets:
                print(f"[{time.monotonic() - started:6.1f}s] starting Redis for {group_name} ...",
                      file=sys.stderr, flush=True)
                targets[group_name] = (
                    RedisClusterServer(3) if group_name == "sharded" else RedisServer()
                )
            results: dict[str, dict[str, Any]] = {}
            all_results.setdefault(group_name, {})[scenario] = results
            metric = (group["columns"][scenario][2] or [group["columns"][scenario][1][0][0]])[0]
            for impl in group["impls"]:
                if wanted_rows and not any(text in impl.name for text in wanted_rows):
                    results[impl.name] = {"skipped": "not in --rows"}
                    continue
                if impl.kind == "node" and skip_node:
                    results[impl.name] = {"skipped": skip_node}
                    continue
                if scenario in REQUEST_SCENARIOS and impl.kind == "arm":
                    results[impl.name] = {"skipped": "python-socketio's managers have no "
                                                     "cross-server requests"}
                    continue
                print(
                    f"[{time.monotonic() - started:6.1f}s] {group_name} {scenario}: "
                    f"{impl.name} ...",
                    file=sys.stderr,
                    flush=True,
                )
                key = f"bench-{run_id}-{scenario}-{impl.kind}-{impl.flavour}"
                results[impl.name] = run_trials(
                    scenario, impl, targets[group_name], key, sizes, metric
                )
            print(table(scenario, results, group) + "\n", flush=True)
        if "sharded" in all_results:
            verdict = sharded_verdict(all_results["sharded"], mode)
            if verdict:
                print(verdict + "\n", flush=True)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        stop_all()
        for target in targets.values():
            target.stop()
    print(f"total time {time.monotonic() - started:.0f} s", flush=True)
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {"facts": facts, "mode": mode, "sizes": vars(sizes), "results": all_results},
                indent=2,
            )
        )
    failed = any(
        "error" in row
        for res in all_results.values()
        for rows in res.values()
        for row in rows.values()
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
