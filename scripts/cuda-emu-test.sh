#!/bin/sh
# Runs the CUDA device suites (test/cuda/*.test.ts) on the CPU emulator of CUDA
# (tools/cuda-emu/README.md): builds the emulated libdapo_cuda.so from native/cuda, points the
# addon at it with DAPO_CUDA_MODULE, and runs the suites, which then run instead of skipping.
# A pass here is an emulator pass, not a GPU pass: see the README for what it cannot prove.
#
# Usage: scripts/cuda-emu-test.sh [--asan] [test files...]   (default: every test/cuda suite)
# Environment:
#   DAPO_CUDA_OP_MAX_SIZE  op-table rows larger than this are skipped with the reason (default 2e6;
#                          the largest rows take hours on the emulator)
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
DAPO_CUDA_MODULE="$root/build/cuda-emu/$variant/libdapo_cuda.so"
DAPO_CUDA_OP_MAX_SIZE=${DAPO_CUDA_OP_MAX_SIZE:-2000000}
export DAPO_CUDA_MODULE DAPO_CUDA_OP_MAX_SIZE
cd "$root"
if [ "$variant" = asan ]; then
  # Node itself is not instrumented: the sanitizer runtime must be loaded first.
  LD_PRELOAD=$(gcc -print-file-name=libasan.so)
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:halt_on_error=0}
  export LD_PRELOAD ASAN_OPTIONS
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
console.log('CUDA suites on ' + info.emulator + ' (op rows up to size ' + process.env.DAPO_CUDA_OP_MAX_SIZE + ')');
"
if [ $# -eq 0 ]; then set -- test/cuda/*.test.ts; fi
exec node --import tsx --test --test-concurrency=1 "$@"
