"""Fuzz ``json_value_text`` (the compiled JSON scanner) and ``read_plain_broadcast``.

The first byte picks the start offset (mod 64).  Both twins must find the same value
(or none).  ``read_plain_broadcast`` is what the sharded receiver calls first
on every message of a broadcast channel; it may only return or raise
``MalformedMessage``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import TWINS, MalformedMessage, agree, outcome, run, sharded_codec  # noqa: E402


def test_one_input(data: bytes) -> None:
    if not data:
        return
    start, payload = data[0] % 64, data[1:]
    agree(
        "json_value_text",
        [outcome(m.json_value_text, payload, start, expected=()) for m in TWINS],
        data,
    )
    try:
        sharded_codec.read_plain_broadcast(payload)
    except MalformedMessage:
        pass


if __name__ == "__main__":
    run(test_one_input)
