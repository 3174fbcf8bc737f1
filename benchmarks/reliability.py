"""Reliability figures: what happens to broadcasts when Redis or the network misbehaves.

Run from the repository root::

    python benchmarks/reliability.py [--smoke] [--only a,b,...] [--flavour sharded|sync]
                                     [--set d_clients=5000] [--json out.json]

Every row starts its own ``redis-server`` on a free 127.0.0.1 port, a
receiving server (python-socketio on aiohttp + uvloop with our adapter) in
its own process with real Socket.IO clients (python-socketio
``AsyncClient``, websocket transport) in another, and, where the row needs
one, a publishing server in a third; it stops every process it started by
PID.  Faults (table rows):

* **a, Redis restart**: a publishing server streams 500 emits/s to a room of
  the receiver's clients, each emit with a sequence number; Redis is killed
  with SIGKILL and started again on the same port 2 s later.  Deaf window,
  resume time after Redis is back, emits that raised, emits that did not
  raise but never arrived, duplicates, and what the offline queue counted.
  When the adapter has an ``offline_queue`` option, the row is run with the
  queue as it is by default and with ``offline_queue=None``.
* **b, subscriber kill**: ``CLIENT KILL TYPE pubsub`` under the same stream:
  the longest gap between deliveries, the messages lost.
* **c, slow consumer**: ``client-output-buffer-limit pubsub 256kb 0 0``; the
  receiver's event loop is blocked 3 s while the publisher floods; Redis
  drops the subscriber.  Time until deliveries resume after the loop is
  free, messages lost, whether the adapter logged the cause and counted it.
* **d, listener lag**: one receiver with 10,000 clients in one room (raw
  Engine.IO websocket clients, ``_scenario_clients.py``), a publisher
  emitting back to back as fast as it can: how far behind the receiver's
  Redis reading gets (the payload's emit time against the time the
  transport handed the message to the adapter, sampled; the subscriber
  connection's output buffer in Redis, ``CLIENT LIST``), whether Redis drops
  it (default ``client-output-buffer-limit``), the receiver's memory, and
  how long until every client had every message.
* **e, malformed input**: 50,000 malformed messages on every channel the
  adapter subscribes to: receiver alive, its CPU per message, a real emit
  afterwards delivered.
* **f, silent subscriber**: a subscriber on the request channel that never
  answers, 50 concurrent ``fetch_sockets``: how they end and when.

``--smoke`` runs every row with tiny sizes in well under a minute (CI);
``--flavour sharded`` runs ``AsyncShardedRedisAdapter`` (dynamic mode, on a
standalone Redis) instead of ``AsyncRedisAdapter``; ``--flavour sync`` runs row a
with ``RedisAdapter`` on ``socketio.Server`` in threading mode (Werkzeug), one
thread emitting (``_reliability_sync_server.py``).  Times across processes
are ``time.time()`` on one machine.  The exit status is 1 if a row failed.
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(HERE.parent))  # scenarios.py imports the test suite's topologies

import redis  # noqa: E402
from _scenario_procs import Child, ChildError, free_port, rss_bytes, stop_all  # noqa: E402
from _scenario_wire import encode, publish_command  # noqa: E402
from scenarios import machine_facts  # noqa: E402

import socketio_redis_adapter  # noqa: E402

ROOM = "stream"
#: the first sequence number of a flood's emits (row c)
FLOOD_SEQ = 10_000_000
#: row d: the room of the side stream, and its first sequence number
SIDE_ROOM, SIDE_SEQ = "side", 20_000_000


@dataclass
class Sizes:
    """What each row does; ``make`` gives the full and the smoke sizes."""

    rate: float  # emits/s of the stream (a, b, c)
    recorders: int  # python-socketio clients recording deliveries
    a_before: float  # seconds of stream before the kill
    a_down: float  # seconds Redis stays down
    a_after: float  # seconds of stream after Redis is back
    b_before: float
    b_after: float
    c_block: float  # seconds the receiver's loop is blocked
    c_flood: int  # emits of the flood during the block
    c_pad: int  # bytes of padding in each flood emit
    c_after: float
    d_clients: int  # sockets in the big room
    d_procs: int  # client processes for them
    d_messages: int  # emits of the publisher's burst
    d_timeout: float  # seconds to wait for the clients to have everything
    d_side_rate: float  # emits/s of the side stream to another room
    d_turn_deliveries: int  # the receiver's FanoutPacer.turn_deliveries (0: the default)
    e_messages: int  # malformed messages per channel
    f_requests: int  # concurrent fetch_sockets
    f_timeout: float  # the adapter's requests_timeout

    @classmethod
    def make(cls, mode: str) -> Sizes:
        if mode == "smoke":
            return cls(500, 2, 1.0, 2.0, 1.5, 0.8, 1.2, 1.5, 20_000, 4096, 1.2,
                       200, 1, 30, 60, 50, 1000, 500, 10, 1.0)
        return cls(500, 3, 3.0, 2.0, 5.0, 3.0, 4.0, 3.0, 25_000, 4096, 4.0,
                   10_000, 2, 200, 300, 50, 0, 50_000, 50, 5.0)


# -- Redis --------------------------------------------------------------------


class Redis:
    """A redis-server on a fixed free loopback port that can be killed and started again."""

    def __init__(self, tmp: str, extra: tuple[str, ...] = ()) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.extra = extra
        self.logfile = os.path.join(tmp, f"redis-{self.port}.log")
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()
        self.conn = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=30)

    def start(self) -> float:
        """Start redis-server; return the time (``time.time()``) it first answered PING."""
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--loglevel", "notice",
             "--logfile", self.logfile, *self.extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return time.time()
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise ChildError(f"redis-server did not start on port {self.port}")
            time.sleep(0.01)

    def kill9(self) -> float:
        """SIGKILL it; return the time it was sent."""
        assert self.proc is not None
        t = time.time()
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        return t

    def log(self) -> str:
        try:
            return Path(self.logfile).read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        with contextlib.suppress(Exception):
            self.conn.close()


def connection_ports(pid: int, port: int) -> set[int]:
    """Local ports of ``pid``'s TCP connections to 127.0.0.1:``port`` (from /proc)."""
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    ports = set()
    with open("/proc/net/tcp") as fh:
        next(fh)
        for line in fh:
            parts = line.split()
            local, remote, inode = parts[1], parts[2], parts[9]
            if inode in inodes and int(remote.split(":")[1], 16) == port:
                ports.add(int(local.split(":")[1], 16))
    return ports


def pubsub_limit(config: str) -> str:
    """The pubsub class of a ``client-output-buffer-limit`` value, as ``32mb 8mb 60``."""
    words = config.split()
    if "pubsub" not in words:
        return config
    i = words.index("pubsub")
    hard, soft, secs = (int(w) for w in words[i + 1:i + 4])
    return f"{hard // 2**20}mb {soft // 2**20}mb {secs}"


def pubsub_clients(conn: redis.Redis) -> list[dict[str, Any]]:
    """``CLIENT LIST TYPE pubsub`` as dicts (with ``port``, and ``omem``, ``tot-mem`` as ints)."""
    clients = []
    for listed in conn.client_list(_type="pubsub"):
        entry: dict[str, Any] = dict(listed)
        entry["port"] = int(str(entry.get("addr", ":0")).rsplit(":", 1)[1])
        for field in ("omem", "tot-mem", "id"):
            entry[field] = int(entry.get(field, 0))
        clients.append(entry)
    return clients


# -- processes ----------------------------------------------------------------


class Rig:
    """The processes of one row: servers and recording clients, stopped by ``stop``."""

    def __init__(self, flavour: str, tmp: str, redis_server: Redis) -> None:
        self.flavour = flavour
        self.tmp = tmp
        self.redis = redis_server
        self.key = f"rel-{uuid.uuid4().hex[:8]}"
        self.children: list[Child] = []

    def server(self, name: str, options: dict[str, Any] | None = None,
               probe: int = 0, turn_deliveries: int = 0) -> Child:
        """A server child; with ``probe``, it samples the lag of every ``probe``-th message."""
        spec = {"url": self.redis.url, "key": self.key, "flavour": self.flavour,
                "adapter_options": options or {}, "probe": probe,
                "turn_deliveries": turn_deliveries}
        path = os.path.join(self.tmp, f"{name}-{uuid.uuid4().hex[:6]}.json")
        Path(path).write_text(json.dumps(spec))
        script = "_reliability_sync_server.py" if self.flavour == "sync" else \
            "_reliability_server.py"
        child = Child(name, [sys.executable, str(HERE / script), path])
        self.children.append(child)
        child.port = int(child.wait_event("ready", 60)["port"])
        return child

    def recorders(self, server: Child, n: int, room: str = ROOM) -> Child:
        child = Child("recorders", [sys.executable, str(HERE / "_reliability_clients.py"),
                                    str(server.port), room, str(n)])
        self.children.append(child)
        child.wait_event("ready", 90)
        return child

    def raw_clients(self, server: Child, count: int, procs: int, room: str) -> list[Child]:
        """``count`` raw Engine.IO websocket clients in ``room`` (``_scenario_clients.py``)."""
        result = []
        for i in range(procs):
            share = count // procs + (1 if i < count % procs else 0)
            path = os.path.join(self.tmp, f"raw-{i}-{uuid.uuid4().hex[:6]}.json")
            Path(path).write_text(json.dumps(
                {"conns": [{"port": server.port, "rooms": [room]}] * share, "latency": False}))
            child = Child(f"raw clients {i}",
                          [sys.executable, str(HERE / "_scenario_clients.py"), path])
            self.children.append(child)
            child.wait_event("ready", 30)
            result.append(child)
        ids = [c.send("connect") for c in result]
        for child, rid in zip(result, ids, strict=True):
            child.reply(rid, 300)
        return result

    def wait_sockets(self, server: Child, count: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            have = int(server.request("sockets")["sockets"])
            if have >= count:
                return
            if time.monotonic() > deadline:
                raise ChildError(f"the receiver has {have} of {count} sockets")
            time.sleep(0.1)

    def stop(self) -> None:
        for child in reversed(self.children):
            child.stop()
        self.children = []


def wait_count(recorders: Child, target: int, timeout: float) -> list[int]:
    """Poll the recorders until each has ``target`` events, or ``timeout``; return the counts."""
    deadline = time.monotonic() + timeout
    while True:
        counts = [int(c) for c in recorders.request("count")["counts"]]
        if min(counts) >= target or time.monotonic() > deadline:
            return counts
        time.sleep(0.05)


def wait_quiet(recorders: Child, quiet: float = 1.0, timeout: float = 30.0) -> None:
    """Wait until the recorders got nothing new for ``quiet`` seconds (at most ``timeout``)."""
    deadline = time.monotonic() + timeout
    last: list[int] = []
    since = time.monotonic()
    while time.monotonic() < deadline:
        counts = [int(c) for c in recorders.request("count")["counts"]]
        if counts != last:
            last, since = counts, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
        time.sleep(0.1)


def stream_start(rig: Rig, publisher: Child, receiver: Child, recorders: Child,
                 sizes: Sizes, duration: float, pad: int = 0) -> int:
    """Check that a first emit arrives, then start the stream; return the command id."""
    publisher.request("emit", room=ROOM, seq=-1)
    counts = wait_count(recorders, 1, 15)
    if min(counts) < 1:
        raise ChildError(f"the first emit did not reach every recorder: {counts}")
    recorders.request("records")  # drop the probe emit
    return publisher.send("stream", rate=sizes.rate, duration=duration, room=ROOM,
                          start_seq=0, pad=pad)


# -- analysis -----------------------------------------------------------------


def deliveries(records: list[list[list[float]]]) -> list[dict[str, Any]]:
    """Per recorder: seqs, receive times (sorted), duplicates, order inversions."""
    result = []
    for recs in records:
        seqs = [int(r[0]) for r in recs]
        # a flood (c) numbers its emits from 10,000,000: order counts within each series
        inversions = 0
        for series in {q // FLOOD_SEQ for q in seqs}:
            mine = [q for q in seqs if q // FLOOD_SEQ == series]
            inversions += sum(1 for a, b in zip(mine, mine[1:], strict=False) if b < a)
        result.append({
            "seqs": set(seqs),
            "records": recs,
            "times": sorted(float(r[2]) for r in recs),
            "duplicates": len(seqs) - len(set(seqs)),
            "inversions": inversions,
        })
    return result


def longest_gap(times: list[float], since: float, until: float) -> tuple[float, float]:
    """The longest gap between deliveries in [since, until]: (length, start)."""
    window = [t for t in times if since <= t <= until]
    best, start = 0.0, since
    for a, b in zip(window, window[1:], strict=False):
        if b - a > best:
            best, start = b - a, a
    return best, start


def summarise_loss(per: list[dict[str, Any]], ok: list[int]) -> dict[str, Any]:
    lost = [len(set(ok) - p["seqs"]) for p in per]
    return {
        "not_delivered_max": max(lost) if lost else 0,
        "not_delivered_per_client": lost,
        "duplicates": sum(p["duplicates"] for p in per),
        "inversions": sum(p["inversions"] for p in per),
    }


def queue_counters(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """Counter deltas whose names say they are about queueing or loss."""
    words = ("queue", "offline", "expired", "overflow", "flush", "lost", "publish_failures")
    return {k: int(after.get(k, 0)) - int(before.get(k, 0))
            for k in sorted(after) if any(w in k for w in words)}


#: the adapter class of each flavour
FLAVOURS: dict[str, Any] = {
    "classic": socketio_redis_adapter.AsyncRedisAdapter,
    "sharded": socketio_redis_adapter.AsyncShardedRedisAdapter,
    "sync": socketio_redis_adapter.RedisAdapter,
}
#: the rows a flavour's server can run (the synchronous one: a)
SYNC_ROWS = ("a",)


def has_offline_queue(flavour: str) -> bool:
    return "offline_queue" in inspect.signature(FLAVOURS[flavour].__init__).parameters


# -- rows ---------------------------------------------------------------------


def row_a(flavour: str, sizes: Sizes, tmp: str, options: dict[str, Any]) -> dict[str, Any]:
    """Redis killed with SIGKILL and started again ``a_down`` s later, under the stream."""
    r = Redis(tmp)
    rig = Rig(flavour, tmp, r)
    try:
        receiver = rig.server("receiver", options)
        publisher = rig.server("publisher", options)
        recorders = rig.recorders(receiver, sizes.recorders)
        before = publisher.request("stats")["stats"]
        duration = sizes.a_before + sizes.a_down + sizes.a_after
        rid = stream_start(rig, publisher, receiver, recorders, sizes, duration)
        time.sleep(sizes.a_before)
        t_kill = r.kill9()
        time.sleep(max(0.0, t_kill + sizes.a_down - time.time()))
        t_back = r.start()
        stream = publisher.reply(rid, duration + 60)
        wait_quiet(recorders, 1.5, 30)
        pub_stats = publisher.request("stats")
        rec_stats = receiver.request("stats")
        per = deliveries(recorders.request("records")["clients"])
        result: dict[str, Any] = {
            "options": options,
            "emitted": stream["emitted"], "raised": len(stream["raised"]),
            "not_raised": len(stream["ok"]), "errors": stream["errors"],
            "unfinished": stream["unfinished"],
            "redis_down_s": t_back - t_kill,
        }
        result.update(summarise_loss(per, stream["ok"]))
        deaf, resume, fresh, last_before = [], [], [], []
        for p in per:
            times = p["times"]
            before_back = [t for t in times if t < t_back]
            after_back = [t for t in times if t >= t_back]
            emitted_after = [float(rec[2]) for rec in p["records"] if float(rec[1]) >= t_back]
            if before_back and after_back:
                deaf.append(after_back[0] - before_back[-1])
                last_before.append(before_back[-1] - t_kill)
            if after_back:
                resume.append(after_back[0] - t_back)
            if emitted_after:
                fresh.append(min(emitted_after) - t_back)
        result.update({
            "deaf_s": max(deaf) if deaf else None,
            "last_delivery_after_kill_s": min(last_before) if last_before else None,
            "resume_after_back_s": max(resume) if resume else None,
            "fresh_resume_after_back_s": max(fresh) if fresh else None,
            "first_raise_after_kill_s": (stream["first_raise"] - t_kill
                                         if stream["first_raise"] else None),
            "queue_counters": queue_counters(before, pub_stats["stats"]),
            "publisher_stats": pub_stats["stats"],
            "receiver_reconnects": rec_stats["stats"].get("reconnects"),
            "publisher_warnings": pub_stats["warning_texts"],
        })
        return result
    finally:
        rig.stop()
        r.stop()


def row_b(flavour: str, sizes: Sizes, tmp: str) -> dict[str, Any]:
    """``CLIENT KILL TYPE pubsub`` under the stream."""
    r = Redis(tmp)
    rig = Rig(flavour, tmp, r)
    try:
        receiver = rig.server("receiver")
        publisher = rig.server("publisher")
        recorders = rig.recorders(receiver, sizes.recorders)
        duration = sizes.b_before + sizes.b_after
        rid = stream_start(rig, publisher, receiver, recorders, sizes, duration)
        time.sleep(sizes.b_before)
        t_kill = time.time()
        killed = int(r.conn.execute_command("CLIENT", "KILL", "TYPE", "pubsub"))
        stream = publisher.reply(rid, duration + 60)
        wait_quiet(recorders, 1.0, 30)
        rec_stats = receiver.request("stats")
        per = deliveries(recorders.request("records")["clients"])
        result: dict[str, Any] = {
            "killed_connections": killed, "emitted": stream["emitted"],
            "raised": len(stream["raised"]), "not_raised": len(stream["ok"]),
        }
        result.update(summarise_loss(per, stream["ok"]))
        gaps = [longest_gap(p["times"], t_kill - 0.5, t_kill + sizes.b_after) for p in per]
        whole = [longest_gap(p["times"], 0, time.time())[0] for p in per]
        result.update({
            "longest_gap_s": max(g[0] for g in gaps) if gaps else None,
            "gap_started_after_kill_s": (max(gaps)[1] - t_kill) if gaps else None,
            "longest_gap_whole_stream_s": max(whole) if whole else None,
            "receiver_reconnects": rec_stats["stats"].get("reconnects"),
        })
        return result
    finally:
        rig.stop()
        r.stop()


def row_c(flavour: str, sizes: Sizes, tmp: str) -> dict[str, Any]:
    """A 256 KB pubsub output-buffer limit; the receiver's loop blocked during a flood."""
    r = Redis(tmp, ("--client-output-buffer-limit", "pubsub 256kb 0 0"))
    rig = Rig(flavour, tmp, r)
    try:
        receiver = rig.server("receiver")
        publisher = rig.server("publisher")
        recorders = rig.recorders(receiver, sizes.recorders)
        r.conn.config_set("client-output-buffer-limit", "pubsub 256kb 0 0")
        before = receiver.request("stats")
        duration = 1.0 + sizes.c_block + sizes.c_after
        rid = stream_start(rig, publisher, receiver, recorders, sizes, duration)
        time.sleep(1.0)
        block = receiver.send("block", seconds=sizes.c_block)
        time.sleep(0.2)
        flood = publisher.request("flood", timeout=120, count=sizes.c_flood,
                                  seconds=sizes.c_block - 0.4,
                                  room=ROOM, start_seq=FLOOD_SEQ, pad=sizes.c_pad)
        freed = receiver.reply(block, sizes.c_block + 30)
        t_free = float(freed["t1"])
        stream = publisher.reply(rid, duration + 60)
        wait_quiet(recorders, 1.0, 30)
        after = receiver.request("stats")
        per = deliveries(recorders.request("records")["clients"])
        result: dict[str, Any] = {
            "flood_emits": len(flood["ok"]), "flood_bytes": len(flood["ok"]) * sizes.c_pad,
            "block_s": t_free - float(freed["t0"]),
            "emitted": stream["emitted"], "raised": len(stream["raised"]) + len(flood["raised"]),
        }
        result.update(summarise_loss(per, stream["ok"]))
        result["flood_not_delivered_max"] = max(len(set(flood["ok"]) - p["seqs"]) for p in per)
        resume, first_any = [], []
        for p in per:
            fresh = [float(rec[2]) for rec in p["records"]
                     if float(rec[1]) >= t_free and int(rec[0]) < FLOOD_SEQ]
            if fresh:
                resume.append(min(fresh) - t_free)
            after_free = [t for t in p["times"] if t >= t_free]
            if after_free:
                first_any.append(after_free[0] - t_free)
        s0, s1 = before["stats"], after["stats"]
        texts = after["warning_texts"]
        named = {t: n for t, n in texts.items() if "client-output-buffer-limit" in t}
        slow = {k: int(s1[k]) - int(s0.get(k, 0)) for k in s1
                if "slow" in k or k == "closed_by_redis"}
        redis_log = r.log()
        result.update({
            "resume_after_free_s": max(resume) if resume else None,
            "first_delivery_after_free_s": max(first_any) if first_any else None,
            "receiver_reconnects": int(s1.get("reconnects", 0)) - int(s0.get("reconnects", 0)),
            "redis_dropped": "output buffer limits" in redis_log,
            "warning_naming_setting": named,
            "slow_counters": slow,
            "receiver_warnings": texts,
        })
        return result
    finally:
        rig.stop()
        r.stop()


def raw_received(raw: list[Child]) -> int:
    """Events received so far by every raw client."""
    return sum(int(c.request("stats")["received"]) for c in raw)


def row_d(flavour: str, sizes: Sizes, tmp: str) -> dict[str, Any]:
    """Listener lag: ``d_clients`` sockets in one room, a burst of emits at full rate."""
    r = Redis(tmp)  # Redis' default pubsub output-buffer limit (32mb 8mb 60)
    rig = Rig(flavour, tmp, r)
    try:
        receiver = rig.server("receiver", probe=max(1, sizes.d_messages // 500),
                              turn_deliveries=sizes.d_turn_deliveries)
        publisher = rig.server("publisher")
        t0 = time.monotonic()
        raw = rig.raw_clients(receiver, sizes.d_clients, sizes.d_procs, ROOM)
        side = rig.recorders(receiver, 1, SIDE_ROOM)
        rig.wait_sockets(receiver, sizes.d_clients + 1)
        connect_s = time.monotonic() - t0
        publisher.request("emit", room=ROOM, seq=-1)
        deadline = time.monotonic() + 120
        while raw_received(raw) < sizes.d_clients:
            if time.monotonic() > deadline:
                raise ChildError("the first emit did not reach every client within 120 s")
            time.sleep(0.1)
        base = raw_received(raw)
        ports = connection_ports(receiver.pid, r.port)
        time.sleep(0.5)
        stats0 = receiver.request("stats", reset_probe=True)
        limit = r.conn.config_get("client-output-buffer-limit")
        rss0 = rss_bytes(receiver.pid)
        # a steady stream to another room, one client: how late the receiver hears other
        # traffic while the big room's fan-out drains
        side_stream = publisher.send("stream", rate=sizes.d_side_rate, duration=sizes.d_timeout,
                                     room=SIDE_ROOM, start_seq=SIDE_SEQ, pad=0)
        time.sleep(0.5)
        flood = publisher.send("flood", count=sizes.d_messages, room=ROOM, start_seq=0, pad=0)
        t_start = time.time()
        peak_omem, peak_rss, sub_ids = 0, rss0, set()
        flood_result: dict[str, Any] | None = None
        deadline = time.monotonic() + sizes.d_timeout
        drained_at = None
        rss_limit = 4 * 2**30
        aborted = None
        got = base
        while time.monotonic() < deadline:
            for c in pubsub_clients(r.conn):
                if c["port"] in ports:
                    peak_omem = max(peak_omem, c["omem"])
                    sub_ids.add(c["id"])
            peak_rss = max(peak_rss, rss_bytes(receiver.pid))
            if peak_rss > rss_limit:
                aborted = f"receiver RSS passed {rss_limit / 2**30:.0f} GB"
                break
            if flood_result is None:
                flood_result = publisher.poll_reply(flood)
            if flood_result is not None:
                got = raw_received(raw)
                if got - base >= len(flood_result["ok"]) * sizes.d_clients:
                    drained_at = time.time()
                    break
            time.sleep(0.1)
        if flood_result is None:
            flood_result = publisher.reply(flood, 60)
        time.sleep(1.0)  # the side stream after the drain, for comparison
        publisher.request("stop")
        side_result = publisher.reply(side_stream, 60)
        wait_quiet(side, 0.5, 10)
        stats1 = receiver.request("stats")
        probe = [x for x in stats1.get("probe") or [] if x[2] < SIDE_SEQ]
        side_probe = [x for x in stats1.get("probe") or [] if x[2] >= SIDE_SEQ]
        handed = sorted(x[1] for x in stats1.get("handed") or [] if x[2] < SIDE_SEQ)
        side_handed = [x for x in stats1.get("handed") or [] if x[2] >= SIDE_SEQ]
        side_records = side.request("records")["clients"][0]
        side_lags = [float(rec[2]) - float(rec[1]) for rec in side_records
                     if int(rec[0]) >= SIDE_SEQ]
        side_lost = len(set(side_result["ok"]) - {int(rec[0]) for rec in side_records})
        side_count = side.request("count")
        side_disconnects = int(side_count["disconnects"][0])
        side_reasons = [f"{reason} at {when - t_start:.1f} s" for when, reason
                        in side_count.get("reasons", [[]])[0]]
        raw_connected = sum(int(c.request("stats")["connected"]) for c in raw)
        lags = sorted(x[1] for x in probe)
        sent = len(flood_result["ok"])
        pub_wall = float(flood_result["t1"]) - float(flood_result["t0"])
        read_last = max((x[0] for x in probe), default=None)
        return {
            "clients": sizes.d_clients, "connect_s": connect_s, "client_procs": sizes.d_procs,
            "emits": sent, "publisher_emits_per_s": sent / pub_wall if pub_wall > 0 else None,
            "publish_s": pub_wall,
            "adapter_lag_max_s": lags[-1] if lags else None,
            "adapter_lag_p50_s": lags[len(lags) // 2] if lags else None,
            "adapter_read_all_after_publish_end_s": (read_last - float(flood_result["t1"])
                                                     if read_last else None),
            "lag_samples": len(lags),
            "handed_lag_max_s": handed[-1] if handed else None,
            "side_handed_lag_max_s": max((x[1] for x in side_handed), default=None),
            "turn_deliveries": sizes.d_turn_deliveries or None,
            "paced": int(stats1["stats"].get("paced", 0)) - int(stats0["stats"].get("paced", 0)),
            "reading_pauses": (int(stats1["stats"].get("reading_pauses", 0))
                               - int(stats0["stats"].get("reading_pauses", 0))),
            "loop_blocked_max_s": stats1["loop_late_max"],
            "side_rate": sizes.d_side_rate,
            "side_emits": len(side_result["ok"]),
            "side_adapter_lag_max_s": max((x[1] for x in side_probe), default=None),
            "side_client_lag_max_s": max(side_lags, default=None),
            "side_lost": side_lost,
            "side_client_disconnects": side_disconnects,
            "side_client_disconnect_reasons": side_reasons,
            "raw_clients_still_connected": raw_connected,
            "side_read_by_adapter": len(side_probe),
            "side_received": len(side_records),
            "redis_peak_omem_bytes": peak_omem,
            "subscriber_ports_found": len(ports),
            "redis_limit": pubsub_limit(str(limit.get("client-output-buffer-limit", ""))),
            "subscriber_connection_ids": len(sub_ids),
            "receiver_reconnects": (int(stats1["stats"].get("reconnects", 0))
                                    - int(stats0["stats"].get("reconnects", 0))),
            "redis_dropped": "output buffer limits" in r.log(),
            "receiver_rss_growth_bytes": peak_rss - rss0,
            "drained_s": (drained_at - t_start) if drained_at else None,
            "deliveries": got - base,
            "expected_deliveries": sent * sizes.d_clients,
            "aborted": aborted,
        }
    finally:
        rig.stop()
        r.stop()


def malformed_kinds() -> list[bytes]:
    """Broken messages: garbage, truncated msgpack, wrong shapes, huge declared lengths, nesting."""
    import msgpack  # noqa: PLC0415

    valid = msgpack.packb(["someuid", {"type": 2, "data": ["ev", {"x": 1}], "nsp": "/"},
                           {"rooms": [ROOM], "except": [], "flags": {}}], use_bin_type=True)
    rng = __import__("random").Random(12)
    kinds: list[bytes] = [
        b"", b"\xc1", b"\xff" * 100, b"\x00", b"not msgpack at all",
        valid[: len(valid) // 2], valid[:-1], valid[:3],
        msgpack.packb(42), msgpack.packb("str"), msgpack.packb([]), msgpack.packb([1, 2]),
        msgpack.packb(["uid", 5, None]),
        msgpack.packb(["uid", {"type": 2, "data": "notalist", "nsp": "/"}, {"rooms": 5}]),
        msgpack.packb(["uid", {"type": 99, "nsp": 7}, {}]),
        msgpack.packb({"uid": 1, "type": "x", "data": [1]}),
        b"\xdd\xff\xff\xff\xff", b"\xdb\xff\xff\xff\xffabc", b"\xc6\xff\xff\xff\xff",
        b"\xdf\xff\xff\xff\xff", b"\x91" * 1000 + b"\xc0",
        b'{"type":', b"[[[[", b'{"uid": 1}', b"null", b'{"type": 3, "data": null}',
        b"[" * 1000 + b"]" * 1000,
    ]
    kinds += [bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 64))) for _ in range(8)]
    return kinds


def adapter_channels(r: Redis, key: str, flavour: str) -> list[tuple[str, bytes]]:
    """Every channel the receiver hears: (publish command, channel)."""
    if flavour == "sharded":
        names = r.conn.execute_command("PUBSUB", "SHARDCHANNELS", f"{key}*")
        return [("SPUBLISH", bytes(n)) for n in sorted(names)]
    names = sorted(bytes(n) for n in r.conn.execute_command("PUBSUB", "CHANNELS", f"{key}*"))
    # the broadcast channels come through the pattern subscription key#/#*
    return ([("PUBLISH", n) for n in names]
            + [("PUBLISH", f"{key}#/#".encode()), ("PUBLISH", f"{key}#/#{ROOM}#".encode())])


def row_e(flavour: str, sizes: Sizes, tmp: str) -> dict[str, Any]:
    """Malformed messages on every adapter channel, then a real emit."""
    r = Redis(tmp)
    rig = Rig(flavour, tmp, r)
    try:
        receiver = rig.server("receiver")
        recorders = rig.recorders(receiver, 1)
        channels = adapter_channels(r, rig.key, flavour)
        kinds = malformed_kinds()
        wire = "sharded" if flavour == "sharded" else "node"
        per_channel: dict[str, float] = {}
        total_reached = 0
        cpu_total = 0.0
        stats0 = receiver.request("stats")
        markers = 0
        for command, channel in channels:
            cpu0 = float(receiver.request("stats")["cpu"])
            reached = 0
            pipe = r.conn.pipeline(transaction=False)
            for i in range(sizes.e_messages):
                pipe.execute_command(command, channel, kinds[i % len(kinds)])
                if i % 1000 == 999:
                    reached += sum(int(x) for x in pipe.execute())
            reached += sum(int(x) for x in pipe.execute())
            # a valid broadcast after them on the same subscriber connection: when it
            # has arrived, the receiver has read every malformed message before it
            markers += 1
            m_channel, m_data = encode(wire, rig.key, ROOM, "ev",
                                       {"seq": -markers, "t": time.time(), "p": ""})
            r.conn.execute_command(publish_command(wire), m_channel, m_data)
            counts = wait_count(recorders, markers, 300)
            if min(counts) < markers:
                raise ChildError(f"marker after {channel!r} not delivered")
            cpu = float(receiver.request("stats")["cpu"]) - cpu0
            per_channel[channel.decode(errors="replace")] = cpu / max(1, reached) * 1e6
            total_reached += reached
            cpu_total += cpu
        stats1 = receiver.request("stats")
        publisher = rig.server("publisher")
        t_emit = time.time()
        publisher.request("emit", room=ROOM, seq=123456)
        counts = wait_count(recorders, markers + 1, 30)
        recs = recorders.request("records")["clients"][0]
        real = [rec for rec in recs if int(rec[0]) == 123456]
        s0, s1 = stats0["stats"], stats1["stats"]
        return {
            "channels": len(channels), "per_channel_messages": sizes.e_messages,
            "messages_received": total_reached,
            "us_cpu_per_message": cpu_total / max(1, total_reached) * 1e6,
            "us_cpu_per_message_by_channel": per_channel,
            "receiver_alive": receiver.proc.poll() is None,
            "malformed_counted": int(s1.get("malformed", 0)) - int(s0.get("malformed", 0)),
            "handler_errors": int(s1.get("handler_errors", 0)) - int(s0.get("handler_errors", 0)),
            "warnings_logged": int(stats1["warnings"]) - int(stats0["warnings"]),
            "real_emit_delivered": bool(real),
            "real_emit_latency_s": (float(real[0][2]) - t_emit) if real else None,
            "counts": counts,
        }
    finally:
        rig.stop()
        r.stop()


def row_f(flavour: str, sizes: Sizes, tmp: str) -> dict[str, Any]:
    """A subscriber on the request channel that never answers; concurrent fetch_sockets."""
    r = Redis(tmp)
    rig = Rig(flavour, tmp, r)
    silent = None
    try:
        receiver = rig.server("receiver", {"requests_timeout": sizes.f_timeout})
        if flavour == "sharded":
            channel, command = f"{rig.key}#/#", b"SSUBSCRIBE"
        else:
            channel, command = f"{rig.key}-request#/#", b"SUBSCRIBE"
        silent = socket.create_connection(("127.0.0.1", r.port), timeout=5)
        silent.sendall(b"*2\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n"
                       % (len(command), command, len(channel), channel.encode()))
        silent.recv(1024)  # the confirmation; nothing is read or answered after it
        t0 = time.monotonic()
        result = receiver.request("fetch_many", timeout=sizes.f_timeout * 4 + 60,
                                  n=sizes.f_requests)
        wall = time.monotonic() - t0
        outcomes: dict[str, int] = {}
        for o in result["outcomes"]:
            outcomes[o] = outcomes.get(o, 0) + 1
        seconds = result["seconds"]
        return {
            "requests": sizes.f_requests, "requests_timeout": sizes.f_timeout,
            "outcomes": outcomes, "min_s": min(seconds), "max_s": max(seconds), "wall_s": wall,
            "receiver_alive": receiver.proc.poll() is None,
        }
    finally:
        if silent is not None:
            silent.close()
        rig.stop()
        r.stop()


# -- table --------------------------------------------------------------------


def s(x: float | None, digits: int = 2) -> str:
    return "n/a" if x is None else f"{x:.{digits}f} s"


def signed(x: float | None, what: str) -> str:
    """``0.12 s after what``, ``0.12 s before what``, or ``at what`` within 5 ms."""
    if x is None:
        return "n/a"
    if abs(x) < 0.005:
        return f"at {what}"
    return f"{abs(x):.2f} s {'after' if x > 0 else 'before'} {what}"


def cell_a(res: dict[str, Any]) -> str:
    lost = res["not_delivered_max"]
    lost_text = (f"**{lost:,} emits that did not raise were never delivered**" if lost
                 else "every emit that did not raise was delivered")
    queued = {k: v for k, v in res["queue_counters"].items() if v}
    queue_text = ", ".join(f"{k} {v:,}" for k, v in queued.items()) or "none counted"
    return (
        f"deaf {s(res['deaf_s'])} (Redis down {res['redis_down_s']:.2f} s; last delivery "
        f"{signed(res['last_delivery_after_kill_s'], 'the kill')}); deliveries resumed "
        f"{s(res['resume_after_back_s'])} after Redis was back (first emit made after it: "
        f"{s(res['fresh_resume_after_back_s'])}); {res['emitted']:,} emits: "
        f"{res['raised']:,} raised, {res['not_raised']:,} did not; {lost_text}; "
        f"{res['duplicates']} duplicates, {res['inversions']} out of order; "
        f"counters: {queue_text}"
    )


def cell_b(res: dict[str, Any]) -> str:
    return (
        f"{res['killed_connections']} subscriber connections killed; longest gap "
        f"{s(res['longest_gap_s'])} (whole stream {s(res['longest_gap_whole_stream_s'])}); "
        f"{res['not_delivered_max']:,} of {res['not_raised']:,} messages lost; "
        f"{res['duplicates']} duplicates; receiver reconnects {res['receiver_reconnects']}"
    )


def cell_c(res: dict[str, Any]) -> str:
    dropped = "Redis dropped the subscriber" if res["redis_dropped"] else "Redis did not drop it"
    logged = ("logged a warning naming client-output-buffer-limit"
              if res["warning_naming_setting"] else "logged no warning naming the setting")
    slow = (", ".join(f"{k} {v}" for k, v in res["slow_counters"].items())
            or "no slow-consumer counter")
    return (
        f"{dropped} ({res['flood_emits']:,} emits of {res['flood_bytes'] / 1024:,.0f} KB during "
        f"a {res['block_s']:.1f} s block); deliveries of new emits resumed "
        f"{s(res['resume_after_free_s'])} after the loop was free; "
        f"{res['not_delivered_max']:,} stream and {res['flood_not_delivered_max']:,} flood "
        f"messages lost; adapter {logged}; {slow}; reconnects {res['receiver_reconnects']}"
    )


def cell_d(res: dict[str, Any]) -> str:
    if res.get("aborted"):
        tail = f"; aborted: {res['aborted']}"
    elif res["drained_s"] is None:
        tail = (f"; not every client had every message within the timeout "
                f"({res['deliveries']:,} of {res['expected_deliveries']:,} deliveries)")
    else:
        tail = f"; every client had every message {s(res['drained_s'], 1)} after the burst began"
    dropped = "Redis dropped it" if res["redis_dropped"] else "Redis never dropped it"
    reasons = ", ".join(res.get("side_client_disconnect_reasons") or [])
    reasons = f": {reasons}" if reasons else ""
    turn = res.get("turn_deliveries")
    pacing = f"{turn:,} deliveries per loop turn" if turn else "the default deliveries per turn"
    return (
        f"{res['clients']:,} clients; {res['emits']:,} emits at "
        f"{res['publisher_emits_per_s']:,.0f}/s (publisher, {res['publish_s']:.3f} s): the adapter "
        f"read them at most {s(res['adapter_lag_max_s'])} after they were emitted "
        f"(p50 {s(res['adapter_lag_p50_s'])}; "
        f"last read {s(res['adapter_read_all_after_publish_end_s'])} after the last emit) and "
        f"handed them to the fan-out at most {s(res.get('handed_lag_max_s'))} after "
        f"({res.get('paced', 0):,} messages paced, {pacing}; reading paused "
        f"{res.get('reading_pauses', 0)} times); "
        f"the receiver's event loop ran no timer for up to {s(res['loop_blocked_max_s'])}; "
        f"meanwhile a {res['side_rate']:g}/s stream to another room of the receiver was read "
        f"up to {s(res['side_adapter_lag_max_s'])}, handed on up to "
        f"{s(res.get('side_handed_lag_max_s'))} and reached its client up to "
        f"{s(res['side_client_lag_max_s'])} late ({res['side_lost']} of {res['side_emits']:,} "
        f"lost; client disconnections: {res['side_client_disconnects']}{reasons}); "
        f"Redis output buffer peak {res['redis_peak_omem_bytes'] / 1024:,.0f} KB "
        f"(limit {res['redis_limit']}); {dropped}; receiver RSS +"
        f"{res['receiver_rss_growth_bytes'] / 2**20:,.0f} MB; "
        f"{res['raw_clients_still_connected']:,} clients still connected{tail}"
    )


def cell_e(res: dict[str, Any]) -> str:
    alive = "receiver alive" if res["receiver_alive"] else "**receiver died**"
    delivered = ("a real emit after them delivered" if res["real_emit_delivered"]
                 else "**a real emit after them was not delivered**")
    worst = max(res["us_cpu_per_message_by_channel"].values(), default=0.0)
    return (
        f"{res['per_channel_messages']:,} on each of {res['channels']} channels "
        f"({res['messages_received']:,} received): {alive}, "
        f"{res['us_cpu_per_message']:.1f} µs CPU each (worst channel {worst:.1f}), "
        f"{res['malformed_counted']:,} counted malformed, {res['warnings_logged']:,} warnings "
        f"logged; {delivered}"
    )


def cell_f(res: dict[str, Any]) -> str:
    outcomes = ", ".join(f"{n} {o}" for o, n in sorted(res["outcomes"].items()))
    return (
        f"{res['requests']} concurrent fetch_sockets: {outcomes}, after "
        f"{res['min_s']:.2f}–{res['max_s']:.2f} s (requests_timeout {res['requests_timeout']:g} s)"
    )


TITLES = {
    "a": "Redis killed (kill -9), started again {down:g} s later, 500 emits/s",
    "b": "subscriber connections killed (`CLIENT KILL TYPE pubsub`), 500 emits/s",
    "c": "receiver's event loop blocked {block:g} s while the publisher passed a 256 KB pubsub "
         "output-buffer limit",
    "d": "listener lag: one room of {clients:,} websocket clients, a burst of {burst:,} emits "
         "at full rate",
    "e": "{messages:,} malformed messages on every adapter channel",
    "f": "a silent subscriber on the request channel, {requests} concurrent `fetch_sockets`",
}
CELLS = {"a": cell_a, "b": cell_b, "c": cell_c, "d": cell_d, "e": cell_e, "f": cell_f}


def title(row: str, sizes: Sizes, variant: str) -> str:
    text = TITLES[row].format(down=sizes.a_down, block=sizes.c_block, clients=sizes.d_clients,
                              burst=sizes.d_messages, messages=sizes.e_messages,
                              requests=sizes.f_requests)
    return f"{text}; {variant}" if variant else text


def table(results: list[dict[str, Any]], redis_version: str) -> str:
    lines = [f"| fault, on a real redis-server {redis_version} | measured |", "|---|---|"]
    for res in results:
        if "error" in res:
            body = f"failed: {res['error']}".replace("\n", " ").replace("|", "\\|")[:600]
        else:
            body = CELLS[res["row"]](res["result"])
        lines.append(f"| {res['title']} | {body} |")
    return "\n".join(lines)


# -- main -----------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true",
                        help="tiny sizes: every row runs once in well under a minute (CI)")
    parser.add_argument("--only", default=None,
                        help="comma-separated rows to run, of a..f (default: all; "
                        "with --flavour sync: a, the only one it runs)")
    parser.add_argument("--flavour", choices=tuple(FLAVOURS), default="classic")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--set", metavar="NAME=VALUE", action="append", default=[],
                        help="override one size, e.g. --set d_clients=5000 (names: Sizes)")
    args = parser.parse_args()
    only = args.only or (",".join(SYNC_ROWS) if args.flavour == "sync" else "a,b,c,d,e,f")
    rows = [x.strip() for x in only.split(",") if x.strip()]
    unknown = [x for x in rows if x not in CELLS]
    if unknown:
        parser.error(f"unknown rows {unknown}; choose from a..f")
    if args.flavour == "sync" and set(rows) - set(SYNC_ROWS):
        parser.error(f"--flavour sync runs rows {', '.join(SYNC_ROWS)} only")
    mode = "smoke" if args.smoke else "full"
    sizes = Sizes.make(mode)
    for item in args.set:
        name, _, value = item.partition("=")
        if not hasattr(sizes, name):
            parser.error(f"--set: no size named {name!r}")
        setattr(sizes, name, type(getattr(sizes, name))(value))

    def interrupted(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    facts = machine_facts()
    facts["flavour"] = args.flavour
    facts["offline_queue option"] = str(has_offline_queue(args.flavour))
    facts["load average at start"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print("## Machine\n")
    for k, v in facts.items():
        print(f"* {k}: {v}")
    print(f"\nmode: {mode}; sizes: {sizes}\n", flush=True)
    started = time.monotonic()
    results: list[dict[str, Any]] = []
    plan: list[tuple[str, str, Any]] = []
    for row in rows:
        if row == "a" and has_offline_queue(args.flavour):
            plan.append(("a", "offline queue on (default)",
                         lambda f, z, t: row_a(f, z, t, {})))
            plan.append(("a", "offline queue off (`offline_queue=None`)",
                         lambda f, z, t: row_a(f, z, t, {"offline_queue": None})))
        elif row == "a":
            plan.append(("a", "", lambda f, z, t: row_a(f, z, t, {})))
        else:
            plan.append((row, "", {"b": row_b, "c": row_c, "d": row_d, "e": row_e,
                                   "f": row_f}[row]))
    try:
        with tempfile.TemporaryDirectory(prefix="sio-reliability-") as tmp:
            for row, variant, run in plan:
                name = title(row, sizes, variant)
                print(f"[{time.monotonic() - started:6.1f}s] {row}: {name} ...",
                      file=sys.stderr, flush=True)
                entry: dict[str, Any] = {"row": row, "variant": variant, "title": name}
                try:
                    entry["result"] = run(args.flavour, sizes, tmp)
                except (ChildError, OSError, redis.RedisError, ValueError, KeyError,
                        TypeError) as exc:
                    entry["error"] = f"{type(exc).__name__}: {exc}"
                finally:
                    stop_all()
                results.append(entry)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        stop_all()
    print(table(results, facts.get("redis-server", "?")) + "\n")
    print(f"total time {time.monotonic() - started:.0f} s", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(
            {"facts": facts, "mode": mode, "sizes": asdict(sizes), "rows": results},
            indent=2, default=str))
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
