#!/usr/bin/env python3
"""The data-parallel cost model of docs/scaling.md, from bench/mpi.sh's lines.

Per step on K ranks:  T(K) = compute(K) + allreduce(K)
  compute(K)   = the measured single-rank step x (rows per rank / global batch)
                 x max(1, K / cores)  (ranks beyond the cores share them)
  allreduce(K) = 2 (K - 1) / K x bytes / bandwidth + 2 (K - 1) x latency   (ring)

  scaling_model.py LINES [--cores 2]

Reads peer=dlc-mpi lines (ranks=1 gives the single-rank step; ranks=2 the
localhost latency and bandwidth), checks the model against every measured
rank count, then predicts the efficiency for K = 8 .. 1024 at 10 and
100 Gb/s: strong scaling (the global batch fixed: the model's batch) and
weak scaling (each rank keeps the whole batch: the global batch grows K-fold).
"""
import argparse
import re
import sys


def parse(path):
    runs = []
    for line in open(path):
        if "peer=dlc-mpi" not in line:
            continue
        kv = dict(re.findall(r"(\w+)=(\S+)", line))
        runs.append({k: (float(v) if re.fullmatch(r"[-0-9.e]+", v) else v) for k, v in kv.items()})
    return runs


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def ring(k, nbytes, bandwidth, latency):
    return 0.0 if k == 1 else 2 * (k - 1) / k * nbytes / bandwidth + 2 * (k - 1) * latency


def main():
    p = argparse.ArgumentParser()
    p.add_argument("lines")
    p.add_argument("--cores", type=int, default=2)
    p.add_argument("--latency-us", type=float, default=10.0, help="per-message latency of the cluster network")
    p.add_argument("--step-ms", default="", help="MODEL=MS,...: predict from these single-rank steps instead "
                   "(e.g. a quiet machine's, from bench/README.md)")
    a = p.parse_args()
    runs = parse(a.lines)
    models = sorted({r["model"] for r in runs}, key=lambda m: [r["model"] for r in runs].index(m))
    print("## Check against localhost (medians over rounds)\n")
    print("| model | ranks | rows/rank | measured step ms | predicted from the 1-rank step | error | "
          "measured compute + allreduce ms | predicted from measured compute | error |")
    print("|---|---|---|---|---|---|---|---|---|")
    fitted = {}
    for m in models:
        by_k = {}
        for r in runs:
            if r["model"] == m:
                by_k.setdefault(int(r["ranks"]), []).append(r)
        one = median([r["step_ms"] for r in by_k[1]]) / 1e3
        nbytes = by_k[1][0]["allreduce_bytes"]
        batch = by_k[1][0]["global_batch"]
        # Localhost latency and bandwidth from the 2-rank allreduces.
        lat = median([r["latency_us"] for r in by_k[2]]) / 1e6 / 2  # 2 (K - 1) = 2 messages
        ar2 = median([r["allreduce_ms"] for r in by_k[2]]) / 1e3
        bw = (2 * 1 / 2 * nbytes) / max(ar2 - 2 * lat, 1e-9)
        fitted[m] = (one, nbytes, batch)
        for k in sorted(by_k):
            rows = -(-batch // k)
            compute = one * rows / batch * max(1, k / a.cores)
            pred = compute + ring(k, nbytes, bw, lat)
            meas = median([r["step_ms"] for r in by_k[k]]) / 1e3
            cm = median([r.get("compute_ms", float("nan")) for r in by_k[k]]) / 1e3
            arm = median([r["allreduce_ms"] for r in by_k[k]]) / 1e3 if k > 1 else 0
            pred2 = cm + ring(k, nbytes, bw, lat)
            print(f"| {m} | {k} | {rows:.0f} | {1e3 * meas:.3f} | {1e3 * pred:.3f} | {100 * (pred - meas) / meas:+.0f}% | "
                  f"{1e3 * cm:.3f} + {1e3 * arm:.3f} | {1e3 * pred2:.3f} | {100 * (pred2 - meas) / meas:+.0f}% |")
        print(f"\n{m}: single-rank step {1e3 * one:.3f} ms on {batch:.0f} rows, gradient buffer {nbytes / 1e6:.2f} MB; "
              f"localhost fit: latency {1e6 * lat:.1f} us, bandwidth {bw / 1e9:.2f} GB/s\n")

    for item in filter(None, a.step_ms.split(",")):
        m, ms = item.split("=")
        fitted[m] = (float(ms) / 1e3,) + fitted[m][1:]
        print(f"(predictions below use a {ms} ms single-rank step for {m})\n")
    lat = a.latency_us / 1e6
    for gbps in (10, 100):
        bw = gbps * 1e9 / 8
        print(f"## Predicted efficiency at {gbps} Gb/s (latency {a.latency_us:g} us per message, ring allreduce)\n")
        ks = [8, 16, 32, 64, 128, 256, 512, 1024]
        print("| model | scaling | " + " | ".join(f"K={k}" for k in ks) + " |")
        print("|---|---|" + "---|" * len(ks))
        for m, (one, nbytes, batch) in fitted.items():
            strong, weak = [], []
            for k in ks:
                # strong: the global batch fixed; a rank needs at least one row
                if k <= batch:
                    t = one * (-(-batch // k)) / batch + ring(k, nbytes, bw, lat)
                    strong.append(f"{100 * one / (k * t):.0f}%")
                else:
                    strong.append("-")
                weak.append(f"{100 * one / (one + ring(k, nbytes, bw, lat)):.0f}%")
            print(f"| {m} | strong (batch {batch:.0f}) | " + " | ".join(strong) + " |")
            print(f"| {m} | weak ({batch:.0f} rows/rank) | " + " | ".join(weak) + " |")
        print()
        for m, (one, nbytes, batch) in fitted.items():
            best = min(range(1, int(batch) + 1), key=lambda k: one * (-(-batch // k)) / batch + ring(k, nbytes, bw, lat))
            half = next((k for k in range(2, 1 << 20) if one / (one + ring(k, nbytes, bw, lat)) < 0.5), None)
            comm = ring(1 << 20, nbytes, bw, 0)
            print(f"- {m}: strong scaling is fastest at K = {best} ranks; weak scaling falls below 50% at K = {half} "
                  f"(bandwidth term alone {1e3 * comm:.2f} ms against a {1e3 * one:.2f} ms step)")
        print()


if __name__ == "__main__":
    sys.exit(main())
