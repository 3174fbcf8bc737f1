#!/usr/bin/env bash
# Run the demo (examples/demo.py) on a fresh machine: installs redis-server
# (and a C compiler for the Cython core) when missing, creates .venv, installs
# this checkout with its compiled core, uvloop and aiohttp, then runs the demo.
# Safe to run again: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
APT_UPDATED=
apt_install() {
  if [ -z "$APT_UPDATED" ]; then
    as_root apt-get update -qq
    APT_UPDATED=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

PYTHON=${PYTHON:-python3}

if ! command -v redis-server >/dev/null 2>&1 && [ ! -x /usr/bin/redis-server ]; then
  echo "== installing redis-server"
  apt_install redis-server
fi

# the Cython core needs a C compiler and the Python headers
if ! command -v cc >/dev/null 2>&1 || ! "$PYTHON" -c \
    'import os, sysconfig, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))'; then
  if command -v apt-get >/dev/null 2>&1; then
    echo "== installing a C compiler and the Python headers"
    apt_install build-essential python3-dev
  fi
fi

if [ ! -x .venv/bin/python ]; then
  echo "== creating .venv"
  if ! "$PYTHON" -m venv .venv >/dev/null 2>&1; then
    rm -rf .venv
    apt_install python3-venv
    "$PYTHON" -m venv .venv
  fi
fi
VPY=.venv/bin/python

# reinstall only when what the install builds changed since the last one (the install is
# editable: the Python modules are used from the checkout)
STAMP=.venv/.socketio-redis-adapter-demo
SOURCES_HASH=$(cat setup.py pyproject.toml $(find src -name '*.pyx' -o -name '*.pxi' | LC_ALL=C sort) \
  | sha256sum | cut -d' ' -f1)
if [ "$(cat "$STAMP" 2>/dev/null)" != "$SOURCES_HASH" ] \
    || ! "$VPY" -c 'import socketio_redis_adapter, aiohttp, uvloop' >/dev/null 2>&1; then
  echo "== building and installing socketio-redis-adapter from this checkout"
  # editable, as the test command installs it: the two share .venv
  "$VPY" -m pip install -q -e ".[uvloop]" aiohttp
  echo "$SOURCES_HASH" > "$STAMP"
fi

echo "== running examples/demo.py"
exec "$VPY" examples/demo.py
