#!/usr/bin/env bash
# The dependency floors, tested: a fresh venv on the oldest supported Python (3.10)
# gets this checkout installed with every declared dependency pinned to the lowest
# version pyproject.toml allows (the constraints file scripts/floors.txt; the test
# group's own tools are not pinned), then runs a representative part of the suite with
# the compiled core: the asyncio adapter across servers, the emitters, the synchronous
# adapter and the flavour matrix.
#
#   bash scripts/floors.sh [pytest args...]
#
# Run by scripts/test.sh.  Needs the network (PyPI) and Python 3.10 (pyenv, or
# python3.10 on PATH; FLOORS_PYTHON=/path/to/python picks another).  When a floor
# fails here, raise it in both pyproject.toml and scripts/floors.txt.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv-floors
WORKERS=${PYTEST_WORKERS:-4}
CONSTRAINTS=scripts/floors.txt
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
unset SOCKETIO_REDIS_ADAPTER_NO_EXTENSIONS PYTHONPATH

find_python() {
  local root candidate
  root=$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")
  for candidate in "$root"/versions/"$1".*/bin/python"$1"; do
    if [ -x "$candidate" ]; then echo "$candidate"; return 0; fi
  done
  command -v "python$1"
}
if [ -n "${FLOORS_PYTHON:-}" ]; then
  interpreter=$FLOORS_PYTHON
elif ! interpreter=$(find_python 3.10); then
  echo "floors: Python 3.10, the oldest supported, was not found (pyenv install 3.10)" >&2
  exit 1
fi

echo "== dependency floors ($CONSTRAINTS) on $("$interpreter" -V 2>&1), compiled core"
rm -rf "$VENV"
"$interpreter" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q -U pip
SOCKETIO_REDIS_ADAPTER_REQUIRE_EXTENSIONS=1 "$VENV/bin/python" -m pip install -q \
  -c "$CONSTRAINTS" ".[uvloop]" --group test

# every pinned distribution is installed at its floor, and the compiled core is in use
"$VENV/bin/python" - "$CONSTRAINTS" <<'EOF'
import importlib.metadata as md
import sys

import socketio_redis_adapter

pins = {}
for line in open(sys.argv[1]):
    line = line.split("#", 1)[0].strip()
    if line:
        name, version = line.split("==")
        pins[name.strip()] = version.strip()
installed = {name: md.version(name) for name in pins}
wrong = {name: (installed[name], pins[name]) for name in pins if installed[name] != pins[name]}
assert not wrong, f"not at the floor (installed, floor): {wrong}"
assert socketio_redis_adapter.FASTPATH, "no compiled core"
print("   installed at the floors:", ", ".join(f"{k} {v}" for k, v in installed.items()))
EOF

"$VENV/bin/python" -m pytest -q -n "$WORKERS" \
  -m "not node and not packaging and not topology and not soak and not examples" \
  tests/manager tests/test_emitter.py tests/sync tests/flavours "$@"
