#!/usr/bin/env bash
# Double descent (Belkin et al. 2019, Nakkiran et al. 2019): 784-H-10 ReLU
# networks trained on a subset of the MNIST digits with noisy labels and no
# penalty, for widths H from 2 to far past the interpolation threshold
# (params = samples x classes), with square loss on one-hot targets and with
# cross-entropy. Prints a table as it goes and draws test error and test
# loss against the number of params, the threshold marked.
#
#   scripts/double_descent.sh                  # the sweep in docs/science.md
#   N=500 EPOCHS=50 WIDTHS="2 8 32" scripts/double_descent.sh   # a quick look
#   scripts/double_descent.sh --plot-only      # redraw the figure from OUT/double_descent.dat
#
# Settings (environment): N training digits (1000), NOISE label-noise share
# (0.2), EPOCHS (1000), BATCH (100), LR (Adam, 1e-3), WIDTHS, LOSSES
# ("square ce"), SEEDS (each width is trained once per seed, from its own
# initialization and noisy labels; the table has the means: "0 1"), OUT
# (docs/figures: double_descent.png, .dat, .md).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dlc="${DLC:-$root/build/tools/dlc/dlc}"
N="${N:-1000}" NOISE="${NOISE:-0.2}" EPOCHS="${EPOCHS:-1000}" BATCH="${BATCH:-100}" LR="${LR:-0.001}"
WIDTHS="${WIDTHS:-2 4 6 8 10 12 14 16 20 24 32 48 64 128}"
LOSSES="${LOSSES:-square ce}" SEEDS="${SEEDS:-0 1}" OUT="${OUT:-$root/docs/figures}"
dat="$OUT/double_descent.dat" table="$OUT/double_descent.md"
threshold=$((N * 10))
plot() {
gnuplot <<GP
set terminal pngcairo size 900,380 font ',10'
set output '$OUT/double_descent.png'
set multiplot layout 1,2 title "784-H-10 on $N MNIST digits, $NOISE label noise, no penalty ($EPOCHS epochs of Adam; mean of seeds $SEEDS)"
set logscale x
set xrange [1000:200000]
set offsets 0, graph 0.05, 0, 0
set xlabel 'parameters'
set grid
set arrow 1 from $threshold, graph 0 to $threshold, graph 1 nohead dt 2 lc rgb '#808080'
set label 1 'n K' at $threshold, graph 0.95 offset 0.5,0
set title 'test error (%)'
plot '$dat' using (strcol(1) eq 'square' ? \$3 : NaN):5 with linespoints pt 7 title 'square loss', \
     '' using (strcol(1) eq 'ce' ? \$3 : NaN):5 with linespoints pt 5 title 'cross-entropy', \
     '' using (strcol(1) eq 'square' ? \$3 : NaN):4 with lines dt 3 lc 1 title 'train error (square)', \
     '' using (strcol(1) eq 'ce' ? \$3 : NaN):4 with lines dt 3 lc 2 title 'train error (ce)'
set title 'test loss (log scale)'
set logscale y
set yrange [0.4:6]
plot '$dat' using (strcol(1) eq 'square' ? \$3 : NaN):6 with linespoints pt 7 title 'square loss', \
     '' using (strcol(1) eq 'ce' ? \$3 : NaN):6 with linespoints pt 5 title 'cross-entropy'
unset multiplot
GP
}

if [ "${1:-}" = --plot-only ]; then plot; echo "figure: $OUT/double_descent.png"; exit 0; fi
[ -x "$dlc" ] || { echo "double_descent.sh: build dlc first (scripts/build.sh)" >&2; exit 1; }
[ -f "$root/data/mnist/train-images-idx3-ubyte" ] || "$root/scripts/fetch_data.sh"
mkdir -p "$OUT"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
echo "# loss width params train_error test_error test_loss seconds" > "$dat"
{
  echo "| loss | H | params | params / (n K) | train error | test error | test loss | seconds |"
  echo "|---|---|---|---|---|---|---|---|"
} > "$table"
echo "double descent: n = $N MNIST digits, $NOISE label noise, $EPOCHS epochs of Adam (lr $LR, batch $BATCH), seeds $SEEDS, threshold n K = $threshold params"
start=$SECONDS
for loss in $LOSSES; do
  for H in $WIDTHS; do
    net="$tmp/dd_${loss}_$H.net"
    if [ "$loss" = square ]; then objective="loss square_loss(w, one_hot(y))"; scores="output p = w"
    else objective="loss cross_entropy(w, y)"; scores="output p = softmax(w)"; fi
    cat > "$net" <<NET
model dd {
  input  v : [784]
  label  y : class(10)
  param  A1 : [$H, 784] ~ he
  param  b1 : [$H] ~ zeros
  param  A2 : [10, $H] ~ glorot
  param  b2 : [10] ~ zeros
  w = A2 @ relu(A1 @ v + b1) + b2
  $scores
  $objective
}
train dd { optimizer adam(lr = $LR) }
NET
    t0=$SECONDS
    runs=""
    for seed in $SEEDS; do
      fit="$("$dlc" train "$net" --data mnist --data-root "$root/data" --train-samples "$N" --label-noise "$NOISE" \
             --seed "$seed" --epochs "$EPOCHS" --batch "$BATCH" --quiet --fit-report | grep '^fit:')"
      runs+="$(echo "$fit" | sed -E 's/fit: train error ([0-9.]+)%  test error ([0-9.]+)%  test loss ([0-9.e+-]+|nan|inf)/\1 \2 \3/')"$'\n'
    done
    read -r train_err test_err test_loss <<< "$(printf '%s' "$runs" | awk 'NF == 3 { a += $1; b += $2; c += $3; n++ }
      END { printf "%.2f %.2f %.4f", a / n, b / n, c / n }')"
    params=$((784 * H + H + 10 * H + 10))
    secs=$((SECONDS - t0))
    ratio="$(awk -v p="$params" -v t="$threshold" 'BEGIN { printf "%.2f", p / t }')"
    echo "$loss $H $params $train_err $test_err $test_loss $secs" >> "$dat"
    echo "| $loss | $H | $params | $ratio | $train_err% | $test_err% | $test_loss | $secs |" >> "$table"
    printf '%-6s H = %-4s %7s params (%5s n K)  train error %6s%%  test error %6s%%  test loss %s  %ss\n' \
      "$loss" "$H" "$params" "$ratio" "$train_err" "$test_err" "$test_loss" "$secs"
  done
done
echo "sweep: $((SECONDS - start)) s in all"
plot
echo "figure: $OUT/double_descent.png, table: $table"
