#!/usr/bin/env bash
# dlc's training step beside its peers, in one run (see bench/README.md).
#   bash bench/run.sh [MIN_TIME_S=2]     env: MODELS=tiny,small,mnist,wide,cnn  ROUNDS=3
# Prints one key=value line per (round, peer, model), then a table of medians
# of medians and ratios. The peers come from ../shared/bench/peers: PyTorch
# eager (Debian's python3-torch), libtorch C++, and a hand-written cblas step.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
peers="$root/../shared/bench/peers"
MT="${1:-2}"
MODELS="${MODELS:-tiny,small,mnist,wide,cnn}"
ROUNDS="${ROUNDS:-3}"
PY=/usr/bin/python3
work="${BENCH_BUILD:-/tmp/dlc-bench}"
mkdir -p "$work"

# Set-up: dlc in Release, the peers' packages and binaries.
"$root/scripts/setup.sh" >/dev/null
sudo_cmd=(); [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq python3-torch libtorch-dev libopenblas-dev >/dev/null
DLC_BUILD_DIR="$work/dlc" DLC_BUILD_TYPE=Release DLC_TARGET=dlc_step "$root/scripts/build.sh" >/dev/null
[ -x "$work/libtorch_mlp" ] || g++ -O2 -std=c++17 -I/usr/include/torch/csrc/api/include "$peers/libtorch_mlp.cpp" \
  -o "$work/libtorch_mlp" -Wl,--no-as-needed -ltorch -ltorch_cpu -lc10 -lopenblas -pthread
[ -x "$work/cblas_mlp" ] || g++ -O3 -march=native -std=c++17 "$peers/cblas_mlp.cpp" -o "$work/cblas_mlp" \
  -I/usr/include/x86_64-linux-gnu/openblas-pthread -lopenblas

peer_models=$(echo "$MODELS" | sed 's/small/mlp_a/; s/mnist/mlp_b/; s/wide/mlp_c/; s/cnn/conv/')
blas_models=$(echo "$peer_models" | tr ',' '\n' | grep -v conv | paste -sd, -)
out="$work/lines.txt"
echo "# $(date -Is) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs) nproc=$(nproc) min_time=${MT}s threads=1" | tee "$out"
for round in $(seq "$ROUNDS"); do   # interleaved: the machine is noisy
  "$work/dlc/bench/dlc_step" "$root/bench/models" "$MODELS" "$MT" | sed "s/^/round=$round /" | tee -a "$out"
  OPENBLAS_NUM_THREADS=1 $PY "$peers/torch_eager.py" --threads 1 --models "$peer_models" --min-time "$MT" \
    | grep '^peer=' | sed "s/^/round=$round /" | tee -a "$out"
  OPENBLAS_NUM_THREADS=1 "$work/libtorch_mlp" 1 "$peer_models" "$MT" 2>/dev/null | sed "s/^/round=$round /" | tee -a "$out"
  [ -n "$blas_models" ] && OPENBLAS_NUM_THREADS=1 "$work/cblas_mlp" 1 "$blas_models" "$MT" | sed "s/^/round=$round /" | tee -a "$out"
done
$PY "$root/bench/summary.py" "$out"
