#!/usr/bin/env bash
# Configures and builds dlc into build/ (or $DLC_BUILD_DIR). Extra arguments
# go to CMake, e.g. scripts/build.sh -DDLC_SANITIZE=ON; $DLC_TARGET builds only those
# targets (space-separated).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${DLC_BUILD_DIR:-$root/build}"
launcher=()
# ccache (when installed) makes rebuilds of unchanged sources cheap.
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE="${DLC_BUILD_TYPE:-RelWithDebInfo}" "${launcher[@]}" "$@" >/dev/null
cmake --build "$build" -j "$(nproc)" ${DLC_TARGET:+--target $DLC_TARGET}
