#!/usr/bin/env bash
# The MPI host example (examples/mpi_host) built against the installed package
# and run on 1, 2 and 4 ranks: after 5 steps every run's params equal the
# single-process global-batch run's within 1e-5 of the largest param, and
# --deterministic on 4 ranks gives the bits of one process summing the same
# 4 shards in order. Usage: host_mpi.sh BUILD SOURCE WORK
set -euo pipefail
build="$1"; source="$2"; work="$3"
here="$(cd "$(dirname "$0")" && pwd)"
py=/usr/bin/python3
rm -rf "$work" && mkdir -p "$work"
cmake --install "$build" --prefix "$work/prefix" > "$work/install.log"
cmake -S "$source/examples/mpi_host" -B "$work/host" -G Ninja -DCMAKE_PREFIX_PATH="$work/prefix" > "$work/configure.log"
cmake --build "$work/host" > "$work/build.log"
"$build/tools/dlc/dlc" "$source/examples/mnist_mlp.net" -o "$work/mlp.so"
host="$work/host/train_mpi"
# 30 rows: shards of 15/15 on 2 ranks, 8/8/7/7 on 4.
"$host" "$work/mlp.so" 5 30 "$work/serial1.st" --serial-shards 1
for k in 1 2 4; do
  "$here/mpirun.sh" "$k" "$host" "$work/mlp.so" 5 30 "$work/ranks$k.st" | tail -1
  "$py" "$here/compare_checkpoints.py" "$work/serial1.st" "$work/ranks$k.st" --tolerance 1e-5
done
"$here/mpirun.sh" 4 "$host" "$work/mlp.so" 5 30 "$work/det4.st" --deterministic | tail -1
"$host" "$work/mlp.so" 5 30 "$work/serial4.st" --serial-shards 4 | tail -1
"$py" "$here/compare_checkpoints.py" "$work/serial4.st" "$work/det4.st" --identical
echo "mpi host: ok"
