"""Compares two dump_model.c outputs: the same tensors in the same order,
the initial params bit for bit (runtime/param_init.c: the same on every
machine), every other entry within 1e-4 relative to the tensor's largest
entry."""
import math
import sys


def read(path):
    with open(path) as f:
        return [(line.split()[0] + " " + line.split()[1], [float(v) for v in line.split()[2:]]) for line in f]


def main(a_path, b_path, model):
    a, b = read(a_path), read(b_path)
    if [k for k, _ in a] != [k for k, _ in b]:
        sys.exit(f"{model}: the dumps list different tensors: {[k for k, _ in a]} vs {[k for k, _ in b]}")
    checked = 0
    for (key, x), (_, y) in zip(a, b):
        if len(x) != len(y):
            sys.exit(f"{model}: {key} has {len(x)} values on x86-64, {len(y)} on aarch64")
        if key.startswith("initial ") and x != y:
            i = next(i for i, (u, v) in enumerate(zip(x, y)) if u != v)
            sys.exit(f"{model}: {key}[{i}]: x86-64 {x[i]!r}, aarch64 {y[i]!r} (initial params must be equal)")
        scale = max([1e-6] + [abs(v) for v in x])
        for i, (u, v) in enumerate(zip(x, y)):
            if not (math.isfinite(u) and math.isfinite(v)) or abs(u - v) > 1e-4 * (abs(u) + scale):
                sys.exit(f"{model}: {key}[{i}]: x86-64 {u}, aarch64 {v}")
        checked += len(x)
    sections = sorted({k.split()[0] for k, _ in a})
    print(f"{model}: {len(a)} tensors, {checked} values agree ({', '.join(sections)})")


if __name__ == "__main__":
    main(*sys.argv[1:])
