"""The five scenarios of ``scenarios.py``; each measures one implementation.

Each ``run_*`` gets a fresh :class:`Cluster` (servers and clients are
started here and stopped by the caller) and returns its numbers.  CPU is
always the servers' own process CPU time (``time.process_time()`` in Python,
``process.cpuUsage()`` in Node), read before and after the measured window.
"""

from __future__ import annotations

import random
import statistics
import time
from dataclasses import dataclass
from typing import Any

from _scenario_cluster import Cluster
from _scenario_procs import rss_bytes


@dataclass
class Sizes:
    a_emits: int
    b_messages: int
    c_clients: int
    c_broadcasts: int
    c_latency_broadcasts: int
    c_latency_rate: float
    d_rooms: int
    d_sockets: int
    d_messages: int
    e_sockets: int
    f_sockets: int
    f_calls: int

    @classmethod
    def make(cls, mode: str) -> Sizes:
        """``full``, ``quick`` (about a tenth) or ``smoke`` (just enough to run every step)."""
        if mode == "smoke":
            return cls(1_000, 1_000, 50, 50, 5, 20.0, 100, 60, 300, 200, 20, 20)
        if mode == "quick":
            return cls(5_000, 5_000, 500, 300, 30, 10.0, 1_000, 500, 3_000, 2_000, 100, 200)
        return cls(50_000, 50_000, 500, 2_000, 100, 10.0, 10_000, 2_500, 20_000, 10_000, 100,
                   1_000)


def run_a(cl: Cluster, n: Sizes) -> dict[str, Any]:
    """Publish: server 0 emits to a room nobody is in; server 1 only listens."""
    cl.start_servers(2)
    cl.servers[0].request("emit_loop", timeout=600, n=n.a_emits // 10, room="nobody")  # warm-up
    peer0 = cl.cpu()[1]
    result = cl.servers[0].request("emit_loop", timeout=600, n=n.a_emits, room="nobody")
    peer1 = cl.cpu()[1]
    return {
        "us_per_emit": result["cpu"] / n.a_emits * 1e6,
        "emits_per_s": n.a_emits / result["wall"],
        "peer_us_per_msg": (peer1 - peer0) / n.a_emits * 1e6,
    }


def run_b(cl: Cluster, n: Sizes) -> dict[str, Any]:
    """Foreign rooms: raw publishes to a room the receiver lacks, then one it has.

    In the sharded flavour's dynamic mode the receiver has not subscribed the
    room's channel, so Redis does not send it the messages at all:
    ``redis_sent_per_msg`` (the SPUBLISH replies, exact there) shows it, and
    the CPU is what the idle server spends meanwhile.
    """
    (server,) = cl.start_servers(1)
    cl.start_clients([{"port": server.port, "rooms": ["done"]}], 1)
    cl.wait_rooms(["done"], 1)
    messages = [cl.encode("room-x", "ev", {"n": i}) for i in range(n.b_messages)]
    done = cl.encode("done", "done", {"n": -1})
    cl.publish_many(messages[: n.b_messages // 10] + [done])  # warm-up
    cl.wait_received("done", 1, timeout=300)
    cpu0 = cl.cpu()[0]
    reached = cl.publish_many(messages) + cl.publish_many([done])
    cl.wait_received("done", 2, timeout=300)
    cpu1 = cl.cpu()[0]
    exact = cl.sharded or not cl.is_cluster
    return {
        "us_per_msg": (cpu1 - cpu0) / n.b_messages * 1e6,
        # the done message reached the receiver once; the rest are the room-x ones
        "redis_sent_per_msg": (reached - 1) / n.b_messages if exact else None,
    }


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def run_c(cl: Cluster, n: Sizes) -> dict[str, Any]:
    """Fan-out: raw broadcasts to one room of ``c_clients`` websocket clients.

    Phase 1 (throughput, CPU): ``c_broadcasts`` published back to back.
    Phase 2 (latency, steady-state CPU): broadcasts paced at each of
    :data:`PACED_RATES` per second (``c_latency_broadcasts`` at
    ``c_latency_rate``/s, as many more at a higher rate as keep the phase as
    long), each carrying its publish time; clients record receive time
    minus it.  A burst lets Engine.IO's writers send many
    queued packets per wake-up; paced broadcasts do not, so both CPU figures
    are reported.
    """
    (server,) = cl.start_servers(1)
    cl.start_clients([{"port": server.port, "rooms": ["fan"]}] * n.c_clients, 2, latency=True)
    cl.wait_rooms(["fan"], 1)
    warmup = max(1, n.c_broadcasts // 10)
    cl.publish_many([cl.encode("fan", "ev", {"t": time.time() * 1000.0, "i": -1})] * warmup)
    cl.wait_received("received", warmup * n.c_clients, timeout=120)
    target = (warmup + n.c_broadcasts) * n.c_clients
    messages = [
        cl.encode("fan", "ev", {"t": time.time() * 1000.0, "i": i}) for i in range(n.c_broadcasts)
    ]
    threads0 = cl.thread_cpu()
    direct0 = _direct_counts(server)
    cpu0 = cl.cpu()[0]
    t0 = time.perf_counter()
    cl.publish_many(messages, chunk=100)
    cl.wait_received("received", target, timeout=300)
    wall = time.perf_counter() - t0
    cpu1 = cl.cpu()[0]
    direct1 = _direct_counts(server)
    threads1 = cl.thread_cpu()
    cl.client_stats(latencies=True)  # drop phase-1 latencies (queueing under a burst)

    paced = {}
    paced_direct0 = _direct_counts(server)
    for rate in PACED_RATES:
        count = max(1, round(n.c_latency_broadcasts * rate / n.c_latency_rate))
        paced[rate] = _paced_phase(cl, rate, count, n.c_clients)
    slow = paced[PACED_RATES[0]]
    paced_direct1 = _direct_counts(server)
    return {
        "us_per_delivery": (cpu1 - cpu0) / (n.c_broadcasts * n.c_clients) * 1e6,
        "paced_us_per_delivery": slow["us_per_delivery"],
        "deliveries_per_s": n.c_broadcasts * n.c_clients / wall,
        "p50_ms": slow["p50_ms"],
        "p99_ms": slow["p99_ms"],
        "latency_samples": slow["latency_samples"],
        **{f"paced{int(rate)}_{key}": value for rate, phase in paced.items()
           for key, value in phase.items()},
        # our direct frames: deliveries written straight to a client, and queued
        "direct_burst": {k: direct1[k] - direct0[k] for k in direct1},
        "direct_paced": {k: paced_direct1[k] - paced_direct0[k] for k in paced_direct1},
        # where a synchronous server's CPU went, µs per delivery by thread kind
        "threads_us_per_delivery": {
            kind: (threads1[kind] - threads0[kind]) / (n.c_broadcasts * n.c_clients) * 1e6
            for kind in threads1
        },
        "paced_threads_us_per_delivery": slow["threads_us_per_delivery"],
    }


def _direct_counts(server: Any) -> dict[str, int]:
    """Our adapter's ``direct_frames`` and ``direct_frames_queued`` (empty for others)."""
    stats = server.request("stats")
    return {k: int(stats[k]) for k in ("direct_frames", "direct_frames_queued") if k in stats}


#: the paced phases of scenario c, broadcasts per second
PACED_RATES = (10.0, 50.0)


def _paced_phase(cl: Cluster, rate: float, count: int, clients: int) -> dict[str, Any]:
    """``count`` broadcasts at ``rate``/s, each carrying its publish time: the
    receiver's CPU per delivery, and the clients' latencies."""
    before = sum(int(s["received"]) for s in cl.client_stats(latencies=True))
    interval = 1.0 / rate
    threads0 = cl.thread_cpu()
    cpu0 = cl.cpu()[0]
    start = time.perf_counter()
    for i in range(count):
        delay = start + i * interval - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        cl.publish(*cl.encode("fan", "ev", {"t": time.time() * 1000.0, "i": i}))
    cl.wait_received("received", before + count * clients, timeout=120)
    cpu1 = cl.cpu()[0]
    threads1 = cl.thread_cpu()
    latencies = sorted(x for s in cl.client_stats(latencies=True) for x in s["latencies"])
    return {
        "us_per_delivery": (cpu1 - cpu0) / (count * clients) * 1e6,
        "p50_ms": _percentile(latencies, 0.50),
        "p99_ms": _percentile(latencies, 0.99),
        "latency_samples": len(latencies),
        "threads_us_per_delivery": {
            kind: (threads1[kind] - threads0[kind]) / (count * clients) * 1e6
            for kind in threads1
        },
    }


def run_d(cl: Cluster, n: Sizes) -> dict[str, Any]:
    """Many rooms: ``d_rooms`` rooms of 5 sockets over 3 servers, raw publishes to random rooms.

    Room r holds sockets (5r .. 5r+4) mod d_sockets; socket j is on server
    j mod 3, so a room spans the three servers and every socket is in
    5 * d_rooms / d_sockets rooms.
    """
    servers = cl.start_servers(3)
    members: list[list[str]] = [[] for _ in range(n.d_sockets)]
    for r in range(n.d_rooms):
        for m in range(5):
            members[(5 * r + m) % n.d_sockets].append(f"r{r}")
    conns = [{"port": servers[j % 3].port, "rooms": rooms} for j, rooms in enumerate(members)]
    cl.start_clients(conns, 2)
    cl.wait_rooms([f"r{r}" for r in range(n.d_rooms)], 3)
    rng = random.Random(1234)
    messages = [
        cl.encode(f"r{rng.randrange(n.d_rooms)}", "ev", {"i": i}) for i in range(n.d_messages)
    ]
    warmup = n.d_messages // 10
    cl.publish_many(messages[:warmup], chunk=500)
    cl.wait_received("received", 5 * warmup, timeout=120)
    cpu0 = cl.cpu()
    t0 = time.perf_counter()
    cl.publish_many(messages, chunk=500)
    cl.wait_received("received", 5 * (warmup + n.d_messages), timeout=300)
    wall = time.perf_counter() - t0
    cpu1 = cl.cpu()
    cpu = sum(cpu1) - sum(cpu0)
    return {
        "us_per_msg": cpu / n.d_messages * 1e6,
        "us_per_delivery": cpu / (5 * n.d_messages) * 1e6,
        "deliveries_per_s": 5 * n.d_messages / wall,
    }


def run_e(cl: Cluster, n: Sizes) -> dict[str, Any]:
    """Memory: RSS growth of one server with ``e_sockets`` idle clients."""
    (server,) = cl.start_servers(1)
    server.request("gc")
    time.sleep(0.5)
    rss0 = rss_bytes(server.pid)
    cl.start_clients([{"port": server.port, "rooms": []}] * n.e_sockets, 2)
    samples = []
    for _ in range(3):
        time.sleep(0.5)
        server.request("gc")
        samples.append(rss_bytes(server.pid))
    rss1 = statistics.median(samples)
    per_socket = (rss1 - rss0) / n.e_sockets
    return {
        "kb_per_socket": per_socket / 1024,
        "mb_per_10k": per_socket * 10_000 / 2**20,
        "rss0_mb": rss0 / 2**20,
    }


def _requests(kind: str) -> Any:
    def run(cl: Cluster, n: Sizes) -> dict[str, Any]:
        """Cross-server requests: server 0 asks, one after another; server 1 has
        ``f_sockets`` sockets in room ``big`` (``fetch_sockets("big")``,
        ``all_rooms()``, or ``server_side_call("ping")`` answered ``"pong"``).
        Latency is the asker's wall time per call; CPU is each server's own."""
        asker, answerer = cl.start_servers(2)
        cl.start_clients([{"port": answerer.port, "rooms": ["big"]}] * n.f_sockets, 1)
        asker.request("request_loop", timeout=300, kind=kind, n=max(1, n.f_calls // 10),
                      room="big")  # warm-up
        cpu0 = cl.cpu()
        result = asker.request("request_loop", timeout=600, kind=kind, n=n.f_calls, room="big")
        cpu1 = cl.cpu()
        latencies = sorted(float(x) for x in result["latencies_ms"])
        return {
            "p50_ms": _percentile(latencies, 0.50),
            "p99_ms": _percentile(latencies, 0.99),
            "asker_us_per_call": (cpu1[0] - cpu0[0]) / n.f_calls * 1e6,
            "answerer_us_per_call": (cpu1[1] - cpu0[1]) / n.f_calls * 1e6,
        }

    return run


RUNS = {"a": run_a, "b": run_b, "c": run_c, "d": run_d, "e": run_e,
        "f": _requests("fetch_sockets"), "g": _requests("all_rooms"),
        "h": _requests("server_side_call")}
