// The KL penalty to a reference policy (klCoef, refLogprobs) on CUDA against the CPU kernels:
// from logits (host arrays and DeviceTensors), from log-probs, and through the LM head; plus the
// errors: a bad reference, and a loss that overflows float from finite inputs. (Temperature and
// the NLL term, which only the engine's path reaches, are rows of the op table: op-cases/loss.ts.)
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { cudaDapoLoss, DeviceTensor } from '../../src/loss/device.js';
import { dapoLossFromHidden } from '../../src/loss/hidden.js';
import { dapoLoss } from '../../src/loss/index.js';
import { numberToBf16 } from '../../src/loss/reference.js';
import type { NativeLossArgs } from '../../src/native.js';
import { Rng, testSeed } from '../helpers/random.js';
import { checkErrors, maxRelError, randomLogprobArgs, randomLossArgs, skipReason, TOLERANCE } from './device.js';

const seed = testSeed();
console.log(`cuda KL tests: DAPO_TEST_SEED=${seed}`);
const skip = skipReason;

/**
 * Reference log-probs near the current ones, so the penalty and its gradient are both live. The
 * first token is kept unmasked: with N=1 the random mask drops the only token one time in five,
 * and a batch with nothing unmasked has no penalty to compare.
 */
function withReference(rng: Rng, args: NativeLossArgs): NativeLossArgs {
  const current = dapoLoss({ ...args, klCoef: 0 }).logprobs;
  const refLogprobs = Float32Array.from(current, (lp) => lp + rng.uniform(-0.8, 0.8));
  const mask = args.mask && Uint8Array.from(args.mask, (m, i) => (i === 0 ? 1 : m));
  return { ...args, mask, refLogprobs, klCoef: rng.uniform(0.05, 0.6) };
}

function relative(got: number, want: number): number {
  return Math.abs(got - want) / Math.max(Math.abs(want), 1);
}

describe('CUDA KL penalty vs the CPU kernel', () => {
  const rng = new Rng(seed);
  const shapes: Array<[number, number]> = [[1, 7], [9, 1001], [6, 32768], [2, 151936]];
  for (const [n, v] of shapes) {
    for (const dtype of ['f32', 'bf16'] as const) {
      test(`from logits N=${n} V=${v} ${dtype}`, { skip }, () => {
        const args = withReference(rng, randomLossArgs(rng, { n, v, dtype, aggregation: 'token-mean', clipC: 3, entropy: true }));
        const want = dapoLoss(args);
        const got = dapoLoss({ ...args, device: 'cuda' });
        assert.ok(want.stats.klRef > 0, 'the reference differs from the policy, so the penalty is positive');
        checkErrors(`KL N=${n} V=${v} ${dtype}`, {
          loss: relative(got.loss, want.loss),
          grad: maxRelError(got.grad, want.grad),
          logprobs: maxRelError(got.logprobs, want.logprobs),
          klRef: relative(got.stats.klRef, want.stats.klRef),
        }, TOLERANCE[dtype]);
      });
    }
  }

  test('refLogprobs as a DeviceTensor, seq-mean aggregation', { skip }, () => {
    const args = withReference(rng, randomLossArgs(rng, { n: 40, v: 4099, dtype: 'f32', aggregation: 'seq-mean-token-mean' }));
    const want = dapoLoss(args);
    const logits = DeviceTensor.upload(args.logits!);
    const refLogprobs = DeviceTensor.upload(args.refLogprobs!);
    const got = cudaDapoLoss({ ...args, logits, refLogprobs });
    const grad = got.grad as ReturnType<typeof DeviceTensor.upload>;
    checkErrors('KL device tensors', {
      loss: relative(got.loss, want.loss),
      grad: maxRelError(grad.download() as Float32Array, want.grad),
      klRef: relative(got.stats.klRef, want.stats.klRef),
    }, TOLERANCE.f32);
    for (const t of [logits, refLogprobs, grad]) t.dispose();
  });

  test('from log-probs', { skip }, () => {
    const base = randomLogprobArgs(rng, 500);
    const args = { ...base, refLogprobs: Float32Array.from(base.logprobs!, (lp) => lp + rng.uniform(-1, 1)), klCoef: 0.3 };
    const want = dapoLoss(args);
    const got = dapoLoss({ ...args, device: 'cuda' });
    checkErrors('KL log-probs', {
      loss: relative(got.loss, want.loss),
      grad: maxRelError(got.grad, want.grad),
      klRef: relative(got.stats.klRef, want.stats.klRef),
    }, TOLERANCE.f32);
  });

  test('through the LM head (dapoLossFromHidden)', { skip }, () => {
    const n = 24, h = 48, v = 1500;
    const hidden = Uint16Array.from(rng.floats(n * h, 1), numberToBf16);
    const weight = Uint16Array.from(rng.floats(v * h, 2 / Math.sqrt(h)), numberToBf16);
    const base = {
      hidden, weight, hiddenSize: h, vocabSize: v,
      tokens: Int32Array.from({ length: n }, () => rng.int(v)),
      advantages: Float32Array.from({ length: n }, () => rng.uniform(-2, 2)),
      mask: Uint8Array.from({ length: n }, () => (rng.next() < 0.8 ? 1 : 0)),
      oldLogprobs: new Float32Array(n),
      entropy: true,
    };
    const current = dapoLossFromHidden(base).logprobs;
    const args = {
      ...base,
      oldLogprobs: Float32Array.from(current, (lp) => lp - Math.log(rng.uniform(0.55, 1.7))),
      refLogprobs: Float32Array.from(current, (lp) => lp + rng.uniform(-0.8, 0.8)),
      klCoef: 0.4,
    };
    const want = dapoLossFromHidden(args);
    const got = dapoLossFromHidden({ ...args, chunkSize: 7, device: 'cuda' });
    assert.ok(want.stats.klRef > 0);
    checkErrors('KL hidden', {
      loss: relative(got.loss, want.loss),
      gradHidden: maxRelError(got.gradHidden as Float32Array, want.gradHidden as Float32Array),
      gradWeight: maxRelError(got.gradWeight as Float32Array, want.gradWeight as Float32Array),
      klRef: relative(got.stats.klRef, want.stats.klRef),
    }, TOLERANCE.bf16);
  });

  test('a bad reference gives the CPU kernel errors', { skip }, () => {
    const args = withReference(rng, randomLossArgs(rng, { n: 4, v: 50, dtype: 'f32', aggregation: 'token-mean' }));
    const bad = { ...args, refLogprobs: Float32Array.from(args.refLogprobs!, (x, i) => (i === 2 ? NaN : x)) };
    assert.throws(() => dapoLoss(bad), { name: 'RangeError', message: /refLogprobs\[2\] is not finite/ });
    assert.throws(() => dapoLoss({ ...bad, device: 'cuda' }), { name: 'RangeError', message: /refLogprobs\[2\] is not finite/ });
    assert.throws(() => dapoLoss({ ...args, refLogprobs: undefined, device: 'cuda' }), TypeError);
  });

  test('a loss that overflows float from finite inputs is an error naming the token', { skip }, () => {
    const args = randomLossArgs(rng, { n: 5, v: 300, dtype: 'f32', aggregation: 'token-mean' });
    args.mask = new Uint8Array(5).fill(1);
    // Ratio 1.2 (inside the clip range): the loss -A r is -3.6e38, past float's range.
    const current = dapoLoss(args).logprobs;
    args.oldLogprobs[2] = current[2] - Math.log(1.2);
    args.advantages = Float32Array.from([0.5, -0.5, 3e38, 1, -1]);
    assert.throws(() => dapoLoss({ ...args, device: 'cuda' }), /token 2 .*not finite|not finite.*token 2/);
    // The process goes on, and the same call with sane advantages works.
    args.advantages[2] = 0.3;
    assert.ok(Number.isFinite(dapoLoss({ ...args, device: 'cuda' }).loss));
  });
});
