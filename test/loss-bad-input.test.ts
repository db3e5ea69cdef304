// Bad input to dapoLoss gives a TypeError or RangeError that names the argument; the process
// goes on. An all-zero mask is not an error: loss 0, zero gradient, no NaN.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { dapoLoss } from '../src/index.js';
import type { NativeLossArgs } from '../src/native.js';
import { LOSS_BAD_CASES } from './helpers/loss-bad-cases.js';
import { randomLossArgs } from './helpers/loss-inputs.js';
import { Rng, testSeed } from './helpers/random.js';

const rng = new Rng(testSeed());
// The table's shape: N = 6, V = 11.
const valid = (): NativeLossArgs => randomLossArgs(rng, { n: 6, v: 11, dtype: 'f32', aggregation: 'token-mean' });

describe('dapoLoss rejects bad input with a named error', () => {
  for (const [name, mutate, kind, message] of LOSS_BAD_CASES) {
    test(name, () => {
      const args = mutate(valid()) as NativeLossArgs;
      assert.throws(
        () => dapoLoss(args),
        (e: Error & { code?: string }) => {
          assert.ok(e instanceof kind, `expected ${kind.name}, got ${e.constructor.name}: ${e.message}`);
          assert.match(e.message, message);
          assert.equal(e.code, kind === TypeError ? 'ERR_DAPO_TYPE' : 'ERR_DAPO_RANGE', `code of: ${e.message}`);
          return true;
        },
      );
    });
  }

  test('the addon still works after every bad call', () => {
    const result = dapoLoss(valid());
    assert.ok(Number.isFinite(result.loss));
  });
});

describe('edge cases that are not errors', () => {
  for (const aggregation of ['token-mean', 'seq-mean-token-mean', 'seq-mean-token-sum'] as const) {
    test(`an all-zero mask gives loss 0 and a zero gradient (${aggregation})`, () => {
      const args = { ...valid(), aggregation, mask: new Uint8Array(6) };
      const result = dapoLoss(args);
      assert.equal(result.loss, 0);
      assert.ok(result.grad.every((g) => g === 0));
      assert.equal(result.stats.tokens, 0);
      assert.ok(Object.values(result.stats).every((x) => Number.isFinite(x)));
      assert.ok(result.logprobs.every((x) => Number.isFinite(x) && x < 0));
    });
  }

  test('a tokenCount larger than the counted tokens scales the loss down (micro-batch of a mini-batch)', () => {
    const args = valid();
    const counted = args.mask.reduce((s, m) => s + m, 0);
    const own = dapoLoss(args), shared = dapoLoss({ ...args, tokenCount: 4 * counted });
    assert.ok(Math.abs(shared.loss - own.loss / 4) <= 1e-6 * Math.abs(own.loss) + 1e-12, `${shared.loss} vs ${own.loss} / 4`);
  });

  test('gradOut receives the gradient without a new allocation', () => {
    const args = valid();
    const gradOut = new Float32Array(66).fill(7);
    const result = dapoLoss({ ...args, gradOut });
    assert.equal(result.grad, gradOut);
    assert.deepEqual(gradOut, dapoLoss(args).grad);
  });

  test('N = 0 is an empty batch', () => {
    const empty = { oldLogprobs: new Float32Array(0), advantages: new Float32Array(0), mask: new Uint8Array(0), logprobs: new Float32Array(0) };
    const result = dapoLoss(empty);
    assert.equal(result.loss, 0);
    assert.equal(result.grad.length, 0);
  });
});
