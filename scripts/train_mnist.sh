#!/usr/bin/env bash
# The main job: set up a fresh machine (apt packages, the MNIST digits), build
# dlc in Release, and train examples/mnist_mlp.net on 8,000 real MNIST digits,
# printing its accuracy on the 2,000 held-out ones.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/setup.sh"
"$root/scripts/fetch_data.sh"
DLC_BUILD_TYPE=Release "$root/scripts/build.sh" >/dev/null
cd "$root"
exec build/tools/dlc/dlc train examples/mnist_mlp.net --data mnist --data-root "$root/data" "$@"
