#!/usr/bin/env bash
# Installs dlc from the build tree into a scratch prefix, builds examples/host
# against it with find_package(dlc), and runs it: training from a JIT-compiled
# string, and compile errors as data. COMPILER and FLAGS (optional) build the
# host as the library was built (a sanitized libdlc needs a sanitized host).
#   host_package.sh BUILD SOURCE WORK [COMPILER] [FLAGS]
set -euo pipefail
build="$1"; source="$2"; work="$3"; compiler="${4:-}"; flags="${5:-}"
rm -rf "$work" && mkdir -p "$work"
cmake --install "$build" --prefix "$work/prefix" > "$work/install.log"
cmake -S "$source/examples/host" -B "$work/host" -G Ninja -DCMAKE_PREFIX_PATH="$work/prefix" \
  ${compiler:+-DCMAKE_CXX_COMPILER="$compiler"} -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="$flags" > "$work/configure.log"
cmake --build "$work/host" > "$work/build.log"
out=$("$work/host/dlc_host")
echo "$out"
grep -q "rejected: batch size 0 is outside 1..32" <<< "$out"
printf 'model m {\n  input x : [3]\n  param A : [2, 4] ~ he\n  loss sum(A @ x)\n}\n' > "$work/bad.net"
if "$work/host/dlc_host" "$work/bad.net" > "$work/bad.out" 2>&1; then echo "a bad model compiled"; exit 1; fi
cat "$work/bad.out"
grep -q "message: error at $work/bad.net:4:14: cannot multiply \[2, 4\] by \[3\]" "$work/bad.out"
echo "host package: ok"
