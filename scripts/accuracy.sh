#!/usr/bin/env bash
# The accuracy runs of the README's table: both MNIST examples on the 2,000
# held-out digits, and an MLP and the CNN on Fashion-MNIST's 10,000 test
# images. Sets up, fetches the data and builds (Release) like train_mnist.sh;
# about 2 minutes of training. Prints each run's last line.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/setup.sh"
"$root/scripts/fetch_data.sh"
DLC_BUILD_TYPE=Release "$root/scripts/build.sh" >/dev/null
cd "$root"
dlc=build/tools/dlc/dlc
run() {
  local what="$1"; shift
  local start=$SECONDS
  local last
  last=$("$dlc" train "$@" --data-root "$root/data" --quiet | tail -1)
  echo "$what: $last ($((SECONDS - start)) s)"
}
run "mnist_mlp on MNIST (target 94%)" examples/mnist_mlp.net --data mnist
run "mnist_cnn on MNIST (target 97%)" examples/mnist_cnn.net --data mnist
run "mnist_mlp on Fashion-MNIST, 15 epochs (target 88%)" examples/mnist_mlp.net --data fashion-mnist --epochs 15
run "fashion_cnn on Fashion-MNIST (target 90%)" examples/fashion_cnn.net --data fashion-mnist
