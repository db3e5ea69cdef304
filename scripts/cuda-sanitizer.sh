#!/usr/bin/env bash
# compute-sanitizer over one small call of every CUDA entry point (scripts/cuda-smoke.ts).
# Run on the GPU machine from the repository root, with node on PATH and the addon built (or
# DAPO_PREBUILD pointing at the folder holding build/Release). Tools: memcheck (default),
# racecheck, initcheck, synccheck. Exits non-zero on any error the tool finds.
#   scripts/cuda-sanitizer.sh [memcheck|racecheck|initcheck|synccheck] [entry.mjs]
set -euo pipefail
tool="${1:-memcheck}"
entry="${2:-}"
if [ -n "$entry" ]; then
  cmd=(node "$entry")
else
  cmd=(node --import tsx scripts/cuda-smoke.ts)
fi
exec compute-sanitizer --tool "$tool" --error-exitcode 1 --target-processes all "${cmd[@]}"
