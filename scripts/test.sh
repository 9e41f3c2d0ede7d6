#!/usr/bin/env bash
# The test command: installs dependencies, builds, runs every test (Catch2
# unit tests and lit golden tests under CTest), then runs the front-end,
# fuzz-replay and hostile-input tests again under AddressSanitizer and UBSan.
# (The libFuzzer targets themselves run offline: scripts/fuzz.sh.)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/setup.sh"

"$root/scripts/build.sh"
# The tests' compile cache (tests/CMakeLists.txt) starts empty on every run.
rm -rf "$root/build/tests/compile-cache"
ctest --test-dir "$root/build" --output-on-failure -j "$(nproc)"

if [ "${DLC_SKIP_ASAN:-0}" != 1 ]; then
  echo "== front end, fuzz corpora and hostile input under AddressSanitizer + UBSan"
  DLC_BUILD_DIR="$root/build-asan" DLC_BUILD_TYPE=Debug DLC_TARGET=dlc_unit_tests "$root/scripts/build.sh" -DDLC_SANITIZE=ON
  # detect_odr_violation=0: the test binary links dlc_codegen both statically and through libdlc.so
  # (the same definitions twice); linking it once is the real fix.
  DLC_CACHE_DIR="$root/build-asan/compile-cache" ASAN_OPTIONS=detect_leaks=1:detect_odr_violation=0 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    "$root/build-asan/tests/dlc_unit_tests" "[fuzz],[frontend],[ir],[hostile]"
fi
