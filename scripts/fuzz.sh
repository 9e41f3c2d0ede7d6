#!/usr/bin/env bash
# Runs dlc's four libFuzzer targets (fuzz/Harness.h): the .net front end, the
# IR reader, the whole pipeline through LLVM's verifier, and checkpoint load.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]   each target for SECONDS (default 60)
#   DLC_FUZZ_RUNS=10000000 scripts/fuzz.sh  each target for that many execs instead (offline)
#   DLC_FUZZ_JOBS=2                         targets run at once (default 2)
#
# Builds the ASan + UBSan + libFuzzer build (clang-19, only the four targets)
# in $DLC_BUILD_DIR (default build-fuzz, a directory of its own: clang objects
# never mix with the gcc builds) unless DLC_FUZZ_NO_BUILD=1. Each target starts from its
# seeds (fuzz/corpus/TARGET), the regression corpus (fuzz/regressions/TARGET)
# and what earlier runs found interesting ($build/fuzz-work/TARGET). A crash,
# a sanitizer report, a broken invariant, a timeout (10 s) or running out of
# memory (2.5 GB) is a finding: the input goes to $build/fuzz-findings/TARGET/
# and the script fails. Copy a fixed finding into fuzz/regressions/TARGET/ so
# that every test run replays it.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${DLC_BUILD_DIR:-$root/build-fuzz}"
seconds="${1:-60}"
shift || true
targets=("$@")
((${#targets[@]})) || targets=(net ir pipeline load)
jobs="${DLC_FUZZ_JOBS:-2}"

if [ "${DLC_FUZZ_NO_BUILD:-0}" != 1 ]; then
  DLC_BUILD_DIR="$build" DLC_BUILD_TYPE=Debug DLC_TARGET=dlc_fuzz_targets "$root/scripts/build.sh" -DDLC_SANITIZE=ON -DDLC_FUZZ=ON \
    -DCMAKE_C_COMPILER=clang-19 -DCMAKE_CXX_COMPILER=clang++-19 \
    -DCMAKE_C_FLAGS_DEBUG="-O1 -g" -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g" \
    -DDLC_MPI=OFF -DDLC_ONNX=OFF -DDLC_PYTHON_MODULE=OFF -DBUILD_TESTING=OFF
fi

# Offline runs (DLC_FUZZ_RUNS) record no allocation stacks: 1.5x the execs per
# second (Zen 4, the net target); a finding still stops the run, and running
# the target on the saved input alone prints the full report.
asan="detect_leaks=1:allocator_may_return_null=1"
[ -n "${DLC_FUZZ_RUNS:-}" ] && asan+=":malloc_context_size=0"
export ASAN_OPTIONS="${ASAN_OPTIONS:-$asan}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"

run_target() {
  local t="$1" work="$build/fuzz-work/$1" findings="$build/fuzz-findings/$1" log="$build/fuzz-logs/$1.log"
  mkdir -p "$work" "$findings" "$(dirname "$log")"
  local bound=(-max_total_time="$seconds")
  [ -n "${DLC_FUZZ_RUNS:-}" ] && bound=(-runs="$DLC_FUZZ_RUNS")
  local seeds=() dir # libFuzzer stops at a corpus directory that does not exist
  for dir in "$root/fuzz/corpus/$t" "$root/fuzz/regressions/$t"; do [ -d "$dir" ] && seeds+=("$dir"); done
  local dict=()
  [ -f "$root/fuzz/dict/$t.dict" ] && dict=(-dict="$root/fuzz/dict/$t.dict")
  "$build/fuzz/dlc_fuzz_$t" "${bound[@]}" "${dict[@]}" -timeout=10 -rss_limit_mb=2560 -max_len=8192 \
    -print_final_stats=1 -artifact_prefix="$findings/" "$work" "${seeds[@]}" >"$log" 2>&1
}

pids=()
status=0
for t in "${targets[@]}"; do
  [ -x "$build/fuzz/dlc_fuzz_$t" ] || { echo "fuzz: no target '$t' in $build/fuzz" >&2; exit 1; }
  run_target "$t" &
  pids+=($!)
  if ((${#pids[@]} >= jobs)); then wait "${pids[0]}" || status=1; pids=("${pids[@]:1}"); fi
done
for p in "${pids[@]}"; do wait "$p" || status=1; done

echo "fuzz: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), ${seconds}s${DLC_FUZZ_RUNS:+ or $DLC_FUZZ_RUNS runs} per target"
for t in "${targets[@]}"; do
  log="$build/fuzz-logs/$t.log"
  execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$log" | tail -1 || true)
  found=$(find "$build/fuzz-findings/$t" -type f | wc -l)
  printf 'fuzz %-9s %10s execs  %-22s findings: %s\n' "$t" "$execs" "${cov:-cov: ?}" "$found"
  if ((found)); then
    status=1
    grep -m3 -E 'ERROR|dlc fuzz finding|runtime error|Test unit written' "$log" | sed 's/^/  /' || true
  fi
done
exit "$status"
