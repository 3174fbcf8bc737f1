"""A test-side SSUBSCRIBE listener that depends on neither redis-py's nor our pub/sub code.

redis-py's asyncio ``PubSub.get_sharded_message`` is missing from some releases the
package accepts, and the adapter's own transport is what the tests look at, so this speaks
RESP2 itself over one asyncio stream to one node (the node that owns the channels' slot on
a cluster: all channels given to one listener must hash to one slot, as Redis requires).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from typing import Any


async def _read_reply(reader: asyncio.StreamReader) -> Any:
    line = await reader.readline()
    if not line.endswith(b"\r\n"):
        raise ConnectionError("connection closed mid-reply")
    kind, body = line[:1], line[1:-2]
    if kind == b"+":
        return body
    if kind == b"-":
        raise RuntimeError(f"Redis error: {body.decode()}")
    if kind == b":":
        return int(body)
    if kind == b"$":
        size = int(body)
        if size < 0:
            return None
        data = await reader.readexactly(size + 2)
        return data[:-2]
    if kind == b"*":
        size = int(body)
        return None if size < 0 else [await _read_reply(reader) for _ in range(size)]
    raise RuntimeError(f"unexpected RESP2 reply {line!r}")


def _command(*args: str | bytes) -> bytes:
    parts = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = arg.encode() if isinstance(arg, str) else arg
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


class ShardListener:
    """Messages of the channels it SSUBSCRIBEd, as ``(channel, payload)`` in arrival order."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self.messages: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
        self._confirmations: asyncio.Queue[tuple[bytes, str]] = asyncio.Queue()
        self._task = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        while True:
            reply = await _read_reply(self._reader)
            if not isinstance(reply, list) or len(reply) != 3:
                continue
            kind, channel, payload = reply
            if kind == b"smessage":
                await self.messages.put((channel.decode(), payload))
            elif kind in (b"ssubscribe", b"sunsubscribe"):
                await self._confirmations.put((kind, channel.decode()))

    async def _confirm(self, kind: bytes, channels: list[str], timeout: float) -> None:
        async def confirmed() -> None:
            waiting = set(channels)
            while waiting:
                got_kind, channel = await self._confirmations.get()
                if got_kind == kind:
                    waiting.discard(channel)

        await asyncio.wait_for(confirmed(), timeout)

    async def subscribe(self, channels: list[str], timeout: float = 5.0) -> None:
        self._writer.write(_command("SSUBSCRIBE", *channels))
        await self._confirm(b"ssubscribe", channels, timeout)

    async def unsubscribe(self, channels: list[str], timeout: float = 5.0) -> None:
        self._writer.write(_command("SUNSUBSCRIBE", *channels))
        await self._confirm(b"sunsubscribe", channels, timeout)

    async def next(self, timeout: float = 5.0) -> tuple[str, bytes]:
        """The next message; raises TimeoutError when none comes within ``timeout``."""
        if self._task.done():
            self._task.result()  # re-raise what ended the reader
        return await asyncio.wait_for(self.messages.get(), timeout)

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(BaseException):
            await self._task
        self._writer.close()
        with contextlib.suppress(Exception):
            await self._writer.wait_closed()


@contextlib.asynccontextmanager
async def shard_listener(
    host: str,
    port: int,
    channels: list[str],
    *,
    ca_file: str | None = None,
    username: str | None = None,
    password: str | None = None,
) -> AsyncIterator[ShardListener]:
    """A :class:`ShardListener` on ``host:port``, subscribed (and confirmed) to ``channels``.

    It counts in ``PUBSUB SHARDNUMSUB`` of those channels while it is open; it unsubscribes
    for real before closing, so the channels leave ``PUBSUB SHARDCHANNELS`` at once.
    """
    context = ssl.create_default_context(cafile=ca_file) if ca_file else None
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(host, port, ssl=context), 5
    )
    if password is not None:
        auth = ("AUTH", username, password) if username else ("AUTH", password)
        writer.write(_command(*auth))
        await asyncio.wait_for(_read_reply(reader), 5)
    listener = ShardListener(reader, writer)
    try:
        await listener.subscribe(channels)
        yield listener
        await listener.unsubscribe(channels)
    finally:
        await listener.close()
