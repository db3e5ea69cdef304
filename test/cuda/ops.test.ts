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
 * DAPO_CUDA_OP_MAX_WORK: rows whose work (rowWork, a rough count) is above it are skipped with the
 * reason. scripts/cuda-emu-test.sh sets it: the CPU emulator runs a GPU's threads one at a time,
 * so the largest rows would take hours there. Unset, every row runs.
 */
const maxWork = readMaxWork(process.env.DAPO_CUDA_OP_MAX_WORK);

function readMaxWork(value: string | undefined): number {
  if (value === undefined || value === '') return Infinity;
  const n = Number(value);
  if (!(n > 0)) throw new RangeError(`DAPO_CUDA_OP_MAX_WORK must be a positive number, not ${JSON.stringify(value)}`);
  return n;
}

/** About the number of values a row's op touches (dims as each check documents them; flags left out). */
function rowWork(c: OpCaseRow): number {
  const d = (i: number) => Math.max(1, c.dims?.[i] ?? 1);
  const over = (f: (length: number) => number) => Math.max(1, (c.lengths ?? []).reduce((s, l) => s + f(l), 0));
  switch (c.op) {
    case 'attention_forward':
    case 'attention_backward':
      return d(0) * d(2) * over((l) => l * l);  // heads x head_dim x every query against its keys
    case 'attention_decode':
      return d(0) * d(2) * over((l) => l);
    case 'kv_cache':
      return d(0) * d(1) * (d(4) + d(2) * d(5));  // kv heads x head_dim x (rows written + copies)
    case 'embedding_forward':
    case 'embedding_backward':
      return d(1) * (d(0) + d(2));  // hidden x (tokens + table rows)
    case 'gemm':
    case 'lm_head_loss':
      return d(0) * d(1) * d(2);
    case 'rope':
    case 'rope_inverse':
      return d(0) * d(1) * d(2);
    case 'cast':
    case 'grad_norm':
    case 'adamw_update':
      return d(0);
    default:
      return d(0) * d(1);  // rows x columns: norms, swiglu, bias, copies, row losses, the sampler
  }
}

/** Why a row is not run: no device, or more work than DAPO_CUDA_OP_MAX_WORK. */
function rowSkip(c: OpCaseRow): string | undefined {
  if (skipReason) return skipReason;
  const work = rowWork(c);
  return work > maxWork ? `work ${work.toExponential(1)} is above DAPO_CUDA_OP_MAX_WORK=${maxWork}` : undefined;
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
