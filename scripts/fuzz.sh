#!/usr/bin/env bash
# Coverage-guided fuzzing of the compiled core under AddressSanitizer (atheris + libFuzzer).
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#
# Builds socketio_redis_adapter._fastpath with clang -fsanitize=address,fuzzer-no-link into
# its own venv (build/fuzz/venv, from a copy of the sources: the checkout and .venv are not
# touched), writes a seed corpus from real messages (fuzz/make_corpus.py), then runs every
# harness fuzz/fuzz_*.py (or the TARGETs named, e.g. push_parser) for SECONDS_PER_TARGET
# (default 60) and prints executions, coverage and crashes per target.  When a harness
# stops on an input (a crash, a leak, a memory error, an uncaught exception), its report
# is printed and the input, kept in build/fuzz/artifacts/TARGET/RUN/, is run again: alone,
# then after the target's whole corpus in one process.  Exits non-zero when that replay
# fails too, or when the harness failed without an input; a stop that does not happen
# again on replay is reported (CRASH NOT REPRODUCED, with the report) but does not fail.
# `scripts/fuzz.sh smoke` runs every target for 5 s.  The corpus each run grows is kept in
# build/fuzz/corpus/TARGET and seeds the next run.  To replay one
# input (a crash), run its harness on the file, as this script does:
#   LD_PRELOAD=$(build/fuzz/venv/bin/python -c 'import atheris; print(atheris.path())')/asan_with_fuzzer.so \
#     PYTHONMALLOC=malloc build/fuzz/venv/bin/python fuzz/fuzz_push_parser.py CRASH_FILE
#
# Needs clang (Debian: apt-get install clang) and PyPI's atheris.  FUZZ_PYTHON chooses the
# interpreter (default: python3 on PATH, the one atheris has a wheel for).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SECONDS_PER_TARGET=${1:-60}
shift || true
if [[ "$SECONDS_PER_TARGET" == smoke ]]; then SECONDS_PER_TARGET=5; fi
TARGETS=("$@")
if [[ ${#TARGETS[@]} -eq 0 ]]; then
  for harness in fuzz/fuzz_*.py; do
    name=${harness#fuzz/fuzz_}; TARGETS+=("${name%.py}")
  done
fi
WORK=${FUZZ_WORK:-$ROOT/build/fuzz}
VENV=$WORK/venv
PYTHON=${FUZZ_PYTHON:-python3}
mkdir -p "$WORK"

command -v clang >/dev/null || { echo "fuzz.sh: clang is missing (apt-get install clang)" >&2; exit 2; }

# -- the venv and the ASan build (again only when a source changed) --------------------
if [[ ! -x $VENV/bin/python ]]; then
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q atheris "cython>=3.0" "setuptools>=77" wheel \
    "python-socketio>=5.11" "redis>=5.0" "ormsgpack>=1.5"
fi
# the compiled part is rebuilt when its sources change (one build at a time: two runs may
# share $WORK); the Python modules are copied from the checkout on every run
exec 9>"$WORK/build.lock"
flock 9
STAMP=$(cat setup.py src/_fastpath.pyx src/fastpath/*.pxi | sha256sum | cut -c1-16)
if [[ "$(cat "$WORK/build.stamp" 2>/dev/null)" != "$STAMP" ]]; then
  echo "fuzz.sh: building the extension with AddressSanitizer..."
  rm -rf "$WORK/src-copy"
  mkdir -p "$WORK/src-copy/src"
  cp -r setup.py pyproject.toml README.md "$WORK/src-copy/"
  cp -r src/_fastpath.pyx src/fastpath src/adapter "$WORK/src-copy/src/"
  find "$WORK/src-copy/src" \( -name '*.so' -o -name '*.c' -o -name __pycache__ \) -prune \
    -exec rm -rf {} +
  (
    cd "$WORK/src-copy"
    export CC=clang CXX=clang++ LDSHARED="clang -shared"
    export CFLAGS="-fsanitize=address,fuzzer-no-link -fno-omit-frame-pointer -g -O1"
    export LDFLAGS="-fsanitize=address,fuzzer-no-link"
    export SOCKETIO_REDIS_ADAPTER_REQUIRE_EXTENSIONS=1
    "$VENV/bin/pip" install -q --no-build-isolation --no-deps --force-reinstall . \
      >"$WORK/build.log" 2>&1 || { cat "$WORK/build.log" >&2; exit 1; }
  )
  echo "$STAMP" >"$WORK/build.stamp"
fi
SITE=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
(cd src/adapter && find . -name '*.py' -print0) | while IFS= read -r -d '' file; do
  mkdir -p "$SITE/socketio_redis_adapter/$(dirname "$file")"
  cp "src/adapter/$file" "$SITE/socketio_redis_adapter/$file"
done
flock -u 9

ATHERIS_DIR=$("$VENV/bin/python" -c 'import atheris, os; print(os.path.dirname(atheris.path()) if not os.path.isdir(atheris.path()) else atheris.path())')
PRELOAD=$ATHERIS_DIR/asan_with_fuzzer.so
[[ -f $PRELOAD ]] || { echo "fuzz.sh: $PRELOAD is missing" >&2; exit 2; }

# the seed corpus: real messages written by the package's own encoders (pure Python)
SEEDS=$(mktemp -d "$WORK/seeds.XXXXXX")  # one per run: two runs may share $WORK
trap 'rm -rf "$SEEDS"' EXIT
SOCKETIO_REDIS_ADAPTER_NO_EXTENSIONS=1 "$VENV/bin/python" fuzz/make_corpus.py "$SEEDS"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1:detect_stack_use_after_return=0:handle_segv=1:symbolize=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$ROOT/fuzz/lsan.supp:print_suppressions=0}
export PYTHONMALLOC=malloc  # every Python allocation goes through ASan
export FUZZ_REQUIRE_COMPILED=1
# run a harness on the inputs named (files), as libFuzzer replays them; fails on a crash
replay() {
  local harness=$1
  shift
  LD_PRELOAD=$PRELOAD "$VENV/bin/python" "$harness" -timeout=20 -rss_limit_mb=4096 "$@"
}
status=0
printf '%-14s %12s %8s %8s %7s %s\n' target executions seconds cov ft result
for target in "${TARGETS[@]}"; do
  harness=fuzz/fuzz_$target.py
  [[ -f $harness ]] || { echo "fuzz.sh: no harness $harness" >&2; exit 2; }
  corpus=$WORK/corpus/$target
  artifacts=$WORK/artifacts/$target/$(date +%Y%m%d-%H%M%S)/  # this run's alone
  mkdir -p "$corpus" "$artifacts" "$SEEDS/$target"  # a new harness may have no seeds yet
  log=$WORK/$target.log
  set +e
  LD_PRELOAD=$PRELOAD "$VENV/bin/python" "$harness" \
    -max_total_time="$SECONDS_PER_TARGET" -timeout=20 -rss_limit_mb=4096 -max_len=8192 \
    -artifact_prefix="$artifacts" -print_final_stats=1 \
    "$corpus" "$SEEDS/$target" >"$log" 2>&1
  rc=$?
  set -e
  runs=$(grep -oE 'Done [0-9]+ runs in [0-9]+ second' "$log" | tail -1 | grep -oE '[0-9]+' | head -1 || true)
  secs=$(grep -oE 'Done [0-9]+ runs in [0-9]+ second' "$log" | tail -1 | grep -oE '[0-9]+' | tail -1 || true)
  if [[ -z $runs ]]; then
    runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1 || true)
  fi
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+' || true)
  ft=$(grep -oE 'ft: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+' || true)
  if [[ $rc -eq 0 ]]; then
    result="0 crashes"
  else
    # the input libFuzzer wrote (crash-, leak-, oom- or timeout-), run again alone, then
    # after the whole corpus in one process (a harness keeps state between inputs)
    input=$(ls -t "$artifacts" 2>/dev/null | head -1)
    if [[ -z $input ]]; then
      replayed="no input written: the harness itself failed"
    elif ! replay "$harness" "$artifacts$input" >"$log.replay" 2>&1; then
      replayed="reproduced alone"
    else
      shopt -s nullglob
      kept=("$corpus"/*)
      shopt -u nullglob
      replayed=""
      if ! replay "$harness" "${kept[@]}" "$artifacts$input" >>"$log.replay" 2>&1; then
        replayed="reproduced after the corpus"
      fi
    fi
    if [[ -n $replayed ]]; then
      result="CRASH (exit $rc, $replayed; see $log and $artifacts)"
      status=1
    else
      # shown in full below, kept, but not failing the run: nothing here could make it
      # happen again (the next run's own inputs may)
      result="CRASH NOT REPRODUCED (exit $rc; input ${input:-not written}; see $log)"
    fi
  fi
  rmdir "$artifacts" 2>/dev/null || true  # kept when it holds an input
  printf '%-14s %12s %8s %8s %7s %s\n' "$target" "${runs:-?}" "${secs:-?}" "${cov:-?}" "${ft:-?}" "$result"
  if [[ $rc -ne 0 ]]; then
    # what went wrong, where CI shows it: the report from its first line, and the input
    first=$(grep -n -m1 -E '^(==[0-9]+==ERROR|=== Uncaught Python exception|==[0-9]+== ?ERROR: libFuzzer|ERROR: |Traceback|Fatal Python error)' "$log" | cut -d: -f1 || true)
    echo "---- $log (from line ${first:-1}, at most 80 lines)"
    tail -n +"${first:-1}" "$log" | head -80 || true
    grep -E '^(artifact_prefix|Base64:)' "$log" | tail -1
    echo "----"
  fi
done
exit $status
