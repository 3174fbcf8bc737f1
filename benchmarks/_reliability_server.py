"""A python-socketio server with our adapter, for ``reliability.py``.

``python _reliability_server.py SPEC.json`` where the spec is
``{"url": ..., "key": ..., "flavour": "classic"|"sharded",
"adapter_options": {...}, "probe": N, "turn_deliveries": N}``.  ``adapter_options`` go to the
adapter's constructor as they are (JSON ``null`` is ``None``, so
``{"offline_queue": null}`` turns the offline queue off).  Clients join the
rooms listed in their CONNECT auth ``{"rooms": [...]}``.

Protocol: JSON lines, as ``_scenario_server.py``: stdout ``{"event":
"ready", "port": P, "pid": N}``, then one ``{"event": "reply", "id": N, "ok":
..., "result": ...}`` per stdin command ``{"id": N, "cmd": ...}``.  Commands
run concurrently (``stop`` and ``stats`` answer while ``stream`` runs):

* ``stream`` (``rate``, ``duration``, ``room``, ``start_seq``, ``pad``): emit
  ``ev`` ``{"seq", "t", "p"}`` to ``room`` at ``rate``/s, each emit its own
  task (as independent handlers emit); reply the sequence numbers that
  raised and that did not, with the exception types.
* ``flood`` (``count``, ``room``, ``start_seq``, ``pad``, ``seconds``): emit
  back to back, each awaited, at most ``count`` or for ``seconds``.
* ``stop``: end a running ``stream``/``flood`` now.
* ``block`` (``seconds``): block the event loop (``time.sleep``); reply when
  it is free again, with the wall-clock times.
* ``fetch_many`` (``n``): ``n`` concurrent ``fetch_sockets``; how each ended
  and when.
* ``stats``: the adapter's counters, the warnings it logged, process CPU, the
  longest the event loop was blocked at once since the last ``stats``, and
  with ``probe`` (every N-th message) the adapter-side lag of the broadcasts it read (the payload's
  ``t`` against the time the transport handed the message over, sampled).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import socket
import sys
import time
from collections import Counter
from typing import Any

import msgpack
import socketio
import uvloop
from aiohttp import web

import socketio_redis_adapter


def out(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


class Captured(logging.Handler):
    """Keeps the count of WARNING+ records per message and the last few texts."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0
        self.by_text: Counter[str] = Counter()
        self.examples: dict[str, str] = {}
        self.times: list[float] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        # keyed by the unformatted message (cheap); one formatted example of each
        template = f"{record.levelname}: {record.msg}"[:300]
        if template not in self.by_text and len(self.by_text) < 200:
            try:
                self.examples[template] = record.getMessage()[:300]
            except Exception:  # a record whose arguments do not format
                self.examples[template] = template
        if template in self.by_text or len(self.by_text) < 200:
            self.by_text[template] += 1
        if len(self.times) < 10_000:
            self.times.append(time.time())


class Probe:
    """Wraps the transport's ``on_message``: samples the lag of broadcasts it reads."""

    def __init__(self, handler: Any, every: int = 20) -> None:
        self.handler = handler
        self.every = every
        self.seen = 0
        self.samples: list[tuple[float, float, int]] = []  # (received at, lag s, seq)

    def __call__(self, pattern: Any, channel: bytes, data: bytes, route: Any = None) -> None:
        self.seen += 1
        if self.seen % self.every == 0 and len(self.samples) < 100_000:
            self._sample(data)
        self.handler(pattern, channel, data, route)

    def _sample(self, data: bytes) -> None:
        now = time.time()
        try:
            message = msgpack.unpackb(data, raw=False)
            payload = message[1]["data"][1]
        except Exception:
            try:
                payload = json.loads(data)["data"]["packet"]["data"][1]
            except Exception:
                return
        if isinstance(payload, dict) and "t" in payload:
            self.samples.append((now, now - float(payload["t"]), int(payload.get("seq", -1))))


class Tally:
    """What a stream's emits did: the sequence numbers that raised (by exception type)
    and those that did not."""

    def __init__(self) -> None:
        self.raised: list[int] = []
        self.ok: list[int] = []
        self.errors: Counter[str] = Counter()
        self.raise_times: list[float] = []

    def succeeded(self, seq: int) -> None:
        self.ok.append(seq)

    def failed(self, seq: int, kind: str) -> None:
        self.raised.append(seq)
        self.errors[kind] += 1
        self.raise_times.append(time.time())

    def result(self, emitted: int, unfinished: int) -> dict[str, Any]:
        """The ``stream`` command's reply."""
        times = self.raise_times
        return {
            "raised": sorted(self.raised), "ok": sorted(self.ok), "errors": dict(self.errors),
            "first_raise": min(times) if times else None,
            "last_raise": max(times) if times else None,
            "unfinished": unfinished, "emitted": emitted,
        }


def manager_stats(mgr: Any, captured: Captured, loop_late_max: float) -> dict[str, Any]:
    """The ``stats`` command's reply: the adapter's counters, the warnings logged, CPU."""
    return {
        "stats": dict(mgr.stats),
        "warnings": captured.count,
        "warning_texts": {
            f"{text} (e.g. {captured.examples.get(text, '')!r})": n
            for text, n in captured.by_text.most_common(20)
        },
        "warning_times": captured.times[-200:],
        "cpu": time.process_time(),
        "loop_late_max": loop_late_max,
    }


def make_manager(spec: dict[str, Any], logger: logging.Logger) -> Any:
    options = dict(spec.get("adapter_options") or {})
    options.setdefault("logger", logger)
    if spec.get("flavour", "classic") == "sharded":
        return socketio_redis_adapter.AsyncShardedRedisAdapter(
            spec["url"], channel_prefix=spec["key"], subscription_mode="dynamic", **options
        )
    return socketio_redis_adapter.AsyncRedisAdapter(spec["url"], key=spec["key"], **options)


class Server:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.captured = Captured()
        logging.getLogger().addHandler(self.captured)
        logger = logging.getLogger("bench.adapter")
        logger.setLevel(logging.INFO)
        logging.getLogger("socketio_redis_adapter").setLevel(logging.INFO)
        self.mgr = make_manager(spec, logger)
        if spec.get("turn_deliveries"):
            self.mgr.pacer.turn_deliveries = int(spec["turn_deliveries"])
        self.probe: Probe | None = None
        self.handed: Probe | None = None
        if spec.get("probe"):
            # read: when the transport hands a message over; handed: when the pacer hands
            # it on to the receiver (later while a big room's fan-out is paced)
            self.probe = Probe(self.mgr.connection.on_message, int(spec["probe"]))
            self.mgr.connection.on_message = self.probe
            self.handed = Probe(self.mgr.pacer.handler, int(spec["probe"]))
            self.mgr.pacer.handler = self.handed
        self.sio = socketio.AsyncServer(
            async_mode="aiohttp", client_manager=self.mgr, logger=False, engineio_logger=False
        )
        self.stopping = False
        #: the longest the event loop was late for a 10 ms timer, since the last ``stats``
        self.loop_late_max = 0.0

        @self.sio.event
        async def connect(sid: str, environ: Any, auth: Any) -> None:
            rooms = auth.get("rooms") if isinstance(auth, dict) else None
            for room in rooms or ():
                await self.sio.enter_room(sid, room)

    async def watch_loop(self) -> None:
        """Record how late a 10 ms sleep wakes up: how long the loop was blocked at once."""
        loop = asyncio.get_running_loop()
        while True:
            t0 = loop.time()
            await asyncio.sleep(0.01)
            self.loop_late_max = max(self.loop_late_max, loop.time() - t0 - 0.01)

    async def emit_one(self, room: str, seq: int, pad: str) -> None:
        await self.sio.emit("ev", {"seq": seq, "t": time.time(), "p": pad}, to=room)

    async def stream(self, rate: float, duration: float, room: str, start_seq: int,
                     pad: int) -> dict[str, Any]:
        self.stopping = False
        filler = "x" * pad
        tally = Tally()
        tasks: list[asyncio.Task[None]] = []

        def finished(seq: int, task: asyncio.Task[None]) -> None:
            if task.cancelled():
                tally.failed(seq, "cancelled")
            elif task.exception() is not None:
                tally.failed(seq, type(task.exception()).__name__)
            else:
                tally.succeeded(seq)

        loop = asyncio.get_running_loop()
        interval = 1.0 / rate
        start = loop.time()
        end = start + duration
        seq = start_seq
        n = 0
        while not self.stopping:
            now = loop.time()
            if now >= end:
                break
            due = int((now - start) / interval) + 1
            while n < due:
                task = asyncio.ensure_future(self.emit_one(room, seq, filler))
                task.add_done_callback(functools.partial(finished, seq))
                tasks.append(task)
                seq += 1
                n += 1
            await asyncio.sleep(max(0.0, start + n * interval - loop.time()))
        pending = [t for t in tasks if not t.done()]
        if pending:
            await asyncio.wait(pending, timeout=30)
        still = sum(1 for t in tasks if not t.done())
        for t in tasks:
            if not t.done():
                t.cancel()
        if still:
            await asyncio.sleep(0.1)
        return tally.result(emitted=n, unfinished=still)

    async def flood(self, count: int, seconds: float, room: str, start_seq: int,
                    pad: int) -> dict[str, Any]:
        self.stopping = False
        filler = "x" * pad
        raised: list[int] = []
        ok: list[int] = []
        errors: Counter[str] = Counter()
        t0 = time.time()
        end = time.monotonic() + seconds
        for i in range(count):
            if self.stopping or time.monotonic() >= end:
                break
            seq = start_seq + i
            try:
                await self.emit_one(room, seq, filler)
                ok.append(seq)
            except Exception as exc:
                raised.append(seq)
                errors[type(exc).__name__] += 1
            if i % 16 == 15:
                await asyncio.sleep(0)  # let the loop breathe (replies, the reader)
        return {"raised": raised, "ok": ok, "errors": dict(errors), "t0": t0, "t1": time.time()}

    async def fetch_many(self, n: int) -> dict[str, Any]:
        async def one() -> tuple[str, float]:
            t0 = time.monotonic()
            try:
                await self.mgr.fetch_sockets("/")
                outcome = "ok"
            except Exception as exc:
                outcome = type(exc).__name__
            return outcome, time.monotonic() - t0

        results = await asyncio.gather(*(one() for _ in range(n)))
        return {"outcomes": [r[0] for r in results], "seconds": [r[1] for r in results]}

    def stats(self, reset_probe: bool) -> dict[str, Any]:
        result = manager_stats(self.mgr, self.captured, self.loop_late_max)
        self.loop_late_max = 0.0
        if self.probe is not None:
            result["probe_seen"] = self.probe.seen
            result["probe"] = self.probe.samples
            if reset_probe:
                self.probe.samples = []
        if self.handed is not None:
            result["handed"] = self.handed.samples
            if reset_probe:
                self.handed.samples = []
        return result

    async def command(self, cmd: dict[str, Any]) -> None:
        try:
            name = cmd["cmd"]
            if name == "stream":
                result: Any = await self.stream(
                    float(cmd["rate"]), float(cmd["duration"]), str(cmd["room"]),
                    int(cmd.get("start_seq", 0)), int(cmd.get("pad", 0)),
                )
            elif name == "flood":
                result = await self.flood(
                    int(cmd["count"]), float(cmd.get("seconds", 3600)), str(cmd["room"]),
                    int(cmd.get("start_seq", 0)), int(cmd.get("pad", 0)),
                )
            elif name == "stop":
                self.stopping = True
                result = {}
            elif name == "block":
                t0 = time.time()
                time.sleep(float(cmd["seconds"]))  # blocks the event loop on purpose
                result = {"t0": t0, "t1": time.time()}
            elif name == "fetch_many":
                result = await self.fetch_many(int(cmd["n"]))
            elif name == "emit":
                await self.emit_one(str(cmd["room"]), int(cmd["seq"]), "")
                result = {"t": time.time()}
            elif name == "stats":
                result = self.stats(bool(cmd.get("reset_probe")))
            elif name == "sockets":
                result = {"sockets": sum(1 for _ in self.mgr.get_participants("/", None))}
            else:
                raise ValueError(f"unknown command {name!r}")
            out({"event": "reply", "id": cmd.get("id"), "ok": True, "result": result})
        except Exception as exc:  # reported to the orchestrator
            out({"event": "reply", "id": cmd.get("id"), "ok": False, "error": repr(exc)})

    async def run(self) -> None:
        app = web.Application()
        self.sio.attach(app)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        site = web.SockSite(runner, sock, backlog=4096)
        await site.start()
        await asyncio.wait_for(self.mgr.start(), 30)
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=2**24)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        out({"event": "ready", "port": sock.getsockname()[1], "pid": os.getpid()})
        running: set[asyncio.Task[None]] = set()
        watcher = asyncio.ensure_future(self.watch_loop())
        while True:
            line = await reader.readline()
            if not line:
                break
            task = asyncio.ensure_future(self.command(json.loads(line)))
            running.add(task)
            task.add_done_callback(running.discard)
        self.stopping = True
        watcher.cancel()
        await self.mgr.close()
        await runner.cleanup()


async def main(spec_path: str) -> None:
    with open(spec_path) as fh:
        spec = json.load(fh)
    await Server(spec).run()


if __name__ == "__main__":
    try:
        uvloop.run(main(sys.argv[1]))
    except Exception as exc:
        out({"event": "fatal", "error": repr(exc)})
        raise
