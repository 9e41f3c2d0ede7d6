#!/usr/bin/env python3
"""Compares the tensors of two safetensors checkpoints (F32 only, stdlib only).

  compare_checkpoints.py A B --identical      every bit equal
  compare_checkpoints.py A B --tolerance 1e-5  max |a - b| <= tol * max |a| over params

Prints the largest difference and exits 1 when the check fails. Optimizer
state (names with ':') is compared too but does not set the scale.
"""
import argparse
import array
import json
import struct
import sys


def read(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    body = data[8 + n :]
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        values = array.array("f")
        values.frombytes(body[begin:end])
        tensors[name] = (values, body[begin:end])
    return header.get("__metadata__", {}), tensors


def main():
    p = argparse.ArgumentParser()
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--identical", action="store_true")
    p.add_argument("--tolerance", type=float, default=1e-5)
    args = p.parse_args()
    meta_a, a = read(args.a)
    meta_b, b = read(args.b)
    if sorted(a) != sorted(b):
        print(f"different tensors: {sorted(a)} vs {sorted(b)}")
        return 1
    if meta_a.get("step") != meta_b.get("step"):
        print(f"different step counts: {meta_a.get('step')} vs {meta_b.get('step')}")
        return 1
    if args.identical:
        same = [name for name in a if a[name][1] == b[name][1]]
        print(f"{len(same)} of {len(a)} tensors bit-identical (step {meta_a.get('step')})")
        return 0 if len(same) == len(a) else 1
    scale = max(abs(x) for name, (v, _) in a.items() if ":" not in name for x in v)
    worst, where = 0.0, ""
    for name in a:
        d = max((abs(x - y) for x, y in zip(a[name][0], b[name][0])), default=0.0)
        if d > worst:
            worst, where = d, name
    ok = worst <= args.tolerance * scale
    print(f"largest difference {worst:.3g} (in {where or '-'}) = {worst / scale:.3g} of the largest param {scale:.3g}: "
          f"{'within' if ok else 'NOT within'} {args.tolerance:g}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
