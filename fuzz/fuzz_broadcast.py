"""Fuzz the classic msgpack broadcast decoders: ``unpack_broadcast`` and ``parse_broadcast``.

``unpack_broadcast`` is what the classic receiver calls on a broadcast
channel's bytes (the compiled ``broadcast_read``/``broadcast_unpack`` parts);
``parse_broadcast`` validates an already decoded value (``broadcast_parse``).
Both twins must return equal broadcasts or both raise ``MalformedMessage``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import TWINS, MalformedMessage, agree, notepack, outcome, run  # noqa: E402


def test_one_input(data: bytes) -> None:
    agree(
        "unpack_broadcast",
        [outcome(m.unpack_broadcast, data, expected=(MalformedMessage,)) for m in TWINS],
        data,
    )
    try:
        value = notepack.unpackb(data)
    except Exception:
        return
    agree(
        "parse_broadcast",
        [outcome(m.parse_broadcast, value, expected=(MalformedMessage,)) for m in TWINS],
        data,
    )


if __name__ == "__main__":
    run(test_one_input)
