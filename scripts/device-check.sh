#!/usr/bin/env bash
# The device check (issue 10; ../shared/DEVICE.md): ONE command that runs on the GPU machine
# (no node, npm or node_modules there) everything only a GPU can tell, each step under its own
# `timeout` and all within a total budget, logs into one folder, packs that folder into one
# archive after every step (a killed run still returns what it had), and prints a summary.
# It runs anywhere: without a usable GPU every CUDA step reports skipped (with the reason) and
# the training run's plumbing (bundled CLI, tokenizer, parquet, checkpoint, resume) runs on the
# CPU with a small model instead.
#
#   scripts/device-check.sh [OUT_DIR]
#
# OUT_DIR receives device-check.tar.gz (default: $OUT, else ./device-check-out). Needs
# .devcarry/dapo.tar.xz (and .devcarry/node.xz where node is missing) from
# scripts/cuda-device-bundle.sh; DAPO_CARRY names another folder holding them.
#   DAPO_CHECK_BUDGET_S  seconds for the whole run (default 470: 8 minutes less packing)
#   DAPO_CHECK_STEPS     comma-separated step names to run (default: all, in the order below)
# Exit status: 0 when no step failed.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out_dir=${1:-${OUT:-$root/device-check-out}}
carry=${DAPO_CARRY:-$root/.devcarry}
budget=${DAPO_CHECK_BUDGET_S:-470}
only=${DAPO_CHECK_STEPS:-}
started=$(date +%s)
mkdir -p "$out_dir"
out_dir=$(cd "$out_dir" && pwd)
logs="$out_dir/device-check"
archive="$out_dir/device-check.tar.gz"
rm -rf "$logs"
mkdir -p "$logs"
work=$(mktemp -d "${TMPDIR:-/tmp}/dapo-device-check.XXXXXX")
trap 'rm -rf "$work"' EXIT

pack() {
  tar -C "$out_dir" -czf "$archive.tmp" "$(basename "$logs")" && mv "$archive.tmp" "$archive"
}

# ---- node and the bundle, unpacked outside the checkout so no node_modules can be above it ----
prepare() {
  if command -v node >/dev/null && node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)'; then
    NODE=$(command -v node)
  elif [ -f "$carry/node.xz" ]; then
    mkdir -p "$work/bin" && xz -dc "$carry/node.xz" > "$work/bin/node" && chmod +x "$work/bin/node" && NODE="$work/bin/node"
  else
    echo "no node >= 20 and no $carry/node.xz" && return 1
  fi
  [ -f "$carry/dapo.tar.xz" ] || { echo "no $carry/dapo.tar.xz: run scripts/cuda-device-bundle.sh first" && return 1; }
  tar -C "$work" -xJf "$carry/dapo.tar.xz" || return 1
  PKG="$work/dapo"
  export NODE PKG
}
if ! prepare > "$logs/prepare.log" 2>&1; then
  cat "$logs/prepare.log"
  echo "device check: could not prepare; nothing run" | tee "$logs/summary.txt"
  pack
  exit 1
fi
export ROOT="$root" LOGS="$logs" WORK="$work"
export DAPO_REPO_ROOT="$root" DAPO_QWEN3_TOKENIZER="$PKG/qwen3-tokenizer" PATH="$(dirname "$NODE"):$PATH"

# ---- what can run here: why CUDA, and why the CUDA engine, cannot (empty when they can) ----
cuda_json=$("$NODE" -e "const a = require('$PKG/node_modules/node-gyp-build')('$PKG'); console.log(JSON.stringify(a.cudaInfo()))" 2>&1)
reasons=$("$NODE" -e "
  let i; try { i = JSON.parse(process.argv[1]); } catch { i = { reason: 'the addon did not load: ' + process.argv[1] }; }
  const cuda = i.loaded && i.devices > 0 ? '' : i.reason || 'CUDA is unusable (no reason given)';
  console.log(cuda);
  console.log(cuda || (i.engine ? '' : 'the CUDA module has no policy engine: ' + (i.engineReason || 'unknown reason')));
" "$cuda_json")
export CUDA_JSON="$cuda_json" CUDA_REASON="$(sed -n 1p <<< "$reasons")" ENGINE_REASON="$(sed -n 2p <<< "$reasons")"

# Exit 77 from a step means skipped; the step prints why.
skip() { echo "skipped: $*"; exit 77; }
need_cuda() { [ -z "$CUDA_REASON" ] || skip "$CUDA_REASON"; }
need_engine() { [ -z "$ENGINE_REASON" ] || skip "$ENGINE_REASON"; }
need_torch_gpu() {
  command -v python3 >/dev/null || skip "no python3"
  python3 -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null || skip "python3 has no torch with a usable GPU"
}
export -f skip need_cuda need_engine need_torch_gpu

# ---- the steps, most valuable first ----
step_info() {
  echo "node $("$NODE" -v) at $NODE; bundle $PKG"
  echo "cudaInfo: $CUDA_JSON"
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv
  command -v python3 >/dev/null && python3 -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__, "cuda", torch.cuda.is_available())' 2>&1
  command -v compute-sanitizer >/dev/null && compute-sanitizer --version | tail -1
  command -v ncu >/dev/null && ncu --version | tail -1
  echo "checkout: $(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo 'not a git checkout')"
  true
}
step_test_cuda() {
  # Every CUDA suite (op table, loss kernels, engine); without a device each case reports skipped.
  # (Unset: a test runner above this script would make node report to it instead of in text.)
  env -u NODE_TEST_CONTEXT "$NODE" --test --test-reporter=spec "$PKG"/dist/*.test.mjs
}
step_train_cuda() {
  need_engine
  "$NODE" "$PKG/dist/make-qwen25-shaped.mjs" "$WORK/qwen25" --device cpu || return 1
  train_and_resume "$WORK/qwen25" cuda 20 10
}
step_train_plumbing() {
  [ -z "$ENGINE_REASON" ] && skip "the CUDA engine is usable: train-cuda covers this"
  "$NODE" "$PKG/dist/make-qwen25-shaped.mjs" "$WORK/tiny" --tiny --device cpu || return 1
  train_and_resume "$WORK/tiny" cpu 4 2
}
# DAPO-Math-17k fixture, the real Qwen3 tokenizer, a reward that splits groups (parity of the
# response's length), a checkpoint halfway, then a resume from it compared with the straight run.
train_and_resume() {
  local model=$1 device=$2 steps=$3 half=$4
  echo 'export default (response) => { const acc = [...response].length % 2 === 0; return { score: acc ? 1 : -1, acc }; };' > "$WORK/parity-reward.mjs"
  "$NODE" "$PKG/dist/dapo.mjs" train --model "$model" --dataset "$ROOT/test/fixtures/data/math17k-mini.parquet" \
    --reward "$WORK/parity-reward.mjs" --device "$device" --seed 3 --steps "$steps" --epochs 100 --n 4 --train-batch 2 \
    --gen-batch 2 --max-gen-batches 2 --max-response-len 48 --overlong-buffer 16 --mini-batch 2 --micro-batch 8 \
    --lr 1e-5 --warmup 2 --save-every "$half" --eval-every 0 --plot-every 0 --logger tensorboard --out "$WORK/run-a" || return 1
  "$NODE" "$PKG/dist/dapo.mjs" train --resume "$WORK/run-a/checkpoints/step-$half" --out "$WORK/run-b" || return 1
  mkdir -p "$LOGS/train"
  for r in run-a run-b; do
    for f in config.json metrics.jsonl training_metrics.png; do cp "$WORK/$r/$f" "$LOGS/train/$r-$f" 2>/dev/null; done
  done
  "$NODE" "$PKG/dist/compare-runs.mjs" "$WORK/run-a" "$WORK/run-b" "$half"
}
# TensorBoard's own reader on the event files of the training step's run (issue 14).
step_tensorboard() {
  command -v python3 >/dev/null || skip "no python3"
  python3 -c 'import tensorboard' 2>/dev/null || skip "python3 has no tensorboard"
  [ -d "$WORK/run-a/tensorboard" ] || skip "no event files: neither training step ran"
  python3 "$ROOT/scripts/check-tensorboard.py" "$WORK/run-a"
}
step_engine_bench() {
  need_engine
  "$NODE" "$PKG/dist/engine-cuda-bench.mjs" --json "$LOGS/engine-cuda.json"
}
step_hf_engine() {
  need_torch_gpu
  python3 "$ROOT/benchmarks/peers/hf_engine.py" --json "$LOGS/hf-engine.json"
}
sanitizer() {
  need_cuda
  command -v compute-sanitizer >/dev/null || skip "no compute-sanitizer on PATH"
  compute-sanitizer --tool "$1" --error-exitcode 1 --target-processes all "$NODE" "$PKG/dist/cuda-smoke.mjs"
}
step_memcheck() { sanitizer memcheck; }
step_racecheck() { sanitizer racecheck; }
step_loss_bench() {
  need_cuda
  "$NODE" "$PKG/dist/cuda-bench.mjs" --json "$LOGS/cuda-loss.json"
}
step_torch_loss() {
  need_torch_gpu
  python3 "$ROOT/benchmarks/peers/torch_loss.py" > "$LOGS/torch-loss.json"
}
step_loss_lab() {
  need_cuda
  [ -x "$PKG/build/Release/row_loss_lab" ] || skip "no row_loss_lab in the bundle (the loss lab is not built on this branch)"
  "$PKG/build/Release/row_loss_lab" --json "$LOGS/row-loss-lab.json"
}
step_loss_peers() {
  need_torch_gpu
  [ -f "$ROOT/benchmarks/peers/loss_peers.py" ] || skip "no benchmarks/peers/loss_peers.py on this branch"
  [ -d "$ROOT/.devcarry/peers" ] || skip "no .devcarry/peers (Liger-Kernel's files, brought along at run time)"
  python3 "$ROOT/benchmarks/peers/loss_peers.py" --liger "$ROOT/.devcarry/peers" --json "$LOGS/loss-peers.json"
}
export -f step_info step_test_cuda step_train_cuda step_train_plumbing train_and_resume step_tensorboard step_engine_bench step_hf_engine \
  sanitizer step_memcheck step_racecheck step_loss_bench step_torch_loss step_loss_lab step_loss_peers

# name, timeout (s), function
STEPS=(
  "info 30 step_info"
  "test-cuda 150 step_test_cuda"
  "train-cuda 180 step_train_cuda"
  "train-plumbing 150 step_train_plumbing"
  "tensorboard 30 step_tensorboard"
  "engine-bench 120 step_engine_bench"
  "hf-engine 150 step_hf_engine"
  "memcheck 90 step_memcheck"
  "racecheck 120 step_racecheck"
  "loss-bench 60 step_loss_bench"
  "torch-loss 90 step_torch_loss"
  "loss-lab 150 step_loss_lab"
  "loss-peers 240 step_loss_peers"
)

printf 'step\tstatus\tseconds\tnote\n' > "$logs/steps.tsv"
failed=0
for entry in "${STEPS[@]}"; do
  read -r name limit fn <<< "$entry"
  if [ -n "$only" ] && [[ ",$only," != *",$name,"* ]]; then continue; fi
  left=$(( budget - ($(date +%s) - started) ))
  if [ "$left" -lt 15 ]; then
    printf '%s\tskip\t0\tout of time (budget %s s)\n' "$name" "$budget" >> "$logs/steps.tsv"
    continue
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  t0=$(date +%s)
  timeout -k 10 "$limit" bash -c "$fn" > "$logs/$name.log" 2>&1
  rc=$?
  secs=$(( $(date +%s) - t0 ))
  case $rc in
    0) status=pass; note="" ;;
    77) status=skip; note=$(grep -m1 '^skipped: ' "$logs/$name.log" | cut -c10-) ;;
    124|137) status=fail; note="timed out after $limit s"; failed=$((failed + 1)) ;;
    *) status=fail; note="exit $rc (see $name.log)"; failed=$((failed + 1)) ;;
  esac
  if [ "$name" = test-cuda ]; then
    counts=$(grep -E '^ℹ (pass|fail|skipped) ' "$logs/$name.log" | awk '{ printf "%s%s %s", sep, $3, $2; sep = ", " }')
    note="${note:+$note; }tests: $counts"
  fi
  printf '%s\t%s\t%s\t%s\n' "$name" "$status" "$secs" "$note" >> "$logs/steps.tsv"
  pack
done

{
  echo "device check of $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo 'a checkout outside git'), $(date -u +%Y-%m-%dT%H:%MZ), $(( $(date +%s) - started )) s of a $budget s budget${only:+, steps $only}"
  echo "cudaInfo: $cuda_json"
  awk -F'\t' 'NR > 1 { n[$2]++ } END { printf "steps: %d pass, %d fail, %d skip\n", n["pass"], n["fail"], n["skip"] }' "$logs/steps.tsv"
  awk -F'\t' 'NR > 1 { printf "  %-15s %-5s %4ss  %s\n", $1, $2, $3, $4 }' "$logs/steps.tsv"
  echo "figures:"
  grep -h '^figure: ' "$logs"/*.log 2>/dev/null | cut -c9- | sed 's/^/  /'
  echo "archive: $archive"
} > "$logs/summary.txt"
pack
cat "$logs/summary.txt"
[ "$failed" = 0 ]
