"""Fuzz ``PushParser``: arbitrary bytes, split at arbitrary points, both twins compared.

The input's first bytes pick the size limit, the channel filter and where
the stream is cut; the rest is the stream.  Each twin reads the same chunks; the messages,
replies, skipped oversized messages and whether the stream was refused
(``ValueError``, after which the transport drops the connection) must agree.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import TWINS, agree, run  # noqa: E402

LIMITS = [None, 0, 8, 64, 1024, 1 << 20]


class Recorder:
    """Keeps what a parser handed over."""

    def __init__(self) -> None:
        self.events: list[Any] = []

    def message(self, pattern: Any, channel: bytes, data: bytes, route: Any) -> None:
        self.events.append(("message", pattern, channel, data, route is not None))

    def reply(self, value: Any) -> None:
        self.events.append(("reply", repr(value) if isinstance(value, Exception) else value))

    def oversized(self, channel: Any, size: int) -> None:
        self.events.append(("oversized", channel, size))


def feed_all(module: Any, chunks: list[bytes], limit: Any, router: bool) -> Any:
    recorder = Recorder()
    channel_filter = None
    if router:
        channel_filter = module.ChannelRouter("sio")
        index = module.RoomIndex()
        index.connect("s1", "e1")
        index.join("s1", "room")
        channel_filter.add("/", index)
    parser = module.PushParser(
        recorder.message, recorder.reply, None, channel_filter,
        max_message_size=limit, on_oversized=recorder.oversized,
    )
    refused = False
    for chunk in chunks:
        try:
            parser.feed(chunk)
        except ValueError:
            refused = True  # the transport drops the connection here
            break
    return recorder.events, refused, parser.oversized


def test_one_input(data: bytes) -> None:
    # the options are the first bytes (so a seed is b"\0\0\0" + a real stream): the
    # limit, the router, how many cuts, then each cut as 2 bytes
    if len(data) < 3:
        return
    limit = LIMITS[data[0] % len(LIMITS)]
    router = bool(data[1] & 1)
    count = data[2] % 7
    cuts = sorted(int.from_bytes(data[3 + 2 * i:5 + 2 * i], "little") for i in range(count))
    stream = data[3 + 2 * count:]
    points = [0, *(c for c in cuts if c < len(stream)), len(stream)]
    chunks = [stream[a:b] for a, b in zip(points, points[1:], strict=False)]
    agree("PushParser", [feed_all(m, chunks, limit, router) for m in TWINS], data)


if __name__ == "__main__":
    run(test_one_input)
