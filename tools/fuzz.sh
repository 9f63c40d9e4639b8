#!/usr/bin/env bash
# Fuzzes sluis's parsers with libFuzzer for a given time (docs/fuzzing.md).
#
#   tools/fuzz.sh [--merge] NAME SECONDS    fuzz one target (card_code, api_router, ...)
#   tools/fuzz.sh [--merge] all SECONDS     fuzz every target in turn, SECONDS each
#   tools/fuzz.sh --list                    print the target names
#
# Configures and builds the `fuzz` preset (clang-19; only the fuzz targets), then runs each target
# on one core with the committed corpus tests/fuzz/corpus/NAME as seed. New inputs go to a scratch
# corpus, build/fuzz-corpus/NAME; the committed corpus is never written, unless --merge is given:
# then the inputs that add coverage are merged back into it (libFuzzer -merge=1) after the run.
# A crash, leak, timeout or out-of-memory input is kept under build/fuzz-crashes/NAME/ and makes
# the script exit non-zero. One summary line per target is printed at the end.
#
# Environment: SLUIS_FUZZ_BUILD_DIR (default build/fuzz), JOBS (build parallelism, default 2),
# SLUIS_FUZZ_ARGS (extra libFuzzer flags, e.g. "-dict=... -max_len=4096").
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

BUILD="${SLUIS_FUZZ_BUILD_DIR:-build/fuzz}"
JOBS="${JOBS:-2}"
CORPUS_ROOT="tests/fuzz/corpus"
SCRATCH_ROOT="build/fuzz-corpus"
CRASH_ROOT="build/fuzz-crashes"
LOG_ROOT="build/fuzz-logs"

usage() {
  echo "usage: tools/fuzz.sh [--merge] NAME|all SECONDS   (tools/fuzz.sh --list for the names)" >&2
  exit 2
}

targets() {
  local d
  for d in "$CORPUS_ROOT"/*/; do
    basename "$d"
  done
}

merge=0
if [[ "${1:-}" == "--list" ]]; then
  targets
  exit 0
fi
if [[ "${1:-}" == "--merge" ]]; then
  merge=1
  shift
fi
[[ $# -eq 2 ]] || usage
name="$1"
seconds="$2"
[[ "$seconds" =~ ^[1-9][0-9]*$ ]] || usage

if [[ "$name" == "all" ]]; then
  mapfile -t names < <(targets)
else
  [[ -d "$CORPUS_ROOT/$name" ]] || { echo "fuzz.sh: no target '$name' (see --list)" >&2; exit 2; }
  names=("$name")
fi

echo "== Configuring and building the fuzz preset in $BUILD (${#names[@]} target(s))"
cmake --preset fuzz -B "$BUILD" >/dev/null
build_targets=()
for n in "${names[@]}"; do
  build_targets+=("fuzz_$n")
done
cmake --build "$BUILD" -j "$JOBS" --target "${build_targets[@]}"

# The API target keeps its gateway files here (RAM-backed when /dev/shm exists); removed at exit.
shm_parent=/dev/shm
[[ -d "$shm_parent" && -w "$shm_parent" ]] || shm_parent="${TMPDIR:-/tmp}"
scratch_tmp="$(mktemp -d "$shm_parent/sluis-fuzz.XXXXXX")"
trap 'rm -rf "$scratch_tmp"' EXIT

# Sanitizer reports stop the run at the first finding (UBSan included: its checks are built
# recoverable, halt_on_error makes each one fatal like an ASan report).
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
export SLUIS_FUZZ_TMPDIR="$scratch_tmp"
# Symbolised stack traces when an llvm-symbolizer is installed (Debian ships it per LLVM version).
if [[ -z "${ASAN_SYMBOLIZER_PATH:-}" ]]; then
  for s in llvm-symbolizer-19 /usr/lib/llvm-19/bin/llvm-symbolizer llvm-symbolizer; do
    if command -v "$s" >/dev/null; then
      ASAN_SYMBOLIZER_PATH="$(command -v "$s")"
      export ASAN_SYMBOLIZER_PATH
      break
    fi
  done
fi

summaries=()
failed=0
for n in "${names[@]}"; do
  bin="$BUILD/tests/fuzz/fuzz_$n"
  scratch="$SCRATCH_ROOT/$n"
  crashes="$CRASH_ROOT/$n"
  log="$LOG_ROOT/$n.log"
  mkdir -p "$scratch" "$crashes" "$LOG_ROOT"
  before_crashes=$(find "$crashes" -type f | wc -l)
  echo "== Fuzzing $n for ${seconds}s (log: $log)"
  set +e
  # The scratch corpus comes first: libFuzzer writes new inputs into the first directory only.
  # shellcheck disable=SC2086
  "$bin" -max_total_time="$seconds" -print_final_stats=1 -timeout=25 \
    -artifact_prefix="$crashes/" ${SLUIS_FUZZ_ARGS:-} "$scratch" "$CORPUS_ROOT/$n" >"$log" 2>&1
  status=$?
  set -e
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  corpus=$(grep -Eo 'corp: [0-9]+/[0-9]+[a-zA-Z]*' "$log" | tail -n 1 | sed 's/corp: //')
  new_crashes=$(( $(find "$crashes" -type f | wc -l) - before_crashes ))
  if (( status != 0 && new_crashes == 0 )); then
    new_crashes=1  # a failure libFuzzer could not save an input for (e.g. a startup abort)
  fi
  if (( new_crashes > 0 )); then
    failed=1
    echo "!! $n: finding(s) in $crashes/ (see $log)"
  fi
  if (( merge )); then
    echo "== Merging new inputs of $n into $CORPUS_ROOT/$n"
    "$bin" -merge=1 "$CORPUS_ROOT/$n" "$scratch" >>"$log" 2>&1 || failed=1
  fi
  summaries+=("$(printf 'fuzz %-16s seconds=%-5s execs=%-10s corpus=%-12s crashes=%s' \
    "$n" "$seconds" "${execs:-?}" "${corpus:-?}" "$new_crashes")")
done

echo
printf '%s\n' "${summaries[@]}"
exit "$failed"
