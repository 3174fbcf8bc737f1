"""Publishing until Redis drops a subscriber past its output-buffer limit (slow-consumer tests)."""

from __future__ import annotations

import time

import redis


def pubsub_clients(client: redis.Redis) -> int:
    """The number of pub/sub client connections Redis has now."""
    return len(client.execute_command("CLIENT", "LIST", "TYPE", "pubsub").splitlines())


def flood_until_a_subscriber_drops(port: int, command: str, channel: bytes, message: bytes,
                                   deadline: float, result: dict[str, int]) -> None:
    """``command`` (PUBLISH or SPUBLISH) ``message`` on ``channel`` until Redis has fewer
    pub/sub clients than at the start, ``deadline`` (``time.monotonic()``) passes or 200,000
    are sent.  Sets ``result["sent"]`` and ``result["dropped"]`` (run it in a thread)."""
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
            if pubsub_clients(client) < before:
                break
        result["sent"] = sent
        result["dropped"] = before - pubsub_clients(client)
    finally:
        client.close()
