#!/usr/bin/env bash
# mpirun -np K dlc train: after 5 steps (150 rows, batch 30, one epoch) the
# params of K = 1, 2 and 4 ranks equal the single-process global-batch run's
# within 1e-5 of the largest param (SGD with momentum and Adam, checkpoints
# written by rank 0); --deterministic gives the same bits on every rank and
# the bits of one process summing the same shards in order (--simulate-ranks);
# a resumed checkpoint goes from rank 0 to the others; a model with batch
# norm keeps one model state on all ranks. Usage: train_mpi.sh BUILD SOURCE WORK
set -euo pipefail
build="$1"; source="$2"; work="$3"
here="$(cd "$(dirname "$0")" && pwd)"
dlc="$build/tools/dlc/dlc"; py=/usr/bin/python3
net="$source/tests/golden/train/Inputs/blobs.net"; data="$source/tests/golden/train/Inputs/blobs.csv"
rm -rf "$work" && mkdir -p "$work"
train=(train "$net" --data "$data" --normalize standard --batch 30 --epochs 1 --quiet)

for opt in momentum adam; do
  "$dlc" "${train[@]}" --optimizer $opt --checkpoint "$work/$opt.one.st" > "$work/$opt.one.log"
  ranks="1 2 4"; [ $opt = adam ] || ranks=2
  for k in $ranks; do
    "$here/mpirun.sh" $k "$dlc" "${train[@]}" --optimizer $opt --checkpoint "$work/$opt.$k.st" > "$work/$opt.$k.log"
    grep -c "^epoch 1/1" "$work/$opt.$k.log" | grep -qx 1 # rank 0 alone prints
    echo "$opt, $k ranks: $("$py" "$here/compare_checkpoints.py" "$work/$opt.one.st" "$work/$opt.$k.st" --tolerance 1e-5)"
  done
done

"$here/mpirun.sh" 4 "$dlc" "${train[@]}" --optimizer adam --deterministic --checkpoint "$work/det4.st" | tee "$work/det4.log"
grep -q "deterministic: params and optimizer state bit-identical on all 4 ranks" "$work/det4.log"
"$dlc" "${train[@]}" --optimizer adam --simulate-ranks 4 --checkpoint "$work/sim4.st" > /dev/null
echo "deterministic 4 ranks vs --simulate-ranks 4: $("$py" "$here/compare_checkpoints.py" "$work/sim4.st" "$work/det4.st" --identical)"

# Batch norm: each rank normalizes by its shard's statistics and the ranks
# average the running ones after every step (the model state), so that they
# keep one model: 2 deterministic ranks end bit-identical, state included,
# and equal one process simulating the 2 shards.
bn=(train "$source/tests/golden/train/Inputs/blobs_bn.net" --data "$data" --normalize standard --batch 30 --epochs 1 --quiet)
"$here/mpirun.sh" 2 "$dlc" "${bn[@]}" --deterministic --checkpoint "$work/bn2.st" | tee "$work/bn2.log"
grep -q "deterministic: params, optimizer state and model state bit-identical on all 2 ranks" "$work/bn2.log"
"$dlc" "${bn[@]}" --simulate-ranks 2 --checkpoint "$work/bnsim2.st" > /dev/null
echo "batch norm, deterministic 2 ranks vs --simulate-ranks 2: $("$py" "$here/compare_checkpoints.py" "$work/bnsim2.st" "$work/bn2.st" --identical)"

# Resume: rank 0 reads the 1-epoch checkpoint, all ranks continue from it.
"$here/mpirun.sh" 2 "$dlc" "${train[@]}" --optimizer adam --epochs 2 --resume "$work/adam.one.st" \
  --checkpoint "$work/resumed2.st" | tee "$work/resumed2.log"
grep -q "resuming after epoch 1 (step 5)" "$work/resumed2.log"
"$dlc" "${train[@]}" --optimizer adam --epochs 2 --checkpoint "$work/two.st" > /dev/null
echo "resumed on 2 ranks vs 2 epochs in one process: $("$py" "$here/compare_checkpoints.py" "$work/two.st" "$work/resumed2.st" --tolerance 1e-5)"
echo "mpi train: ok"
