#!/usr/bin/env bash
# Installs what dlc needs to build and test, from Debian's apt only.
# Idempotent: packages already present are not fetched again.
set -euo pipefail

packages=(
  build-essential cmake ninja-build git python3 ccache
  llvm-19-dev          # LLVM 19: SourceMgr, CommandLine, ADTs; FileCheck and lit for golden tests
  libfmt-dev libboost-graph-dev catch2 zlib1g-dev libzstd-dev
  gnuplot-nox          # dlc train --plot draws the curves with gnuplot
  gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user  # dlc --target=aarch64-linux-gnu, run under qemu in tests
  libopenmpi-dev openmpi-bin   # mpirun -np K dlc train: data-parallel training (docs/scaling.md)
  libonnx-dev libprotobuf-dev protobuf-compiler   # dlc import / --emit=onnx (onnx.proto, libonnx_proto)
  libonnx-testdata python3-onnx python3-torch     # ONNX tests: backend test data, the checker, PyTorch exports
  pybind11-dev python3-dev python3-numpy python3-pytest  # the Python module (python/) and its tests
  clang-19 libclang-rt-19-dev   # the ASan + UBSan + libFuzzer build (scripts/fuzz.sh)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "setup: all packages present"
fi
