#!/usr/bin/env bash
# dlc's training step beside its peers, in one run (see bench/README.md).
#   bash bench/run.sh [MIN_TIME_S=2]   env: MODELS=tiny,small,mnist,wide,cnn ROUNDS=3 THREADS=1,2
# Prints one key=value line per (round, threads, peer, model), then the peak
# memory of 100 training steps and the .so build time per model, then a table
# of medians of medians and ratios. The peers come from ../shared/bench/peers:
# PyTorch eager (Debian's python3-torch), libtorch C++, and a hand-written
# cblas step. At 2 threads torch and libtorch use OpenBLAS's OpenMP build (the
# default pthread build fights torch's OpenMP pool); cblas uses 2 OpenBLAS threads.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
peers="$root/../shared/bench/peers"
MT="${1:-2}"
MODELS="${MODELS:-tiny,small,mnist,wide,cnn}"
ROUNDS="${ROUNDS:-3}"
THREADS="${THREADS:-1,2}"
PY=/usr/bin/python3
work="${BENCH_BUILD:-/tmp/dlc-bench}"
mkdir -p "$work"

# Set-up: dlc in Release, the peers' packages and binaries.
"$root/scripts/setup.sh" >/dev/null
sudo_cmd=(); [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq python3-torch libtorch-dev libopenblas-dev libopenblas0-openmp >/dev/null
DLC_BUILD_DIR="$work/dlc" DLC_BUILD_TYPE=Release "$root/scripts/build.sh" >/dev/null
omp=/usr/lib/x86_64-linux-gnu/openblas-openmp
[ -x "$work/libtorch_mlp" ] || g++ -O2 -std=c++17 -I/usr/include/torch/csrc/api/include "$peers/libtorch_mlp.cpp" \
  -o "$work/libtorch_mlp" -Wl,--no-as-needed -ltorch -ltorch_cpu -lc10 -lopenblas -pthread
[ -x "$work/cblas_mlp" ] || g++ -O3 -march=native -std=c++17 "$peers/cblas_mlp.cpp" -o "$work/cblas_mlp" \
  -I/usr/include/x86_64-linux-gnu/openblas-pthread -lopenblas

peer_models=$(echo "$MODELS" | sed 's/small/mlp_a/; s/mnist/mlp_b/; s/wide/mlp_c/; s/cnn/conv/')
blas_models=$(echo "$peer_models" | tr ',' '\n' | { grep -v conv || true; } | paste -sd, -)
out="$work/lines.txt"
cpu_model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)
isa=$(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -x -E 'avx|avx2|fma|avx512f|avx512bw|avx512vl|avx512_vnni|avx512_bf16' \
  | paste -sd, -)
echo "# $(date -Is) $cpu_model nproc=$(nproc) min_time=${MT}s threads=$THREADS" | tee "$out"
echo "# cpu=\"$cpu_model\" isa=$isa llvm_cpu=$(llc-19 --version | awk '/Host CPU/ {print $3}')" \
  | tee -a "$out"

# The machine's limits, measured in the same run: FMA peak, square sgemm and
# STREAM (../shared/bench/limits), then OpenBLAS at each model's product
# shapes (M,N,K: forward, weight gradient, input gradient of each layer).
BUILD="$work/limits" bash "$root/../shared/bench/limits/run.sh" 2>/dev/null | grep '^limit=' | tee -a "$out"
# The 512-bit FMA peak too where the CPU has AVX-512 (the JIT's widest kernel).
if grep -qw avx512f /proc/cpuinfo; then
  gcc -O2 -pthread "$root/bench/fma_peak_avx512.c" -o "$work/fma_peak_avx512"
  for t in ${THREADS//,/ }; do "$work/fma_peak_avx512" "$t"; done | tee -a "$out"
fi
gcc -O2 "$root/bench/sgemm_shapes.c" -o "$work/sgemm_shapes" -I/usr/include/x86_64-linux-gnu/openblas-pthread -lopenblas
layer_shapes() {  # batch in out [in out ...]: the shapes of each dense layer's three products
  local b=$1; shift
  while (($# >= 2)); do echo "$b,$2,$1 $2,$1,$b $b,$1,$2"; shift; done
}
declare -A shapes=([tiny]="$(layer_shapes 8 2 16 1)" [small]="$(layer_shapes 32 784 128 10)"
  [mnist]="$(layer_shapes 128 784 256 256 10)" [wide]="$(layer_shapes 512 784 1024 1024 10)"
  [cnn]="50176,8,9 $(layer_shapes 64 6272 10)")  # cnn: the convolution as im2col (64*28*28 x 8 x 9), the dense layer
for t in ${THREADS//,/ }; do
  for m in ${MODELS//,/ }; do
    OPENBLAS_NUM_THREADS=$t "$work/sgemm_shapes" "$t" "$m" ${shapes[$m]} | tee -a "$out"
  done
done
for round in $(seq "$ROUNDS"); do   # interleaved: the machine is noisy
  for t in ${THREADS//,/ }; do
    lib=(); [ "$t" -gt 1 ] && lib=(env LD_LIBRARY_PATH="$omp")
    "$work/dlc/bench/dlc_step" "$root/bench/models" "$MODELS" "$MT" "$t" | sed "s/^/round=$round /" | tee -a "$out"
    "${lib[@]}" env OPENBLAS_NUM_THREADS="$t" $PY "$peers/torch_eager.py" --threads "$t" --models "$peer_models" \
      --min-time "$MT" | grep '^peer=' | sed "s/^/round=$round /" | tee -a "$out"
    "${lib[@]}" env OPENBLAS_NUM_THREADS="$t" "$work/libtorch_mlp" "$t" "$peer_models" "$MT" 2>/dev/null \
      | sed "s/^/round=$round /" | tee -a "$out"
    if [ -n "$blas_models" ]; then   # the hand-written step has no convolution
      OPENBLAS_NUM_THREADS="$t" "$work/cblas_mlp" "$t" "$blas_models" "$MT" | sed "s/^/round=$round /" | tee -a "$out"
    fi
  done
done
# Peak RSS of 100 training steps (dlc: JIT compiler included), and .so build time.
for m in ${MODELS//,/ }; do
  "$work/dlc/bench/dlc_step" "$root/bench/models" "$m" 0 1 --rss | tee -a "$out"
  OPENBLAS_NUM_THREADS=1 $PY "$root/bench/torch_rss.py" "$m" | tee -a "$out"
  start=$(date +%s%N)
  "$work/dlc/tools/dlc/dlc" "$root/bench/models/$m.net" -o "$work/$m.so"
  echo "peer=dlc model=$m so_build_ms=$(( ($(date +%s%N) - start) / 1000000 )) so_bytes=$(stat -c %s "$work/$m.so")" | tee -a "$out"
done
$PY "$root/bench/summary.py" "$out"
