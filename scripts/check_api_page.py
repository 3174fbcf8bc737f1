"""Check that the built API page documents every adapter's whole public API.

``python scripts/check_api_page.py SITE_DIR``: each adapter class of the API
reference must show python-socketio's methods it overrides and the cross-server
API (the synchronous adapter's too, whose methods are made at run time from the
asyncio ones); exits 1 naming what is missing.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

CROSS_SERVER = [
    "server_count", "fetch_sockets", "all_rooms", "sockets_join", "sockets_leave",
    "disconnect_sockets", "server_side_emit", "server_side_call", "emit_with_ack",
    "on_server_side_event", "emit", "start", "close", "stats", "table_sizes",
]
ADAPTERS = ["AsyncRedisAdapter", "AsyncShardedRedisAdapter", "RedisAdapter"]


def main(site: Path) -> int:
    page = (site / "api" / "index.html").read_text(encoding="utf-8")
    missing = []
    for adapter in ADAPTERS:
        shown = set(re.findall(rf'id="socketio_redis_adapter\.{adapter}\.(\w+)"', page))
        missing += [f"{adapter}.{name}" for name in CROSS_SERVER if name not in shown]
    if missing:
        print("the API page lacks: " + ", ".join(missing))
        return 1
    print(f"API page: {len(ADAPTERS)} adapters, each with {len(CROSS_SERVER)} methods checked")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
