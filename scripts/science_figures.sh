#!/usr/bin/env bash
# The figures of docs/science.md (except the double-descent sweep, which is
# scripts/double_descent.sh): each written as a small PNG into docs/figures/.
#
#   scripts/science_figures.sh [regions|depth|quadratic|kaczmarz ...]   # default: all four
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${DLC_BUILD_DIR:-$root/build}"
dlc="$build/tools/dlc/dlc"
out="${OUT:-$root/docs/figures}"
mkdir -p "$out"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
figures=("$@")
[ ${#figures[@]} -gt 0 ] || figures=(regions depth quadratic kaczmarz)

regions() { # the 2-16-16-1 net at initialization and after fitting a function of the plane
  local net="$root/examples/plane_2_16_16_1.net"
  "$dlc" regions "$net" --seed 1 --box=-2,2,-2,2 --plot "$out/regions_init.png"
  "$build/examples/science/fit_plane" "$tmp/fit.safetensors" 1
  "$dlc" regions "$net" --checkpoint "$tmp/fit.safetensors" --box=-2,2,-2,2 --plot "$out/regions_trained.png"
}

depth() { # activation regions in [-1, 1]^2 against depth, 48 ReLUs in all, he init, 5 seeds
  local dat="$out/regions_depth.dat"
  echo "# depth width mean_regions min max (seeds 0-4)" > "$dat"
  for spec in "1 48" "2 24" "3 16" "4 12" "6 8" "8 6"; do
    read -r depth width <<< "$spec"
    local net="$tmp/deep_$depth.net" x="v" in=2
    { echo "model deep {"; echo "  input v : [2]"
      for ((l = 1; l <= depth; ++l)); do
        echo "  param A$l : [$width, $in] ~ he"; echo "  param b$l : [$width] ~ normal(0, 0.1)"
        x="relu(A$l @ $x + b$l)"; in=$width
      done
      echo "  param C : [1, $width] ~ glorot"; echo "  output F = C @ $x"; echo "}"; } > "$net"
    local counts=()
    for seed in 0 1 2 3 4; do
      counts+=("$("$dlc" regions "$net" --seed "$seed" --box=-1,1,-1,1 | sed -n 's/^activation regions: //p')")
    done
    printf '%s\n' "${counts[@]}" | awk -v d="$depth" -v w="$width" \
      '{ s += $1; if (NR == 1 || $1 < lo) lo = $1; if ($1 > hi) hi = $1 } END { printf "%d %d %.1f %d %d\n", d, w, s / NR, lo, hi }' >> "$dat"
    tail -1 "$dat"
  done
  gnuplot <<GP
set terminal pngcairo size 560,400 font ',10'
set output '$out/regions_depth.png'
set title 'activation regions in [-1, 1]^2, 48 ReLUs in all (5 seeds)'
set xlabel 'hidden layers (width 48 / depth)'
set ylabel 'regions'
set grid
set yrange [0:*]
plot '$dat' using 1:3:4:5 with yerrorlines pt 7 title 'mean, min-max', \\
     1177 dt 2 lc rgb '#808080' title 'r(48, 2) = 1177: one layer, the whole plane'
GP
}

quadratic() { # steepest descent's zig-zag against the heavy ball on x^2 + 0.01 y^2
  "$build/examples/science/quadratic_paths" "$root/examples/quadratic.net" 40 > "$tmp/quadratic_paths.dat"
  gnuplot <<GP
set terminal pngcairo size 900,380 font ',10'
set output '$out/quadratic_paths.png'
set multiplot layout 1,2 title 'f(x, y) = x^2 + 0.01 y^2 from (0.01, 1): gradients from dlc-compiled code'
set title 'paths'
set key below
set xlabel 'x'
set ylabel 'y'
set grid
plot '$tmp/quadratic_paths.dat' index 0 using 2:3 with linespoints pt 7 ps 0.4 title 'steepest descent (exact line search)', \
     '' index 1 using 2:3 with linespoints pt 5 ps 0.4 title 'heavy ball (optimal s, beta)'
set title 'f against step'
set key inside top right
set xlabel 'step'
set ylabel 'f'
set logscale y
set format y '10^{%L}'
plot '' index 0 using 1:4 with lines lw 2 title 'steepest: 0.96 per step', '' index 1 using 1:4 with lines lw 2 title 'heavy ball: about 0.67'
unset multiplot
GP
}

kaczmarz() { # semi-convergence of one-sample SGD on noisy least squares
  "$build/examples/science/kaczmarz" 2000 0.05 > "$tmp/kaczmarz.dat"
  gnuplot <<GP
set terminal pngcairo size 560,400 font ',10'
set output '$out/kaczmarz.png'
set title "Kaczmarz = one-sample SGD: A x = b, cond(A) = 1e3, 5% noise in b"
set xlabel 'epoch (passes over the 40 rows)'
set logscale x
set logscale y
set grid
plot '$tmp/kaczmarz.dat' using (\$1 + 1):2 with lines lw 2 title '|x_k - x_{true}| / |x_{true}|', \
     '' using (\$1 + 1):3 with lines lw 2 title '|A x_k - b| / |b|'
GP
  sort -g -k2 "$tmp/kaczmarz.dat" | grep -v '^#' | head -1 | awk '{ print "kaczmarz: smallest error " $2 " at epoch " $1 }'
}

for f in "${figures[@]}"; do "$f"; echo "$f: done"; done
