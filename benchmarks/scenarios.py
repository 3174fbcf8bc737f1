"""End-to-end scenarios: our adapter vs python-socketio's AsyncRedisManager vs Node.

Run from the repository root::

    python benchmarks/scenarios.py [--quick] [--only a,b,...] [--json out.json]

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
  deliveries/s, then a paced series gives p50/p99 latency.
* **d, many rooms**: rooms of 5 sockets over 3 servers, raw publishes to
  random rooms; CPU of all 3 servers per message and deliveries/s.
* **e, memory**: RSS growth of a server per idle connected socket, the
  median of three fresh servers (one process's RSS moves in steps of a few
  MB, a third of a KB per socket at 10k sockets).

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

from _scenario_cluster import ARM, IMPLS, NODE, Cluster, node_missing  # noqa: E402
from _scenario_procs import RedisServer, stop_all  # noqa: E402
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
            ("paced_us_per_delivery", "receiver CPU µs/delivery (paced)", "{:.2f}"),
            ("p50_ms", "latency p50 ms (paced)", "{:.2f}"),
            ("p99_ms", "latency p99 ms (paced)", "{:.2f}"),
        ],
        ["us_per_delivery", "paced_us_per_delivery"],
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
    if value is None or base is None or base == 0 or math.isnan(value) or math.isnan(base):
        return "–"
    return f"{value / base:.2f}×"


# scenarios measured on several fresh clusters; the run with the median of
# the scenario's first ratio column is kept
TRIALS = {"e": 3}


def run_trials(scenario: str, impl: Any, redis_url: str, key: str, sizes: Sizes) -> dict[str, Any]:
    """Run ``scenario`` for ``impl`` on fresh clusters; return the median run."""
    runs = []
    for trial in range(TRIALS.get(scenario, 1)):
        cluster = Cluster(impl, redis_url, f"{key}-{trial}")
        try:
            runs.append(RUNS[scenario](cluster, sizes))
        except Exception as exc:
            print(f"  FAILED: {exc}", file=sys.stderr, flush=True)
            return {"error": str(exc).splitlines()[0]}
        finally:
            cluster.stop()
    metric = COLUMNS[scenario][2][0]
    runs.sort(key=lambda run: float(run[metric]))
    return dict(runs[len(runs) // 2])


def table(scenario: str, results: dict[str, dict[str, Any]]) -> str:
    title, columns, compared = COLUMNS[scenario]
    headers = dict((key, header) for key, header, _ in columns)
    head = ["implementation"] + [h for _, h, _ in columns]
    for key in compared:
        what = f" ({headers[key].split('(')[-1].rstrip(')')})" if len(compared) > 1 else ""
        head += [f"vs AsyncRedisManager{what}", f"vs Node{what}"]
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
        cells = [fmt.format(row[key]) for key, _, fmt in columns]
        for key in compared:
            cells += [
                ratio(row[key], results.get(ARM, {}).get(key)),
                ratio(row[key], results.get(NODE, {}).get(key)),
            ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(
        "ratios: "
        + ", ".join(headers[k] for k in compared)
        + " of the row / of the reference row (lower is better)"
    )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (about 2 minutes)")
    parser.add_argument(
        "--only", default="a,b,c,d,e", help="comma-separated scenarios to run (default: a,b,c,d,e)"
    )
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args()
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in only if s not in RUNS]
    if unknown:
        parser.error(f"unknown scenario(s) {unknown}; choose from {list(RUNS)}")
    sizes = Sizes.make(args.quick)

    def interrupted(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    facts = machine_facts()
    print("## Machine\n")
    for k, v in facts.items():
        print(f"* {k}: {v}")
    print(f"\nmode: {'quick' if args.quick else 'full'}; sizes: {sizes}\n", flush=True)
    skip_node = node_missing()
    if skip_node:
        print(f"note: skipping the Node row: {skip_node}\n", flush=True)

    all_results: dict[str, dict[str, dict[str, Any]]] = {}
    started = time.monotonic()
    redis_server = RedisServer()
    run_id = uuid.uuid4().hex[:8]
    try:
        for scenario in only:
            results: dict[str, dict[str, Any]] = {}
            all_results[scenario] = results
            for impl in IMPLS:
                if impl.kind == "node" and skip_node:
                    results[impl.name] = {"skipped": skip_node}
                    continue
                print(
                    f"[{time.monotonic() - started:6.1f}s] {scenario}: {impl.name} ...",
                    file=sys.stderr,
                    flush=True,
                )
                key = f"bench-{run_id}-{scenario}-{impl.kind}"
                results[impl.name] = run_trials(scenario, impl, redis_server.url, key, sizes)
            print(table(scenario, results) + "\n", flush=True)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        stop_all()
        redis_server.stop()
    print(f"total time {time.monotonic() - started:.0f} s", flush=True)
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {"facts": facts, "quick": args.quick, "sizes": vars(sizes), "results": all_results},
                indent=2,
            )
        )
    failed = any("error" in row for res in all_results.values() for row in res.values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
