#!/usr/bin/env bash
# Faults under mpirun -np 2 dlc train end the job with a message and a
# non-zero exit within 30 s: a rank whose data path is bad, a rank killed
# while training, and the writer (rank 0) killed while it checkpoints every
# epoch, which leaves a complete checkpoint (dlc eval loads it), never a
# half-written one. Usage: fault_mpi.sh BUILD SOURCE WORK
set -uo pipefail
build="$1"; source="$2"; work="$3"
here="$(cd "$(dirname "$0")" && pwd)"
dlc="$build/tools/dlc/dlc"
net="$source/tests/golden/train/Inputs/blobs.net"; data="$source/tests/golden/train/Inputs/blobs.csv"
rm -rf "$work" && mkdir -p "$work"
train=(train "$net" --data "$data" --normalize standard --quiet)

# A rank runs `wrapper.sh MODE dlc ...`: MODE picks what goes wrong on which rank.
cat > "$work/wrapper.sh" <<'WRAP'
#!/usr/bin/env bash
mode="$1"; shift
rank="${OMPI_COMM_WORLD_RANK:-0}"
case "$mode" in
  baddata) if [ "$rank" = 1 ]; then args=(); for a in "$@"; do [[ "$a" == *.csv ]] && a=/nonexistent/data.csv; args+=("$a"); done; set -- "${args[@]}"; fi ;;
  kill1) if [ "$rank" = 1 ]; then (sleep 3; kill -9 $$) & fi ;;
  kill0) if [ "$rank" = 0 ]; then ckpt="${WORK}/ckpt.st"; (while [ ! -f "$ckpt" ]; do sleep 0.05; done; sleep 0.3; kill -9 $$) & fi ;;
esac
exec "$@"
WRAP
chmod +x "$work/wrapper.sh"
export WORK="$work"

# run MODE EXPECTED-MESSAGE ARGS...: the job must fail, in time, with the message.
run() {
  local mode="$1" message="$2"; shift 2
  local start=$(date +%s)
  "$here/mpirun.sh" 2 "$work/wrapper.sh" "$mode" "$dlc" "$@" > "$work/$mode.log" 2>&1
  local rc=$? took=$(( $(date +%s) - start ))
  echo "$mode: exit $rc after ${took} s: $(grep -m1 -e "$message" "$work/$mode.log")"
  if [ $rc = 0 ] || [ $took -gt 30 ] || ! grep -q -e "$message" "$work/$mode.log"; then
    cat "$work/$mode.log"; echo "FAILED: $mode"; exit 1
  fi
}
run baddata "dlc train: error: rank 1: /nonexistent/data.csv: no such file" "${train[@]}" --epochs 2
run kill1 "process rank 1 .* exited on signal 9" "${train[@]}" --epochs 1000000
run kill0 "process rank 0 .* exited on signal 9" "${train[@]}" --epochs 1000000 --checkpoint "$work/ckpt.st"
"$dlc" eval "$net" --data "$data" --checkpoint "$work/ckpt.st" > "$work/eval.log" || { cat "$work/eval.log"; exit 1; }
echo "the checkpoint left by the killed writer loads: $(grep -m1 accuracy "$work/eval.log")"
echo "mpi faults: ok"
