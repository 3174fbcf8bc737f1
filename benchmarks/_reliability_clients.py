"""python-socketio ``AsyncClient``s that record what they receive, for ``reliability.py``.

``python _reliability_clients.py PORT ROOM N``: ``N`` real Socket.IO clients
(websocket transport) connect to the server on ``PORT`` with the CONNECT auth
``{"rooms": [ROOM]}`` and record, for every ``ev`` event, its ``seq``, its
emit time ``t`` and the time it arrived.

Protocol: JSON lines.  stdout ``{"event": "ready"}`` once every client is
connected, then one reply per stdin command: ``records`` (per client, the
``[seq, t, received_at]`` triples since the last ``records``, ``keep`` to
keep them), ``count`` (events received so far and disconnections, per client).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

import socketio
import uvloop


def out(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


class Recorder:
    def __init__(self, port: int, room: str) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.room = room
        self.records: list[tuple[int, float, float]] = []
        self.count = 0
        self.client = socketio.AsyncClient(reconnection=True, logger=False,
                                           engineio_logger=False)
        self.disconnects = 0
        #: why each disconnection happened (python-socketio's reason), with its time
        self.reasons: list[tuple[float, str]] = []
        self.client.on("ev", self.on_ev)
        self.client.on("disconnect", self.on_disconnect)

    async def on_disconnect(self, reason: Any = None) -> None:
        self.disconnects += 1
        self.reasons.append((time.time(), str(reason)))

    async def on_ev(self, data: Any) -> None:
        now = time.time()
        self.count += 1
        if len(self.records) < 2_000_000:
            self.records.append((int(data["seq"]), float(data["t"]), now))

    async def connect(self) -> None:
        await self.client.connect(
            self.url, transports=["websocket"], auth={"rooms": [self.room]}, wait_timeout=30
        )


async def main(port: int, room: str, n: int) -> None:
    recorders = [Recorder(port, room) for _ in range(n)]
    await asyncio.wait_for(asyncio.gather(*(r.connect() for r in recorders)), 60)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    out({"event": "ready"})
    while True:
        line = await reader.readline()
        if not line:
            break
        cmd = json.loads(line)
        try:
            if cmd["cmd"] == "records":
                result: Any = {"clients": [r.records for r in recorders]}
                if not cmd.get("keep"):
                    for r in recorders:
                        r.records = []
            elif cmd["cmd"] == "count":
                result = {"counts": [r.count for r in recorders],
                          "disconnects": [r.disconnects for r in recorders],
                          "reasons": [r.reasons for r in recorders]}
            else:
                raise ValueError(f"unknown command {cmd['cmd']!r}")
            out({"event": "reply", "id": cmd.get("id"), "ok": True, "result": result})
        except Exception as exc:
            out({"event": "reply", "id": cmd.get("id"), "ok": False, "error": repr(exc)})
    for r in recorders:
        await r.client.disconnect()


if __name__ == "__main__":
    try:
        uvloop.run(main(int(sys.argv[1]), sys.argv[2], int(sys.argv[3])))
    except Exception as exc:
        out({"event": "fatal", "error": repr(exc)})
        raise
