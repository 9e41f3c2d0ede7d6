#!/usr/bin/env bash
# Compile time in one run (docs/compile-time.md):
#   1. `dlc deepL.net --emit=obj` of an L-layer width-128 ReLU MLP with
#      softmax cross-entropy (bench/deep_mlp.py) against the depth L;
#   2. cold against cached JIT compiles (compileFile) of the five benchmark
#      models (bench/compile_cache.cpp).
#   bash bench/compile_time.sh     env: DEPTHS=4,16,64,128,256 ROUNDS=3 MODELS=tiny,small,mnist,wide,cnn
# Uses the build in $DLC_BUILD_DIR (default build/); prints key=value lines
# and the ratios the issue asks about. Wall and user CPU time: on a shared
# machine the user time is the steadier of the two.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${DLC_BUILD_DIR:-$root/build}"
DEPTHS="${DEPTHS:-4,16,64,128,256}"
ROUNDS="${ROUNDS:-3}"
MODELS="${MODELS:-tiny,small,mnist,wide,cnn}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
DLC_TARGET=dlc_driver "$root/scripts/build.sh" >/dev/null
DLC_TARGET=compile_cache "$root/scripts/build.sh" >/dev/null
dlc="$build/tools/dlc/dlc"
cpu_model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)
echo "# $(date -Is) cpu=\"$cpu_model\" nproc=$(nproc) load=\"$(cut -d' ' -f1-3 /proc/loadavg)\" rounds=$ROUNDS"

div() { awk "BEGIN { printf \"%.2f\", ($1) / ($2) }"; }
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
declare -A wall user
for depth in ${DEPTHS//,/ }; do
  /usr/bin/python3 "$root/bench/deep_mlp.py" "$depth" > "$work/deep$depth.net"
  : > "$work/wall" && : > "$work/user"
  for _ in $(seq "$ROUNDS"); do
    start=$(date +%s%N)
    /usr/bin/time -f %U -o "$work/u" "$dlc" "$work/deep$depth.net" --emit=obj -o "$work/deep.o"
    awk -v a="$start" -v b="$(date +%s%N)" 'BEGIN { printf "%.3f\n", (b - a) / 1e9 }' >> "$work/wall"
    cat "$work/u" >> "$work/user"
  done
  wall[$depth]=$(median < "$work/wall")
  user[$depth]=$(median < "$work/user")
  echo "depth=$depth obj_build_wall_s=${wall[$depth]} obj_build_user_s=${user[$depth]}" \
       "per_layer_user_ms=$(div "1000 * ${user[$depth]}" "$depth") obj_bytes=$(stat -c %s "$work/deep.o")"
done
if [ -n "${wall[16]:-}" ] && [ -n "${wall[128]:-}" ]; then
  echo "ratio_128_over_16 wall=$(div "${wall[128]}" "${wall[16]}") user=$(div "${user[128]}" "${user[16]}")" \
       "(linear: 8; the issue asks <= 10)"
fi
"$build/bench/compile_cache" "$root/bench/models" "$MODELS" "$ROUNDS"
