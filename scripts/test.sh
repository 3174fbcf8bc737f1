#!/usr/bin/env bash
# Run the whole test suite on a fresh machine: installs redis-server, Node.js
# packages for the interop peers and the Python packages, builds the Cython
# core, then runs pytest with the compiled core and again in pure Python.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v redis-server >/dev/null 2>&1; then
  echo "== installing redis-server"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
fi
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "== installing Node.js"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi

echo "== npm packages for the Node interop peers (tests/node)"
npm ci --prefix tests/node --no-audit --no-fund --loglevel=error

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "== creating .venv"
  "$PYTHON" -m venv .venv
fi
VPY=.venv/bin/python
"$VPY" -m pip install -q -U pip
echo "== building and installing socketio-redis-adapter (the extension must compile)"
SOCKETIO_REDIS_ADAPTER_REQUIRE_EXTENSIONS=1 "$VPY" -m pip install -q -e ".[test,dev,uvloop]"

echo "== lint"
"$VPY" -m ruff check src tests benchmarks examples
"$VPY" -m mypy

echo "== tests with the compiled core"
"$VPY" -m pytest -q "$@"

echo "== tests in pure Python (SOCKETIO_REDIS_ADAPTER_NO_EXTENSIONS=1)"
SOCKETIO_REDIS_ADAPTER_NO_EXTENSIONS=1 "$VPY" -m pytest -q "$@"

echo "== micro-benchmarks, short mode (so they cannot rot)"
"$VPY" -m pytest benchmarks -q --benchmark-min-rounds=1 --benchmark-max-time=0.005 \
  --benchmark-warmup=off --benchmark-columns=min,median,ops
