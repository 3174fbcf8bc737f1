"""A synchronous python-socketio server (threading mode, Werkzeug) with our ``RedisAdapter``,
for ``reliability.py --flavour sync``.

``python _reliability_sync_server.py SPEC.json`` with the spec of
``_reliability_server.py`` (``url``, ``key``, ``adapter_options``; JSON ``null``
is ``None``, so ``{"offline_queue": null}`` turns the offline queue off).
Clients join the rooms listed in their CONNECT auth ``{"rooms": [...]}``.

The same protocol as ``_reliability_server.py`` (JSON lines; each command runs in
its own thread, so ``stats`` and ``stop`` answer while ``stream`` runs), for the
commands row a needs: ``emit``, ``stream`` (one thread emits at ``rate``/s, as a
request thread would; the sequence numbers that raised and that did not, with the
exception types), ``stop``, ``stats`` and ``sockets``.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import threading
import time
from typing import Any

import socketio
from _reliability_server import Captured, Tally, manager_stats, out
from werkzeug.serving import make_server

import socketio_redis_adapter


class SyncServer:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.captured = Captured()
        logging.getLogger().addHandler(self.captured)
        logger = logging.getLogger("bench.adapter")
        logger.setLevel(logging.INFO)
        logging.getLogger("socketio_redis_adapter").setLevel(logging.INFO)
        options = dict(spec.get("adapter_options") or {})
        options.setdefault("logger", logger)
        self.mgr = socketio_redis_adapter.RedisAdapter(spec["url"], key=spec["key"], **options)
        self.sio = socketio.Server(async_mode="threading", client_manager=self.mgr,
                                   logger=False, engineio_logger=False)
        self.stopping = False
        self.lock = threading.Lock()

        @self.sio.event
        def connect(sid: str, environ: Any, auth: Any) -> None:
            rooms = auth.get("rooms") if isinstance(auth, dict) else None
            for room in rooms or ():
                self.sio.enter_room(sid, room)

    def emit_one(self, room: str, seq: int, pad: str) -> None:
        self.sio.emit("ev", {"seq": seq, "t": time.time(), "p": pad}, to=room)

    def stream(self, rate: float, duration: float, room: str, start_seq: int,
               pad: int) -> dict[str, Any]:
        self.stopping = False
        filler = "x" * pad
        tally = Tally()
        interval = 1.0 / rate
        start = time.monotonic()
        end = start + duration
        seq = start_seq
        n = 0
        while not self.stopping:
            now = time.monotonic()
            if now >= end:
                break
            due = int((now - start) / interval) + 1
            while n < due:
                try:
                    self.emit_one(room, seq, filler)
                except Exception as exc:  # counted: what an application would see
                    tally.failed(seq, type(exc).__name__)
                else:
                    tally.succeeded(seq)
                seq += 1
                n += 1
            time.sleep(max(0.0, start + n * interval - time.monotonic()))
        return tally.result(emitted=n, unfinished=0)

    def stats(self) -> dict[str, Any]:
        return manager_stats(self.mgr, self.captured, 0.0)

    def command(self, cmd: dict[str, Any]) -> None:
        try:
            name = cmd["cmd"]
            if name == "stream":
                result: Any = self.stream(
                    float(cmd["rate"]), float(cmd["duration"]), str(cmd["room"]),
                    int(cmd.get("start_seq", 0)), int(cmd.get("pad", 0)),
                )
            elif name == "stop":
                self.stopping = True
                result = {}
            elif name == "emit":
                self.emit_one(str(cmd["room"]), int(cmd["seq"]), "")
                result = {"t": time.time()}
            elif name == "stats":
                result = self.stats()
            elif name == "sockets":
                result = {"sockets": sum(1 for _ in self.mgr.get_participants("/", None))}
            else:
                raise ValueError(f"unknown command {name!r} (the sync server runs row a)")
            reply: dict[str, Any] = {"event": "reply", "id": cmd.get("id"), "ok": True,
                                     "result": result}
        except Exception as exc:  # reported to the orchestrator
            reply = {"event": "reply", "id": cmd.get("id"), "ok": False, "error": repr(exc)}
        with self.lock:
            out(reply)

    def run(self) -> None:
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        http = make_server("127.0.0.1", port, socketio.WSGIApp(self.sio), threaded=True)
        http.socket.listen(4096)
        threading.Thread(target=http.serve_forever, daemon=True).start()
        self.mgr.start()
        out({"event": "ready", "port": port, "pid": os.getpid()})
        for line in sys.stdin:
            threading.Thread(target=self.command, args=(json.loads(line),), daemon=True).start()
        self.stopping = True
        self.mgr.close()
        http.shutdown()


def main(spec_path: str) -> None:
    with open(spec_path) as fh:
        spec = json.load(fh)
    SyncServer(spec).run()


if __name__ == "__main__":
    try:
        main(sys.argv[1])
    except Exception as exc:
        out({"event": "fatal", "error": repr(exc)})
        raise
    os._exit(0)
