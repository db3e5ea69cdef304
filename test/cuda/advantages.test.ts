// CUDA group advantages against the CPU kernel (same double arithmetic: equal to the last bit).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { cudaGroupAdvantages, DeviceTensor } from '../../src/loss/device.js';
import { groupAdvantages } from '../../src/loss/index.js';
import { Rng, testSeed } from '../helpers/random.js';
import { checkErrors, maxRelError, skipReason, TOLERANCE } from './device.js';

const seed = testSeed();
console.log(`cuda advantages tests: DAPO_TEST_SEED=${seed}`);
const skip = skipReason;

describe('CUDA groupAdvantages vs the CPU kernel', () => {
  const rng = new Rng(seed);
  for (const [groups, size] of [[1, 1], [7, 1], [3, 2], [100, 16], [4096, 8], [5, 257]]) {
    for (const std of [true, false]) {
      test(`${groups} groups of ${size}, std=${std}`, { skip }, () => {
        const rewards = Float32Array.from({ length: groups * size }, () => (rng.next() < 0.5 ? 1 : -1) + rng.uniform(-0.5, 0));
        const want = groupAdvantages(rewards, size, { std });
        const got = groupAdvantages(rewards, size, { std, device: 'cuda' });
        checkErrors(`G=${size}`, { advantages: maxRelError(got, want) }, TOLERANCE.f32);
      });
    }
  }

  test('a DeviceTensor in gives a DeviceTensor out', { skip }, () => {
    const rewards = Float32Array.from({ length: 64 }, () => rng.uniform(-1, 1));
    const input = DeviceTensor.upload(rewards);
    const out = cudaGroupAdvantages(input, 8) as ReturnType<typeof DeviceTensor.upload>;
    assert.deepEqual(out.download(), groupAdvantages(rewards, 8));
    input.dispose();
    out.dispose();
  });

  test('a non-finite reward is a RangeError naming it', { skip }, () => {
    const rewards = Float32Array.from([1, 0, 1, NaN, 0, 1]);
    assert.throws(() => groupAdvantages(rewards, 3, { device: 'cuda' }), { name: 'RangeError', message: 'rewards[3] is not finite' });
  });
});
