#!/usr/bin/env bash
# Data-parallel throughput beside threads, in one run (see docs/scaling.md):
# samples/s of mnist and wide on 1 and 2 MPI ranks (one thread each,
# localhost) and on 1 and 2 threads in one process, then the cost model's
# check and predictions (bench/scaling_model.py).
#   bash bench/mpi.sh [MIN_TIME_S=2]   env: MODELS=mnist,wide ROUNDS=3 DLC_BENCH_BUILD=build
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
MT="${1:-2}"
MODELS="${MODELS:-mnist,wide}"
ROUNDS="${ROUNDS:-3}"
work="${BENCH_BUILD:-/tmp/dlc-bench}"
mkdir -p "$work"
"$root/scripts/setup.sh" >/dev/null
if [ -n "${DLC_BENCH_BUILD:-}" ]; then # an existing build (the kernels are LLVM's -O2 either way)
  ln -sfn "$DLC_BENCH_BUILD" "$work/dlc"
else
  DLC_BUILD_DIR="$work/dlc" DLC_BUILD_TYPE=Release "$root/scripts/build.sh" >/dev/null
fi
out="$work/mpi_lines.txt"
echo "# $(date -Is) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs) nproc=$(nproc) min_time=${MT}s" | tee "$out"
for round in $(seq "$ROUNDS"); do   # interleaved: the machine is noisy
  for t in 1 2; do
    "$work/dlc/bench/dlc_step" "$root/bench/models" "$MODELS" "$MT" "$t" | sed "s/^/round=$round /" | tee -a "$out"
  done
  for k in 1 2 4; do
    DLC_NUM_THREADS=1 "$root/tests/mpi/mpirun.sh" "$k" "$work/dlc/bench/dlc_mpi_step" "$root/bench/models" "$MODELS" "$MT" \
      | sed "s/^/round=$round /" | tee -a "$out"
  done
done
echo
echo "| model | 1 thread | 2 threads | 1 rank | 2 ranks | 4 ranks (2 cores) |"
echo "|---|---|---|---|---|---|"
/usr/bin/python3 - "$out" <<'PY'
import re, sys, statistics
rows = [dict(re.findall(r"(\w+)=(\S+)", l)) for l in open(sys.argv[1]) if "step_ms" in l]
names = {"mlp_b": "mnist", "mlp_c": "wide"}  # dlc_step prints the peers' names
for r in rows:
    r["model"] = names.get(r.get("model"), r.get("model"))
    if "samples_per_s" not in r:
        r["samples_per_s"] = float(r["batch"]) / float(r["step_ms"]) * 1e3
def med(pred):
    v = [float(r["samples_per_s"]) for r in rows if pred(r)]
    return f"{statistics.median(v):,.0f}" if v else "-"
for m in ("mnist", "wide"):
    cells = [med(lambda r, t=t: r.get("peer") == "dlc" and r["model"] == m and r.get("threads") == t) for t in ("1", "2")]
    cells += [med(lambda r, k=k: r.get("peer") == "dlc-mpi" and r["model"] == m and r.get("ranks") == k) for k in ("1", "2", "4")]
    print(f"| {m} | " + " | ".join(cells) + " |")
PY
echo
/usr/bin/python3 "$root/bench/scaling_model.py" "$out"
