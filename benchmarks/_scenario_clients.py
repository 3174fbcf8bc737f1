"""Many raw Socket.IO websocket clients in one process, for ``scenarios.py``.

``python _scenario_clients.py SPEC.json`` where the spec is
``{"conns": [{"port": P, "rooms": [...]}, ...], "latency": bool}``.  Each
connection speaks Engine.IO 4 / Socket.IO 5 directly over a websocket (no
client library, no polling), joins its rooms through the CONNECT auth
``{"rooms": [...]}``, answers pings and counts the events it gets.  With
``latency`` it reads ``t`` (ms since the epoch) from each ``ev`` event and
records ``now - t``.

Protocol: JSON lines.  stdout ``{"event": "ready"}``, then one reply per
stdin command: ``connect`` (open every connection; reply when all are
connected), ``stats`` (``received``, ``done``, and with ``"latencies": true``
the recorded latencies in ms, which are then cleared).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

import aiohttp
import uvloop


def out(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


class Clients:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.latency = bool(spec.get("latency"))
        self.received = 0
        self.done = 0
        self.connected = 0
        self.latencies: list[float] = []
        self.tasks: list[asyncio.Task[None]] = []
        self.session: aiohttp.ClientSession | None = None

    async def connect_all(self, concurrency: int = 100) -> dict[str, Any]:
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        gate = asyncio.Semaphore(concurrency)
        ready: list[asyncio.Future[None]] = []
        loop = asyncio.get_running_loop()
        for conn in self.spec["conns"]:
            fut: asyncio.Future[None] = loop.create_future()
            ready.append(fut)
            self.tasks.append(asyncio.ensure_future(self.run(conn, gate, fut)))
        await asyncio.wait_for(asyncio.gather(*ready), timeout=120)
        return {"connected": self.connected}

    async def run(
        self, conn: dict[str, Any], gate: asyncio.Semaphore, ready: asyncio.Future[None]
    ) -> None:
        assert self.session is not None
        url = f"http://127.0.0.1:{conn['port']}/socket.io/?EIO=4&transport=websocket"
        try:
            async with gate:
                ws = await self.session.ws_connect(url, compress=0, max_msg_size=0)
                opening = await ws.receive_str(timeout=30)
                if not opening.startswith("0"):
                    raise RuntimeError(f"unexpected open packet {opening[:80]!r}")
                await ws.send_str("40" + json.dumps({"rooms": conn.get("rooms", [])}))
                ack = await ws.receive_str(timeout=30)
                if not ack.startswith("40"):
                    raise RuntimeError(f"unexpected connect reply {ack[:80]!r}")
            self.connected += 1
            ready.set_result(None)
        except Exception as exc:
            if not ready.done():
                ready.set_exception(exc)
            return
        latency = self.latency
        while True:
            msg = await ws.receive()
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            data = msg.data
            if data.startswith("42"):
                if data.startswith('42["done"'):
                    self.done += 1
                    continue
                self.received += 1
                if latency:
                    now = time.time() * 1000.0
                    self.latencies.append(now - json.loads(data[2:])[1]["t"])
            elif data == "2":
                await ws.send_str("3")
        self.connected -= 1

    def stats(self, latencies: bool) -> dict[str, Any]:
        result: dict[str, Any] = {
            "received": self.received,
            "done": self.done,
            "connected": self.connected,
        }
        if latencies:
            result["latencies"] = [round(x, 3) for x in self.latencies]
            self.latencies = []
        return result


async def main(spec_path: str) -> None:
    with open(spec_path) as fh:
        clients = Clients(json.load(fh))
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
            if cmd["cmd"] == "connect":
                result = await clients.connect_all()
            elif cmd["cmd"] == "stats":
                result = clients.stats(bool(cmd.get("latencies")))
            else:
                raise ValueError(f"unknown command {cmd['cmd']!r}")
            out({"event": "reply", "id": cmd.get("id"), "ok": True, "result": result})
        except Exception as exc:
            out({"event": "reply", "id": cmd.get("id"), "ok": False, "error": repr(exc)})


if __name__ == "__main__":
    uvloop.run(main(sys.argv[1]))
