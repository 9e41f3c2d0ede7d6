#!/usr/bin/env python3
"""Writes the small CSV data sets of the examples that have no data of their own.

  make_toy_data.py sine DIR    sine.csv, sine.test.csv: x in [-1, 1], y = sin(3x) + N(0, 0.1^2)
  make_toy_data.py hinge DIR   hinge.csv, hinge.test.csv: two Gaussian blobs in 2-D, labels -1 / +1
  make_toy_data.py layers DIR  layers.csv, layers.test.csv: 6 features, the class 0..2 of the largest of
                               x0 + x5, x1 - x2, x3 x4 (examples/layers.net)

Seeded, so every run writes the same files.
"""
import math
import random
import sys


def sine(rng, n):
    rows = []
    for _ in range(n):
        x = rng.uniform(-1, 1)
        rows.append((x, math.sin(3 * x) + rng.gauss(0, 0.1)))
    return rows


def hinge(rng, n):
    rows = []
    for _ in range(n):
        t = rng.choice((-1, 1))
        rows.append((rng.gauss(1.0 * t, 0.8), rng.gauss(-0.5 * t, 0.8), t))
    return rows


def layers(rng, n):
    rows = []
    for _ in range(n):
        x = [rng.gauss(0, 1) for _ in range(6)]
        scores = (x[0] + x[5], x[1] - x[2], x[3] * x[4])
        rows.append((*x, scores.index(max(scores))))
    return rows


def write(path, header, rows):
    with open(path, "w") as f:
        f.write(",".join(header) + "\n")
        for r in rows:
            f.write(",".join(f"{v:.6g}" for v in r) + "\n")


def main():
    sets = {"sine": (sine, ["x", "y"]), "hinge": (hinge, ["x1", "x2", "t"]),
            "layers": (layers, [f"x{i}" for i in range(6)] + ["y"])}
    if len(sys.argv) != 3 or sys.argv[1] not in sets:
        sys.exit(__doc__)
    kind, out = sys.argv[1], sys.argv[2]
    rng = random.Random(2026)
    make, header = sets[kind]
    write(f"{out}/{kind}.csv", header, make(rng, 1000))
    write(f"{out}/{kind}.test.csv", header, make(rng, 500))


if __name__ == "__main__":
    main()
