"""A background worker (not a Socket.IO server) that emits to the clients of a cluster.

The emitter publishes to Redis what the servers' adapters listen to, so every
client in the room gets the event from whichever server it is connected to.
Start a chat server first (for example ``examples/aiohttp_chat``), join room
``lobby`` in its page, then run::

    python async_worker.py

Settings (environment): ``REDIS_URL`` (default ``redis://127.0.0.1:6379/0``),
``ROOM`` (default ``lobby``), ``TICKS`` (how many events, default 10) and
``INTERVAL`` (seconds between them, default 1).  The servers' ``key`` must be
the emitter's (both default to ``socket.io``).
"""

from __future__ import annotations

import asyncio
import os

from socketio_redis_adapter import Emitter

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
ROOM = os.environ.get("ROOM", "lobby")
TICKS = int(os.environ.get("TICKS", "10"))
INTERVAL = float(os.environ.get("INTERVAL", "1"))


async def main() -> None:
    # "async with" closes the emitter's Redis connection at the end.
    async with Emitter(REDIS_URL) as emitter:
        for tick in range(1, TICKS + 1):
            # The chat page shows "message" events; any event name works.
            await emitter.to(ROOM).emit(
                "message",
                {"room": ROOM, "text": f"tick {tick}/{TICKS}", "from": "async_worker",
                 "server": "emitter"},
            )
            print(f"sent tick {tick}/{TICKS} to room {ROOM!r}", flush=True)
            if tick < TICKS:
                await asyncio.sleep(INTERVAL)


if __name__ == "__main__":
    asyncio.run(main())
