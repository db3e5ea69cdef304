#!/bin/sh
# Builds libdapo_cuda.so for the CPU emulator of CUDA (tools/cuda-emu/README.md): the same
# sources as the real module, transformed and compiled by the host C++ compiler, no nvcc. The
# addon loads it when DAPO_CUDA_MODULE points at it (scripts/cuda-emu-test.sh does that).
#
# Usage: scripts/cuda-emu-build.sh [--asan]
#   writes build/cuda-emu/fast/ (or build/cuda-emu/asan/, with AddressSanitizer): libdapo_cuda.so,
#   libdapo_cudaemu.so (the emulated runtime), libcublasLt.so.13 (cuBLASLt's CPU stand-in) and
#   cuda-emu-selftest (the emulator's own test, tools/cuda-emu/selftest).
# Incremental: only what changed is recompiled. DAPO_EMU_JOBS sets the parallel jobs.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
variant=fast
asan=OFF
if [ "${1:-}" = "--asan" ]; then
  variant=asan
  asan=ON
fi
out="$root/build/cuda-emu"
node --import tsx "$root/tools/cuda-emu/transform.ts" "$root/native" "$out/src"
(cd "$root" && node --import tsx tools/cuda-emu/transform.ts --file tools/cuda-emu/selftest/selftest.cu "$out/selftest/selftest.cu.cc")
generator=""
if command -v ninja > /dev/null 2>&1; then generator="-G Ninja"; fi
# Configured every time (quick once the cache exists), so a folder made by an older script gets
# every setting.
# shellcheck disable=SC2086
cmake -S "$root/tools/cuda-emu" -B "$out/$variant" $generator -DCMAKE_BUILD_TYPE=Release \
  -DDAPO_ROOT="$root" -DEMU_SRC="$out/src" -DEMU_SELFTEST_SRC="$out/selftest/selftest.cu.cc" -DDAPO_EMU_ASAN=$asan > /dev/null
cmake --build "$out/$variant" -j "${DAPO_EMU_JOBS:-$(nproc)}"
echo "built $out/$variant/libdapo_cuda.so"
