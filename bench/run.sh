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
echo "# $(date -Is) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs) nproc=$(nproc) min_time=${MT}s threads=$THREADS" | tee "$out"
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
