#!/usr/bin/env python3
"""Medians of the per-process medians of bench/run.sh's lines, and ratios.

One line per (model, threads):
  model=mlp_b threads=1 dlc_us=... torch_us=... libtorch_us=... blas_us=...
  ratio=torch/dlc ratio_libtorch=libtorch/dlc ratio_blas=blas/dlc gflops=... peak_share=...
(peak: the FMA peak measured in the same run at that thread count, the
higher of the limit=fma_peak (256-bit) and limit=fma_peak_avx512 lines: the
JIT uses 512-bit vectors where the CPU has them; 100 GFLOP/s per core if the
run has none), then the
machine (CPU, ISA) and its limits beside dlc (blas_model: OpenBLAS at the
model's product shapes, the limit=sgemm_model lines), dlc's 2-thread
speed-up, peak memory, .so build time, and a table.
"""
import statistics
import sys
from collections import defaultdict

PEAK_GFLOPS = 100.0
NAMES = {"dlc": "dlc", "torch-eager": "torch", "libtorch-cpp": "libtorch", "cblas-handwritten": "blas"}
ORDER = ["tiny", "mlp_a", "mlp_b", "mlp_c", "conv"]
PEER_MODEL = {"small": "mlp_a", "mnist": "mlp_b", "wide": "mlp_c", "cnn": "conv"}  # bench/models name -> peers'



def main(path):
    runs = defaultdict(list)  # (model, threads, peer) -> step_ms of each process
    gflops, compile_ms = defaultdict(list), defaultdict(list)
    rss, so = {}, {}
    peak, blas_model, cpu = {}, {}, ""
    for line in open(path):
        if line.startswith("# cpu="):
            cpu = line[2:].strip()
        kv = dict(f.split("=", 1) for f in line.split() if "=" in f)
        if kv.get("limit") in ("fma_peak", "fma_peak_avx512"):  # the widest vectors' peak counts
            peak[kv["threads"]] = max(peak.get(kv["threads"], 0.0), float(kv["gflops"]))
        if kv.get("limit") == "sgemm_model":
            blas_model[(PEER_MODEL.get(kv["model"], kv["model"]), kv["threads"])] = float(kv["gflops"])
        if line.startswith("#") or "peer=" not in line:
            continue
        kv = dict(f.split("=", 1) for f in line.split() if "=" in f)
        if kv["peer"] not in NAMES:
            continue
        kv["model"] = PEER_MODEL.get(kv["model"], kv["model"])
        if "peak_rss_mb" in kv:
            rss[(kv["model"], NAMES[kv["peer"]])] = float(kv["peak_rss_mb"])
            continue
        if "so_build_ms" in kv:
            so[kv["model"]] = (float(kv["so_build_ms"]), int(kv["so_bytes"]))
            continue
        if "step_ms" not in kv:
            continue
        key = (kv["model"], kv["threads"])
        runs[key + (NAMES[kv["peer"]],)].append(float(kv["step_ms"]))
        if kv["peer"] == "dlc":
            gflops[key].append(float(kv["step_gflops"]))
            compile_ms[kv["model"]].append(float(kv["compile_ms"]))
    if cpu:
        print(cpu)
    for t in sorted(peak):
        print(f"limit=fma_peak threads={t} gflops={peak[t]:.1f}")
    configs = sorted({(m, t) for m, t, _ in runs}, key=lambda c: (int(c[1]), ORDER.index(c[0])))
    rows = []
    for m, t in configs:
        us = {p: statistics.median(runs[(m, t, p)]) * 1000 for p in NAMES.values() if runs.get((m, t, p))}
        line = f"model={m} threads={t} " + " ".join(f"{p}_us={v:.1f}" for p, v in us.items())
        if "dlc" in us:
            for p, key in (("torch", "ratio"), ("libtorch", "ratio_libtorch"), ("blas", "ratio_blas")):
                if p in us:
                    line += f" {key}={us[p] / us['dlc']:.2f}"
            g = statistics.median(gflops[(m, t)])
            line += f" gflops={g:.1f} peak_share={g / peak.get(t, PEAK_GFLOPS * int(t)):.3f}"
            if (m, t) in blas_model:
                line += f" blas_model_gflops={blas_model[(m, t)]:.1f} blas_model_share={g / blas_model[(m, t)]:.3f}"
        print(line)
        rows.append((m, t, us))
    dlc = {(m, t): us["dlc"] for m, t, us in rows if "dlc" in us}
    for m in ORDER:
        if (m, "1") in dlc and (m, "2") in dlc:
            print(f"model={m} dlc_speedup_2_threads={dlc[(m, '1')] / dlc[(m, '2')]:.2f}")
    for m in ORDER:
        if m in compile_ms:
            print(f"model={m} jit_compile_ms={statistics.median(compile_ms[m]):.0f}", end="")
            if m in so:
                print(f" so_build_ms={so[m][0]:.0f} so_kb={so[m][1] / 1024:.0f}", end="")
            if (m, "dlc") in rss and (m, "torch") in rss:
                print(f" dlc_peak_rss_mb={rss[(m, 'dlc')]:.0f} torch_peak_rss_mb={rss[(m, 'torch')]:.0f}", end="")
            print()
    print()
    print(f"{'model':8} {'threads':>7} {'dlc us':>10} {'torch us':>10} {'libtorch us':>12} {'blas us':>10} "
          f"{'torch/dlc':>10} {'blas/dlc':>9}")
    for m, t, us in rows:
        cell = lambda p: f"{us[p]:.1f}" if p in us else "-"
        ratio = lambda p: f"{us[p] / us['dlc']:.2f}" if p in us and "dlc" in us else "-"
        print(f"{m:8} {t:>7} {cell('dlc'):>10} {cell('torch'):>10} {cell('libtorch'):>12} {cell('blas'):>10} "
              f"{ratio('torch'):>10} {ratio('blas'):>9}")


if __name__ == "__main__":
    main(sys.argv[1])
