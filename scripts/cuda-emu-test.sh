#!/bin/sh
# Runs the CUDA device suites (test/cuda/*.test.ts) on the CPU emulator of CUDA
# (tools/cuda-emu/README.md): builds the emulated libdapo_cuda.so from native/cuda, points the
# addon at it with DAPO_CUDA_MODULE, and runs the suites, which then run instead of skipping.
# A pass here is an emulator pass, not a GPU pass: see the README for what it cannot prove.
#
# Usage: scripts/cuda-emu-test.sh [--asan] [node --test options and files...]   (default: every test/cuda suite and test/cuda-bad-input.test.ts, whose value checks need a device)
# Environment:
#   DAPO_CUDA_OP_MAX_WORK  op-table rows with more work are skipped with the reason (default 2e6;
#                          the largest rows take hours on the emulator; the attention rows are cheap:
#                          DAPO_CUDA_OP_MAX_WORK=2e8 scripts/cuda-emu-test.sh --test-name-pattern=attention test/cuda/ops.test.ts)
#   DAPO_EMU_JOBS          parallel compile jobs (default: all cores)
#   DAPO_TEST_SEED         replays a run's random inputs, as in every suite
# The addon (build/Release) must be built first (npm run build:native).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
variant=fast
if [ "${1:-}" = "--asan" ]; then
  variant=asan
  shift
fi
if [ "$variant" = asan ]; then sh "$root/scripts/cuda-emu-build.sh" --asan; else sh "$root/scripts/cuda-emu-build.sh"; fi
if [ "$variant" = asan ]; then
  # A report becomes the launch's error (halt_on_error=0); Node is not instrumented, so the
  # sanitizer's runtime is preloaded for it.
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:halt_on_error=0}
  export ASAN_OPTIONS
fi
# The emulator's own test first: if it does not catch the defects it claims to, nothing below means much.
"$root/build/cuda-emu/$variant/cuda-emu-selftest"
DAPO_CUDA_MODULE="$root/build/cuda-emu/$variant/libdapo_cuda.so"
DAPO_CUDA_OP_MAX_WORK=${DAPO_CUDA_OP_MAX_WORK:-2000000}
export DAPO_CUDA_MODULE DAPO_CUDA_OP_MAX_WORK
cd "$root"
if [ "$variant" = asan ]; then
  LD_PRELOAD=$(gcc -print-file-name=libasan.so)
  export LD_PRELOAD
fi
# Refuse to run the suites against something other than the emulator: they would all skip.
node --import tsx -e "
import { native } from './src/native.ts';
const info = native.cudaInfo();
if (!info.emulator) {
  console.error('the addon did not load the emulated module (' + (info.reason ?? 'no emulator reported') + ');'
    + ' an addon built before DAPO_CUDA_MODULE existed ignores it: rebuild it with npm run build:native');
  process.exit(1);
}
console.log('CUDA suites on ' + info.emulator + ' (op rows up to work ' + process.env.DAPO_CUDA_OP_MAX_WORK + ')');
"
if [ $# -eq 0 ]; then set -- test/cuda/*.test.ts test/cuda-bad-input.test.ts; fi
exec node --import tsx --test --test-concurrency=1 "$@"
