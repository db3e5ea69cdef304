// Group advantages: native against the reference, and the defining cases.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { groupAdvantages, referenceGroupAdvantages } from '../src/index.js';
import { maxRelError, Rng, testSeed } from './helpers/random.js';

const seed = testSeed();
console.log(`advantage tests: DAPO_TEST_SEED=${seed}`);

describe('groupAdvantages', () => {
  const rng = new Rng(seed);
  for (const groupSize of [1, 2, 5, 16]) {
    for (const std of [true, false]) {
      test(`matches the reference: G=${groupSize} std=${std}`, () => {
        const rewards = Float32Array.from({ length: groupSize * 7 }, () => (rng.next() < 0.5 ? 1 : -1) + rng.uniform(-0.5, 0));
        const got = groupAdvantages(rewards, groupSize, { std });
        const want = referenceGroupAdvantages(rewards, groupSize, { std });
        assert.ok(maxRelError(got, want) < 1e-6);
      });
    }
  }

  test('(R - mean) / (unbiased std + eps) on a known group', () => {
    const r = Float32Array.from([1, -1, -1, 1 + rng.uniform(0, 1)]);
    const mean = (r[0] + r[1] + r[2] + r[3]) / 4;
    const std = Math.sqrt(Array.from(r).reduce((a, x) => a + (x - mean) ** 2, 0) / 3);
    const eps = rng.uniform(1e-6, 1e-3);
    const got = groupAdvantages(r, 4, { eps });
    r.forEach((x, i) => assert.ok(Math.abs(got[i] - (x - mean) / (std + eps)) < 1e-6));
  });

  test('a group whose rewards are all equal gets zero advantages', () => {
    const value = rng.uniform(-1, 1);
    assert.deepEqual(Array.from(groupAdvantages(new Float32Array(8).fill(value), 8)), new Array(8).fill(0));
  });

  test('a group of one has mean 0 and std 1', () => {
    const r = Float32Array.from({ length: 5 }, () => rng.uniform(-2, 2));
    const got = groupAdvantages(r, 1);
    r.forEach((x, i) => assert.ok(Math.abs(got[i] - x / (1 + 1e-6)) < 1e-6));
  });

  test('bad arguments throw TypeError or RangeError naming them', () => {
    assert.throws(() => groupAdvantages([1, 2] as unknown as Float32Array, 2), /rewards must be a Float32Array/);
    assert.throws(() => groupAdvantages(new Float32Array(5), 2), (e: Error) => e instanceof RangeError && /multiple of groupSize/.test(e.message));
    assert.throws(() => groupAdvantages(new Float32Array(4), 0), (e: Error) => e instanceof RangeError && /groupSize/.test(e.message));
    assert.throws(() => groupAdvantages(Float32Array.from([1, NaN]), 2), (e: Error) => e instanceof RangeError && /rewards\[1\]/.test(e.message));
    assert.throws(() => groupAdvantages(new Float32Array(4), 2, { eps: -1 }), RangeError);
  });
});
