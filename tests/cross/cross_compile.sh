#!/usr/bin/env bash
# Builds example libraries for x86-64 and for aarch64 (dlc --target, linked
# with Debian's aarch64-linux-gnu-gcc), runs dump_model.c against each (the
# aarch64 one under qemu-aarch64) and compares the initial params (bit for
# bit), forward outputs, loss, gradients and the params after one train
# step (equal to 1e-4 relative to each tensor's largest entry).
set -euo pipefail
dlc="$1"; source="$2"; work="$3"; python="$4"
rm -rf "$work" && mkdir -p "$work"
sysroot=/usr/aarch64-linux-gnu
for model in mnist_mlp fashion_cnn; do
  for arch in x86_64 aarch64; do
    dir="$work/$arch" && mkdir -p "$dir"
    if [ "$arch" = x86_64 ]; then
      "$dlc" "$source/examples/$model.net" -o "$dir/$model.so"
      cc -std=c99 -O1 -I "$source/runtime/include" "$source/tests/cross/dump_model.c" "$dir/$model.so" \
        -Wl,-rpath,"$dir" -lm -o "$dir/dump_$model"
      "$dir/dump_$model" > "$dir/$model.txt"
    else
      "$dlc" "$source/examples/$model.net" -o "$dir/$model.so" --target=aarch64-linux-gnu
      file_type=$(od -An -tx1 -j18 -N2 "$dir/$model.so" | tr -d ' ')
      [ "$file_type" = b700 ] || { echo "$model.so is not an aarch64 ELF file (e_machine $file_type)"; exit 1; }
      aarch64-linux-gnu-gcc -std=c99 -O1 -I "$source/runtime/include" "$source/tests/cross/dump_model.c" \
        "$dir/$model.so" -Wl,-rpath,"$dir" -lm -o "$dir/dump_$model"
      qemu-aarch64 -L "$sysroot" "$dir/dump_$model" > "$dir/$model.txt"
    fi
  done
  grep -q "TARGET_TRIPLE \"aarch64-unknown-linux-gnu\"" "$work/aarch64/$model.h"
  "$python" "$source/tests/cross/compare_dumps.py" "$work/x86_64/$model.txt" "$work/aarch64/$model.txt" "$model"
done
echo "cross compile: ok"
