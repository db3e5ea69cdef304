// The table-driven op test (ggml's test-backend-ops): every op of the CUDA engine against its
// CPU twin on fresh random inputs, forward and gradient, fp32 and bf16. Each case runs on the
// device through cudaOpCheck (native/cuda/model/op_check.cuh: inputs from the seed, the CPU
// twin, the CUDA op, the largest error of each output). Without a usable device every case is
// skipped with the reason, never counted as passed.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { native } from '../../src/native.js';
import { testSeed } from '../helpers/random.js';
import { skipReason } from './device.js';
import { OP_CASES, type OpCaseRow } from './op-cases.js';

const seed = testSeed();
console.log(`cuda op tests: DAPO_TEST_SEED=${seed}`);

/**
 * DAPO_CUDA_OP_MAX_SIZE: rows whose size (the product of their dims and lengths, a rough measure
 * of their work) is above it are skipped with the reason. scripts/cuda-emu-test.sh sets it: the
 * CPU emulator runs a GPU's threads one at a time, so the largest rows would take hours there.
 */
const maxSize = readMaxSize(process.env.DAPO_CUDA_OP_MAX_SIZE);

function readMaxSize(value: string | undefined): number {
  if (value === undefined || value === '') return Infinity;
  const n = Number(value);
  if (!(n > 0)) throw new RangeError(`DAPO_CUDA_OP_MAX_SIZE must be a positive number, not ${JSON.stringify(value)}`);
  return n;
}

function rowSize(c: OpCaseRow): number {
  return [...(c.dims ?? []), ...(c.lengths ?? [])].reduce((size, d) => size * Math.max(1, d), 1);
}

/** Why a row is not run: no device, or larger than DAPO_CUDA_OP_MAX_SIZE. */
function rowSkip(c: OpCaseRow): string | undefined {
  if (skipReason) return skipReason;
  const size = rowSize(c);
  return size > maxSize ? `size ${size.toExponential(1)} is above DAPO_CUDA_OP_MAX_SIZE=${maxSize}` : undefined;
}

/** The tolerances on the max relative error (to the output's scale). */
const TOLERANCE = { f32: 1e-5, bf16: 2e-2 } as const;

describe('CUDA ops vs their CPU twins', () => {
  test('every registered op has cases in the table', { skip: skipReason }, () => {
    const listed = new Set(OP_CASES.map((c) => c.op));
    const missing = native.cudaOpNames().filter((name) => !listed.has(name));
    assert.deepEqual(missing, [], `ops registered in the module with no case in test/cuda/op-cases.ts: ${missing.join(', ')}`);
  });

  OP_CASES.forEach((c, i) => {
    for (const dtype of c.dtypes ?? (['f32', 'bf16'] as const)) {
      const label = `${c.op} ${dtype} ${c.label ?? JSON.stringify(c.dims ?? [])}`;
      test(label, { skip: rowSkip(c) }, () => {
        const r = native.cudaOpCheck({ op: c.op, dtype, seed: seed + i, dims: c.dims, lengths: c.lengths, params: c.params });
        const tolerance = c.tolerance?.[dtype] ?? TOLERANCE[dtype];
        const shown = Object.entries(r.errors).map(([k, e]) => `${k}=${e.rel.toExponential(2)}`).join(' ');
        console.log(`  ${label}: max relative error ${shown} (tolerance ${tolerance}), ${r.cudaMs.toFixed(3)} ms`);
        assert.ok(Object.keys(r.errors).length > 0, `${label}: the check compared nothing`);
        for (const [name, e] of Object.entries(r.errors))
          assert.ok(e.rel <= tolerance, `${label}: ${name} max relative error ${e.rel} is above ${tolerance}`);
      });
    }
  });
});
