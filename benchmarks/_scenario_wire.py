"""Raw Redis publishes in each implementation's own format, for ``scenarios.py``.

The orchestrator publishes these itself (redis-py, pipelined), so no
publishing server's CPU is in the receiver-side measurements.

* ``node`` format (ours and Node's adapter): msgpack ``[uid, packet, opts]``
  on ``key#/#room#``, as ``@socket.io/redis-adapter`` 8.3 writes a broadcast
  to one room.
* ``sharded`` format (ours and Node's sharded adapter, ``dynamic`` mode):
  ``createShardedAdapter``'s JSON envelope ``{"type": 3, "data": {"packet",
  "opts"}, "uid", "nsp"}`` on the room's own channel ``key#/#room#``, as Node
  8.3 sends a broadcast to exactly one room (published with SPUBLISH);
* ``arm`` format (python-socketio's ``AsyncRedisManager``): its JSON
  ``emit`` message on its single channel.
"""

from __future__ import annotations

import json
from typing import Any

import msgpack

PUBLISHER_UID = "benchpub"


def encode(fmt: str, key: str, room: str, event: str, payload: Any) -> tuple[bytes, bytes]:
    """Return ``(channel, message)`` for an ``event`` with one argument to ``room``."""
    if fmt == "node":
        message = msgpack.packb(
            [
                PUBLISHER_UID,
                {"type": 2, "data": [event, payload], "nsp": "/"},
                {"rooms": [room], "except": [], "flags": {}},
            ],
            use_bin_type=True,
        )
        return f"{key}#/#{room}#".encode(), message
    if fmt == "sharded":
        message = json.dumps(
            {
                "type": 3,
                "data": {
                    "packet": {"type": 2, "data": [event, payload]},
                    "opts": {"rooms": [room], "except": [], "flags": {}},
                },
                "uid": PUBLISHER_UID,
                "nsp": "/",
            },
            separators=(",", ":"),
        ).encode()
        return f"{key}#/#{room}#".encode(), message
    if fmt == "arm":
        message = json.dumps(
            {
                "method": "emit",
                "event": event,
                "data": [payload],
                "binary": False,
                "namespace": "/",
                "room": room,
                "skip_sid": None,
                "callback": None,
                "host_id": PUBLISHER_UID,
            }
        ).encode()
        return key.encode(), message
    raise ValueError(f"unknown wire format {fmt!r}")


def publish_command(fmt: str) -> str:
    """The Redis command that publishes a message of format ``fmt``."""
    return "SPUBLISH" if fmt == "sharded" else "PUBLISH"
