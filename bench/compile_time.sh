#!/usr/bin/env bash
# Compile time in one run (docs/compile-time.md):
#   1. `dlc deepL.net --emit=obj` of an L-layer width-128 ReLU MLP with
#      softmax cross-entropy (bench/deep_mlp.py) against the depth L;
#   2. cold against cached JIT compiles (compileFile) of the five benchmark
#      models (bench/compile_cache.cpp).
#   bash bench/compile_time.sh     env: DEPTHS=4,16,64,128,256 ROUNDS=3 MODELS=tiny,small,mnist,wide,cnn
#                                       THREADS=1,2 (--compile-threads, each in turn)
# Uses the build in $DLC_BUILD_DIR (default build/); prints key=value lines
# and the ratios the issue asks about. Wall and user CPU time: on a shared
# machine the user time is the steadier of the two.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${DLC_BUILD_DIR:-$root/build}"
DEPTHS="${DEPTHS:-4,16,64,128,256}"
ROUNDS="${ROUNDS:-3}"
MODELS="${MODELS:-tiny,small,mnist,wide,cnn}"
THREADS="${THREADS:-1,2}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
DLC_TARGET=dlc_driver "$root/scripts/build.sh" >/dev/null
DLC_TARGET=compile_cache "$root/scripts/build.sh" >/dev/null
dlc="$build/tools/dlc/dlc"
cpu_model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)
echo "# $(date -Is) cpu=\"$cpu_model\" nproc=$(nproc) load=\"$(cut -d' ' -f1-3 /proc/loadavg)\" rounds=$ROUNDS threads=$THREADS"

div() { awk "BEGIN { printf \"%.2f\", ($1) / ($2) }"; }
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
minimum() { sort -g | head -1; }
declare -A wall user
for depth in ${DEPTHS//,/ }; do
  /usr/bin/python3 "$root/bench/deep_mlp.py" "$depth" > "$work/deep$depth.net"
  for threads in ${THREADS//,/ }; do : > "$work/wall$threads" && : > "$work/user$threads"; done
  for _ in $(seq "$ROUNDS"); do
    for threads in ${THREADS//,/ }; do # interleaved: the machine's load drifts
      start=$(date +%s%N)
      /usr/bin/time -f %U -o "$work/u" "$dlc" "$work/deep$depth.net" --emit=obj -o "$work/deep.o" \
        --compile-threads "$threads"
      awk -v a="$start" -v b="$(date +%s%N)" 'BEGIN { printf "%.3f\n", (b - a) / 1e9 }' >> "$work/wall$threads"
      cat "$work/u" >> "$work/user$threads"
    done
  done
  for threads in ${THREADS//,/ }; do
    wall[$depth,$threads]=$(median < "$work/wall$threads")
    user[$depth,$threads]=$(median < "$work/user$threads")
    echo "depth=$depth compile_threads=$threads obj_build_wall_s=${wall[$depth,$threads]}" \
         "obj_build_wall_min_s=$(minimum < "$work/wall$threads") obj_build_user_s=${user[$depth,$threads]}" \
         "per_layer_user_ms=$(div "1000 * ${user[$depth,$threads]}" "$depth") obj_bytes=$(stat -c %s "$work/deep.o")"
  done
done
for threads in ${THREADS//,/ }; do
  if [ -n "${wall[16,$threads]:-}" ] && [ -n "${wall[128,$threads]:-}" ]; then
    echo "ratio_128_over_16 compile_threads=$threads wall=$(div "${wall[128,$threads]}" "${wall[16,$threads]}")" \
         "user=$(div "${user[128,$threads]}" "${user[16,$threads]}") (linear: 8; the issue asks <= 10)"
  fi
done
"$build/bench/compile_cache" "$root/bench/models" "$MODELS" "$ROUNDS" "--threads=$THREADS"
