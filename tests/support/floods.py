"""Publishing until Redis drops a subscriber past its output-buffer limit (slow-consumer
tests), and holding a replaced subscriber connection's resubscription."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import redis


def pubsub_clients(client: redis.Redis) -> int:
    """The number of pub/sub client connections Redis has now."""
    return len(client.execute_command("CLIENT", "LIST", "TYPE", "pubsub").splitlines())


def flood_until_a_subscriber_drops(port: int, command: str, channel: bytes, message: bytes,
                                   deadline: float, result: dict[str, int],
                                   drops: int = 1) -> None:
    """``command`` (PUBLISH or SPUBLISH) ``message`` on ``channel`` until Redis has ``drops``
    pub/sub clients fewer than at the start, ``deadline`` (``time.monotonic()``) passes or
    200,000 are sent.  Sets ``result["sent"]`` and ``result["dropped"]`` (run it in a
    thread).  Several blocked subscribers do not pass the limit at the same message (their
    kernel buffers take different amounts): ask for as many drops as are blocked."""
    client = redis.Redis(port=port, socket_timeout=10)
    try:
        before = pubsub_clients(client)
        sent = 0
        while time.monotonic() < deadline and sent < 200_000:
            pipe = client.pipeline(transaction=False)
            for _ in range(100):
                pipe.execute_command(command, channel, message)
            pipe.execute()
            sent += 100
            if pubsub_clients(client) <= before - drops:
                break
        result["sent"] = sent
        result["dropped"] = before - pubsub_clients(client)
    finally:
        client.close()


async def watch_a_held_resubscription(port: int, transport: Any, stats: Any,
                                      hold_ms: int = 1500) -> float:
    """Kill ``transport``'s subscriber connection and hold Redis' reply to the one that
    replaces it (``CLIENT PAUSE``: Redis still accepts connections but runs no command).

    Checks, every 20 ms while held, that the transport does not count itself connected
    and ``stats()`` (the adapter's) reports no drop yet; then waits (bounded) until it
    is connected again and returns the seconds from the kill until then.
    """
    loop = asyncio.get_running_loop()
    admin = redis.Redis(port=port, socket_timeout=5)
    try:
        reconnects = transport.reconnects
        pipe = admin.pipeline(transaction=False)
        pipe.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
        pipe.execute_command("CLIENT", "PAUSE", str(hold_ms), "ALL")
        pipe.execute()
        killed_at = loop.time()
        held_until = killed_at + hold_ms / 1000 - 0.2  # a margin for the pause's own clock
        while transport.reconnects == reconnects:  # the kill is noticed
            assert loop.time() < held_until, "the subscriber connection was not replaced"
            await asyncio.sleep(0.005)
        checks = 0
        while loop.time() < held_until:
            assert not transport.connected, "connected before Redis confirmed the subscriptions"
            assert stats()["closed_by_redis"] == 0, stats()
            checks += 1
            await asyncio.sleep(0.02)
        assert checks >= 10, checks
        deadline = loop.time() + 10
        while not transport.connected:
            assert loop.time() < deadline, "not connected again 10 s after the pause"
            await asyncio.sleep(0.02)
        return loop.time() - killed_at
    finally:
        admin.close()
