#!/usr/bin/env bash
# The test command: installs dependencies, builds, runs every test (Catch2
# unit tests and lit golden tests under CTest), then every test again on a
# clang-19 build with AddressSanitizer and UBSan, and each libFuzzer target for
# 60 s (DLC_FUZZ_SECONDS). DLC_SKIP_SANITIZERS=1 stops after the first run.
set -euo pipefail
# Each stage prints its start time (seconds since this script began), so a slow
# CI run shows which stage took the time.
stage() { echo "== [${SECONDS}s] $*"; }
root="$(cd "$(dirname "$0")/.." && pwd)"
stage "set-up"
"$root/scripts/setup.sh"

stage "build (gcc, RelWithDebInfo)"
"$root/scripts/build.sh"
# The tests' compile cache (tests/CMakeLists.txt) starts empty on every run.
rm -rf "$root/build/tests/compile-cache"
stage "every test (CTest)"
ctest --test-dir "$root/build" --output-on-failure -j "$(nproc)"

if [ "${DLC_SKIP_SANITIZERS:-0}" != 1 ]; then
  # One clang-19 build with ASan + UBSan and libFuzzer's coverage
  # instrumentation serves both: the whole CTest suite runs on it, then each
  # fuzz target for a bounded time from its seeds and regression corpus.
  stage "the ASan + UBSan build (clang-19)"
  san="$root/build-sanitize"
  DLC_BUILD_DIR="$san" DLC_BUILD_TYPE=Debug "$root/scripts/build.sh" -DDLC_SANITIZE=ON -DDLC_FUZZ=ON \
    -DCMAKE_C_COMPILER=clang-19 -DCMAKE_CXX_COMPILER=clang++-19 -DCMAKE_C_FLAGS_DEBUG="-O1 -gline-tables-only" -DCMAKE_CXX_FLAGS_DEBUG="-O1 -gline-tables-only" \
    -DDLC_MPI=OFF -DDLC_ONNX=OFF -DDLC_PYTHON_MODULE=OFF
  rm -rf "$san/tests/compile-cache"
  stage "every test again under AddressSanitizer + UBSan"
  # detect_odr_violation=0: the test binary links dlc_codegen both statically and through libdlc.so
  # (the same definitions twice; tests/unit/main.cpp says the same to ASan).
  ASAN_OPTIONS=detect_leaks=1:detect_odr_violation=0 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    ctest --test-dir "$san" --output-on-failure -j "$(nproc)"
  stage "each fuzz target for ${DLC_FUZZ_SECONDS:-60} s"
  DLC_FUZZ_NO_BUILD=1 DLC_BUILD_DIR="$san" "$root/scripts/fuzz.sh" "${DLC_FUZZ_SECONDS:-60}"
fi
stage "done"
