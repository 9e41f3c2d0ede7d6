#!/usr/bin/env bash
# The main job, as far as dlc goes today: set up, build, and compile the MNIST
# example to its gradient graph. (Training and the test accuracy come with the
# code generator and the training loop.)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/setup.sh"
"$root/scripts/build.sh" >/dev/null
"$root/build/tools/dlc/dlc" --emit=grad "$root/examples/mnist_mlp.net"
