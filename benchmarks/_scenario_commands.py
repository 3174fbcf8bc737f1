"""What the scenario servers (``_scenario_server.py``, ``_scenario_sync_server.py``)
share: the core check, the commands every server answers the same way, the replies.

Protocol: JSON lines.  stdout ``{"event": "ready", "port": P}``, then one
``{"event": "reply", "id": N, "ok": ..., "result": ...}`` per stdin command
``{"id": N, "cmd": ...}``.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import socketio_redis_adapter

_out_lock = threading.Lock()


def out(obj: dict[str, Any]) -> None:
    """Write one JSON line to stdout (from any thread)."""
    with _out_lock:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()


def check_fastpath() -> None:
    """With ``EXPECT_FASTPATH`` set (``1``/``0``), fail unless the adapter got that core."""
    expect = os.environ.get("EXPECT_FASTPATH")
    if expect is not None and socketio_redis_adapter.FASTPATH != (expect == "1"):
        raise RuntimeError(
            f"FASTPATH is {socketio_redis_adapter.FASTPATH}, expected {expect == '1'}"
        )


def common_command(name: str, manager: Any,
                   cpu_details: Callable[[], dict[str, Any]] | None = None) -> Any:
    """The result of ``cpu`` (process CPU seconds, and ``cpu_details()`` when given),
    ``sockets`` (connected sockets), ``gc`` or ``stats`` (our adapter's); raises
    ``LookupError`` for other names."""
    if name == "cpu":
        result = {"cpu": time.process_time()}
        if cpu_details is not None:
            result.update(cpu_details())
        return result
    if name == "sockets":
        try:
            count = sum(1 for _ in manager.get_participants("/", None))
        except KeyError:  # python-socketio's managers before the first client
            count = 0
        return {"sockets": count}
    if name == "gc":
        gc.collect()
        return {}
    if name == "stats":  # ours: the adapter's counters (empty for python-socketio's)
        return dict(getattr(manager, "stats", None) or {})
    raise LookupError(name)


def reply(cmd: dict[str, Any], result: Any) -> None:
    out({"event": "reply", "id": cmd.get("id"), "ok": True, "result": result})


def reply_failed(cmd: dict[str, Any], exc: BaseException) -> None:
    out({"event": "reply", "id": cmd.get("id"), "ok": False, "error": repr(exc)})
