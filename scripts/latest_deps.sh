#!/usr/bin/env bash
# The suite against the newest releases of the libraries whose internals the fast paths
# rely on: python-socketio, python-engineio, aiohttp, uvicorn, websockets, redis (and
# simple-websocket, which threading mode's direct frames use).
#
# Direct frames (broadcast frames written straight to idle websocket clients) know
# exact versions of those libraries; a release they do not know turns them off, with a
# warning in the log and the reason in the manager's `direct_frames_off`, and the
# fan-out falls back to Engine.IO's queues.  This script shows that the day the release
# ships: a fresh venv (.venv-latest) gets this checkout (compiled core required), the
# test group, then `pip install -U` of the libraries above; it prints their versions,
# whether direct frames are on for aiohttp, ASGI (uvicorn) and threading servers, and
# runs the direct-frames tests and a core part of the suite.  It exits non-zero when a
# test fails or direct frames are off for one of the three.
#
#   bash scripts/latest_deps.sh                  # direct-frames tests + a core subset
#   LATEST_DEPS_SUITE=full bash scripts/latest_deps.sh   # the whole suite but the soak
#   bash scripts/latest_deps.sh -k uvicorn       # extra pytest arguments
#
# .github/workflows/latest-deps.yml runs it every day (the whole suite).  Needs the
# network (PyPI) and redis-server on PATH; the Node interop tests run only when the
# npm packages of tests/node are installed (npm ci --prefix tests/node).  PYTHON picks
# the interpreter (default python3).  Not part of scripts/test.sh: its result depends
# on the day's releases, not on the checkout.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=.venv-latest
WORKERS=${PYTEST_WORKERS:-4}
LATEST=(python-socketio python-engineio aiohttp uvicorn websockets redis simple-websocket)
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
unset SOCKETIO_REDIS_ADAPTER_NO_EXTENSIONS SOCKETIO_REDIS_ADAPTER_DIRECT_FRAMES PYTHONPATH

echo "== latest releases of ${LATEST[*]} ($("$PYTHON" -V 2>&1))"
rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
VPY=$VENV/bin/python
"$VPY" -m pip install -q -U pip
SOCKETIO_REDIS_ADAPTER_REQUIRE_EXTENSIONS=1 "$VPY" -m pip install -q ".[uvloop]" --group test
"$VPY" -m pip install -q -U "${LATEST[@]}"

# the versions, and whether direct frames serve each kind of server (no Redis needed:
# the managers are only attached to servers, never started)
direct_status=0
"$VPY" - "${LATEST[@]}" <<'EOF' || direct_status=$?
import importlib.metadata as md
import sys

import socketio

import socketio_redis_adapter
from socketio_redis_adapter import AsyncRedisAdapter, RedisAdapter
from socketio_redis_adapter.core import direct_frames, direct_links

print("   " + ", ".join(f"{name} {md.version(name)}" for name in sys.argv[1:]))
assert socketio_redis_adapter.FASTPATH, "no compiled core"
url = "redis://127.0.0.1:6379/0"
status = {}
for mode in ("aiohttp", "asgi"):
    manager = AsyncRedisAdapter(url)
    socketio.AsyncServer(async_mode=mode, client_manager=manager)
    status[mode] = manager.direct_frames_off
if status["asgi"] is None:
    # under ASGI each connection is checked as it is adopted: uvicorn's and websockets'
    # versions are what the first connection would find
    for distribution in ("uvicorn", "websockets"):
        status["asgi"] = status["asgi"] or direct_links._version_reason(distribution)
manager = RedisAdapter(url)
socketio.Server(async_mode="threading", client_manager=manager)
status["threading"] = manager.direct_frames_off
print("   direct frames know, asyncio:", direct_links.known_versions())
print("   direct frames know, threading:", direct_frames.known_versions())
for mode, off in status.items():
    print(f"   direct frames, {mode:9}: {'on' if off is None else 'OFF: ' + off}")
sys.exit(1 if any(off is not None for off in status.values()) else 0)
EOF

if [ -d tests/node/node_modules ]; then node_filter=""; else node_filter="not node and "; fi
if [ "${LATEST_DEPS_SUITE:-}" = full ]; then
  paths=(tests)
  marks="${node_filter}not soak and not packaging"
else
  paths=(tests/direct tests/sync tests/manager tests/flavours tests/test_emitter.py
         tests/test_broadcast.py tests/test_fast_path_notices.py)
  marks="${node_filter}not soak and not packaging and not topology and not examples"
fi
tests_status=0
"$VPY" -m pytest -q -n "$WORKERS" -m "$marks" "${paths[@]}" "$@" || tests_status=$?

if [ "$direct_status" -ne 0 ]; then
  echo "latest_deps: direct frames are OFF for a server kind above with the latest releases" >&2
fi
if [ "$tests_status" -ne 0 ] || [ "$direct_status" -ne 0 ]; then
  exit 1
fi
echo "   latest releases: the tests pass and direct frames are on"
