"""A blocking classic pub/sub transport on redis-py, for ``scenarios.py --only transport-sync``.

What ``RedisAdapter`` would be on redis-py's own blocking client instead of the
package's ``BlockingPubSub``: ``Redis.publish`` for every publish (a round trip
each, from a thread-safe connection pool), and one ``PubSub`` read by
``get_message`` in a background task of the server.  It has what the
synchronous flavour asks of its transport, and no more: no held
subscriptions across reconnects, no lost-post hand-back; it exists to measure
the client, not to be used.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import redis

from socketio_redis_adapter.transport.base import TransportAbilities
from socketio_redis_adapter.transport.limits import MessageSizeLimit


def _ignore(pattern: bytes | None, channel: bytes, data: bytes, route: Any) -> None:
    """The handler before the manager gives its own."""


class RedisPyBlockingPubSub(TransportAbilities, MessageSizeLimit):
    """Classic pub/sub for a synchronous manager on redis-py's blocking client."""

    checks_after_reading = True

    def __init__(self, url: str, confirm_timeout: float = 5.0) -> None:
        self.client = redis.Redis.from_url(url)
        self.pubsub = self.client.pubsub()
        self.on_message = _ignore
        self.channel_filter: Any = None
        self.confirm_timeout = confirm_timeout
        self.handler_errors = 0
        self._server: Any = None
        self._lock = threading.Lock()
        self._confirmations: dict[tuple[str, bytes], threading.Event] = {}
        self._listening = False
        self._closed = False

    def bind(self, server: Any) -> None:
        self._server = server

    # -- publishing -------------------------------------------------------------

    def post_now(self, channel: bytes, data: bytes) -> None:
        self.client.publish(channel, data)

    async def publish(self, channel: bytes, data: bytes) -> int:
        return int(self.client.publish(channel, data))

    async def numsub(self, channel: bytes) -> int:
        return int(self.client.pubsub_numsub(channel)[0][1])

    # -- subscribing ------------------------------------------------------------

    def subscribe(self, *channels: bytes, wait: bool = True) -> None:
        self._add("subscribe", channels, wait)

    def psubscribe(self, *patterns: bytes, wait: bool = True) -> None:
        self._add("psubscribe", patterns, wait)

    def _add(self, kind: str, names: tuple[bytes, ...], wait: bool) -> None:
        with self._lock:
            events = [self._confirmations.setdefault((kind, name), threading.Event())
                      for name in names]
            getattr(self.pubsub, kind)(*names)
        self.start()
        if wait:
            deadline = time.monotonic() + self.confirm_timeout
            for event in events:
                if not event.wait(timeout=max(deadline - time.monotonic(), 0.0)):
                    raise TimeoutError(f"Redis did not confirm {kind.upper()}")

    def start(self) -> None:
        with self._lock:
            if self._listening or self._closed:
                return
            self._listening = True
        self._server.start_background_task(self._listen)

    def _listen(self) -> None:
        pubsub = self.pubsub
        while not self._closed:
            try:
                message = pubsub.get_message(timeout=1.0)
            except Exception:  # closed under the read, or Redis went away: redis-py reconnects
                if self._closed:
                    return
                time.sleep(0.05)
                continue
            if message is None:
                continue
            kind = message["type"]
            if kind == "pmessage":
                channel = message["channel"]
                route = None
                if self.channel_filter is not None:
                    route = self.channel_filter.route(channel)
                    if route is None:
                        continue  # a room no local socket is in
                self._hand(message["pattern"], channel, message["data"], route)
            elif kind == "message":
                self._hand(None, message["channel"], message["data"], None)
            elif kind in ("subscribe", "psubscribe"):
                event = self._confirmations.get((kind, message["channel"]))
                if event is not None:
                    event.set()

    def _hand(self, pattern: bytes | None, channel: bytes, data: bytes, route: Any) -> None:
        try:
            self.on_message(pattern, channel, data, route)
        except Exception:  # counted, as the package's transports do
            self.handler_errors += 1

    # -- the rest of the interface ------------------------------------------------

    def stats(self) -> dict[str, int]:
        return {"reconnects": 0, "resubscribed": 0, "handler_errors": self.handler_errors,
                "publish_failures": 0}

    def close(self) -> None:
        self._closed = True
        self.pubsub.close()
        self.client.close()
