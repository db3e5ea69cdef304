#!/usr/bin/env bash
# Packs what the GPU machine needs to run the CUDA suite, the smoke script (for
# compute-sanitizer) and the CUDA bench, small enough to travel (node_modules does not):
#   .devcarry/node.xz                 this machine's node (the device image may have none)
#   .devcarry/dapo/build/Release/     dapo_native.node + libdapo_cuda.so built here
#   .devcarry/dapo/dist/*.mjs         esbuild bundles of test/cuda/*.test.ts, scripts/cuda-smoke.ts, benchmarks/cuda.ts
#   .devcarry/dapo/torch_loss.py      the PyTorch peer
# Build first: npx cmake-js compile --out .b-cuda/build  (or set DAPO_BUILD_DIR).
# .devcarry/ is git-ignored: name it in the device tool's `carry`.
set -euo pipefail
build="${DAPO_BUILD_DIR:-.b-cuda/build}"
out=.devcarry/dapo
rm -rf "$out"
mkdir -p "$out/dist" "$out/build/Release"
echo '{"name":"dapo","type":"module"}' > "$out/package.json"
cp "$build/Release/dapo_native.node" "$build/Release/libdapo_cuda.so" "$out/build/Release/"
banner="import { createRequire as __dapoRequire } from 'node:module'; const require = __dapoRequire(import.meta.url);"
for f in test/cuda/*.test.ts scripts/cuda-smoke.ts benchmarks/cuda.ts; do
  name="$(basename "${f%.ts}")"
  npx esbuild "$f" --bundle --platform=node --format=esm --target=node20 --log-level=warning \
    --banner:js="$banner" --outfile="$out/dist/$name.mjs"
done
cp benchmarks/peers/torch_loss.py "$out/"
[ -f .devcarry/node.xz ] || xz -T2 -9 -c "$(command -v node)" > .devcarry/node.xz
du -sh .devcarry/node.xz "$out"
