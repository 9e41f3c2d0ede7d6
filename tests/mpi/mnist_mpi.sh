#!/usr/bin/env bash
# One epoch of examples/mnist_mlp.net on the MNIST digits of
# scripts/fetch_data.sh: 2 ranks reach the single-process test accuracy
# within 0.5 points. Usage: mnist_mpi.sh BUILD SOURCE WORK
set -euo pipefail
build="$1"; source="$2"; work="$3"
here="$(cd "$(dirname "$0")" && pwd)"
dlc="$build/tools/dlc/dlc"
rm -rf "$work" && mkdir -p "$work"
"$source/scripts/fetch_data.sh" > "$work/fetch.log"
train=(train "$source/examples/mnist_mlp.net" --data mnist --data-root "$source/data" --epochs 1 --quiet)
"$dlc" "${train[@]}" > "$work/one.log"
"$here/mpirun.sh" 2 "$dlc" "${train[@]}" > "$work/two.log"
cat "$work/two.log"
one=$(sed -n 's/^test accuracy: \([0-9.]*\)%$/\1/p' "$work/one.log")
two=$(sed -n 's/^test accuracy: \([0-9.]*\)%$/\1/p' "$work/two.log")
/usr/bin/python3 - "$one" "$two" <<'PY'
import sys
one, two = map(float, sys.argv[1:])
print(f"1 process {one:.2f}%, 2 ranks {two:.2f}%: {abs(one - two):.2f} points apart")
sys.exit(0 if abs(one - two) <= 0.5 else 1)
PY
echo "mpi mnist: ok"
