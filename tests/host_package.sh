#!/usr/bin/env bash
# Installs dlc from the build tree into a scratch prefix, builds examples/host
# against it with find_package(dlc), and runs it: training from a JIT-compiled
# string, and compile errors as data.
set -euo pipefail
build="$1"; source="$2"; work="$3"
rm -rf "$work" && mkdir -p "$work"
cmake --install "$build" --prefix "$work/prefix" > "$work/install.log"
cmake -S "$source/examples/host" -B "$work/host" -G Ninja -DCMAKE_PREFIX_PATH="$work/prefix" > "$work/configure.log"
cmake --build "$work/host" > "$work/build.log"
out=$("$work/host/dlc_host")
echo "$out"
grep -q "rejected: batch size 0 is outside 1..32" <<< "$out"
printf 'model m {\n  input x : [3]\n  param A : [2, 4] ~ he\n  loss sum(A @ x)\n}\n' > "$work/bad.net"
if "$work/host/dlc_host" "$work/bad.net" > "$work/bad.out" 2>&1; then echo "a bad model compiled"; exit 1; fi
cat "$work/bad.out"
grep -q "message: error at $work/bad.net:4:14: cannot multiply \[2, 4\] by \[3\]" "$work/bad.out"
echo "host package: ok"
