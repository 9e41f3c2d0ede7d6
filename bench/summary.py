#!/usr/bin/env python3
"""Medians of the per-process medians of bench/run.sh's lines, and ratios.

One line per model:  model=mlp_b threads=1 dlc_us=... torch_us=... libtorch_us=... blas_us=...
ratio=torch/dlc ratio_libtorch=libtorch/dlc ratio_blas=blas/dlc gflops=... peak_share=...
(peak: 100 GFLOP/s per core, measured in ../shared/bench/results/limits_run1.txt), then a table.
"""
import statistics
import sys
from collections import defaultdict

PEAK_GFLOPS = 100.0
NAMES = {"dlc": "dlc", "torch-eager": "torch", "libtorch-cpp": "libtorch", "cblas-handwritten": "blas"}


def main(path):
    runs = defaultdict(list)  # (model, peer) -> step_ms of each process
    gflops = defaultdict(list)
    for line in open(path):
        if line.startswith("#") or "peer=" not in line:
            continue
        kv = dict(f.split("=", 1) for f in line.split() if "=" in f)
        if kv.get("threads") != "1" or kv["peer"] not in NAMES:
            continue
        runs[(kv["model"], NAMES[kv["peer"]])].append(float(kv["step_ms"]))
        if kv["peer"] == "dlc":
            gflops[kv["model"]].append(float(kv["step_gflops"]))
    models = sorted({m for m, _ in runs}, key=["tiny", "mlp_a", "mlp_b", "mlp_c", "conv"].index)
    rows = []
    for m in models:
        us = {p: statistics.median(runs[(m, p)]) * 1000 for p in NAMES.values() if runs.get((m, p))}
        line = f"model={m} threads=1 " + " ".join(f"{p}_us={v:.1f}" for p, v in us.items())
        if "dlc" in us:
            for p, key in (("torch", "ratio"), ("libtorch", "ratio_libtorch"), ("blas", "ratio_blas")):
                if p in us:
                    line += f" {key}={us[p] / us['dlc']:.2f}"
            g = statistics.median(gflops[m])
            line += f" gflops={g:.1f} peak_share={g / PEAK_GFLOPS:.3f}"
        print(line)
        rows.append((m, us))
    print()
    print(f"{'model':8} {'dlc us':>10} {'torch us':>10} {'libtorch us':>12} {'blas us':>10} {'torch/dlc':>10}")
    for m, us in rows:
        cell = lambda p: f"{us[p]:.1f}" if p in us else "-"
        ratio = f"{us['torch'] / us['dlc']:.2f}" if "torch" in us and "dlc" in us else "-"
        print(f"{m:8} {cell('dlc'):>10} {cell('torch'):>10} {cell('libtorch'):>12} {cell('blas'):>10} {ratio:>10}")


if __name__ == "__main__":
    main(sys.argv[1])
