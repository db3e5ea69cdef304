// Wrong numbers without an error (issue #13): finite inputs whose loss, gradient or log-prob does
// not fit in float32 are a RangeError with code ERR_DAPO_NONFINITE, never an Infinity or a NaN
// handed back; a token outside the loss cannot poison the gradient; SharedArrayBuffer inputs
// work in every entry point, as groupAdvantages always accepted them.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { dapoLoss, dapoLossAsync, dapoLossFromHidden, groupAdvantages } from '../src/index.js';
import type { NativeLossArgs } from '../src/native.js';
import { randomLossArgs } from './helpers/loss-inputs.js';
import { Rng, testSeed } from './helpers/random.js';

const seed = testSeed();
const rng = new Rng(seed);
console.log(`loss-robust seed ${seed}`);
const valid = (): NativeLossArgs => randomLossArgs(rng, { n: 6, v: 11, dtype: 'f32', aggregation: 'token-mean', entropy: true });

const overflow = (e: Error & { code?: string }) => {
  assert.ok(e instanceof RangeError, `${e.constructor.name}: ${e.message}`);
  assert.equal(e.code, 'ERR_DAPO_NONFINITE', e.message);
  assert.match(e.message, /token 2 is not finite although the inputs are .*overflow float32/);
  return true;
};

/** Token 2 with an advantage of 3e38 and a ratio of e^5: -A r is -Infinity in float32. */
function hugeAdvantage(args: NativeLossArgs): NativeLossArgs {
  const advantages = args.advantages.slice();
  const oldLogprobs = args.oldLogprobs.slice();
  const mask = args.mask.slice();
  advantages[2] = 3e38;
  oldLogprobs[2] = dapoLoss(args).logprobs[2] - 5;
  mask[2] = 1;
  return { ...args, advantages, oldLogprobs, mask };
}

describe('finite inputs whose results overflow float32', () => {
  test('from logits: a RangeError naming the token, not an infinite loss', () => {
    assert.throws(() => dapoLoss(hugeAdvantage(valid())), overflow);
  });

  test('from log-probs: the same', () => {
    const args = hugeAdvantage(valid());
    const logprobs = dapoLoss({ ...args, advantages: new Float32Array(6) }).logprobs;
    const { logits: _, vocabSize: __, tokens: ___, ...rest } = args;
    assert.throws(() => dapoLoss({ ...rest, logprobs }), overflow);
  });

  test('dapoLossAsync rejects the same way', async () => {
    await assert.rejects(dapoLossAsync(hugeAdvantage(valid())), overflow);
  });

  test('a negative advantage of -3e38 under the dual clip', () => {
    const args = hugeAdvantage(valid());
    args.advantages[2] = -3e38;
    assert.throws(() => dapoLoss({ ...args, clipC: 3 }), overflow);
  });

  test('logits 6e38 apart in a row: log p is not representable', () => {
    const args = valid();
    const logits = (args.logits as Float32Array).slice();
    const row = 2 * 11;
    logits.fill(-3e38, row, row + 11);
    logits[row + ((args.tokens![2] + 1) % 11)] = 3e38;
    const mask = args.mask.slice();
    mask[2] = 1;
    assert.throws(() => dapoLoss({ ...args, logits, mask }), overflow);
  });

  test('dapoLossFromHidden (the CPU twin of the LM-head loss): the same', () => {
    const n = 4, h = 8, v = 16;
    const args = {
      hidden: rng.floats(n * h), weight: rng.floats(v * h, 0.5), hiddenSize: h, vocabSize: v,
      tokens: Int32Array.from({ length: n }, () => rng.int(v)), oldLogprobs: new Float32Array(n), advantages: new Float32Array(n),
      mask: new Uint8Array(n).fill(1),
    };
    const current = dapoLossFromHidden(args).logprobs;
    const oldLogprobs = Float32Array.from(current, (lp) => lp - 5);
    const advantages = Float32Array.from({ length: n }, (_, i) => (i === 2 ? 3e38 : 1));
    assert.throws(() => dapoLossFromHidden({ ...args, oldLogprobs, advantages }), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'ERR_DAPO_NONFINITE', e.message);
      assert.match(e.message, /token 2 is not finite although the inputs are/);
      return true;
    });
    const finite = dapoLossFromHidden({ ...args, oldLogprobs, advantages: advantages.map((a) => (a > 1 ? 1 : a)) });
    assert.ok(Number.isFinite(finite.loss) && (finite.gradHidden as Float32Array).every(Number.isFinite));
  });

  test('a token outside the loss (mask 0) with an advantage of 3e38 leaves the gradient finite and unchanged', () => {
    const args = hugeAdvantage(valid());
    args.mask[2] = 0;
    const result = dapoLoss(args);
    const zeroed = dapoLoss({ ...args, advantages: Float32Array.from(args.advantages, (a, i) => (i === 2 ? 0 : a)) });
    assert.ok(result.grad.every((g) => Number.isFinite(g)), 'every gradient entry is finite');
    assert.deepEqual(result.grad, zeroed.grad);
    assert.equal(result.loss, zeroed.loss);
  });
});

/** A copy of a typed array over a SharedArrayBuffer. */
function shared<T extends Float32Array | Int32Array | Uint8Array | Uint16Array>(a: T): T {
  const Ctor = a.constructor as new (buffer: SharedArrayBuffer) => T;
  const out = new Ctor(new SharedArrayBuffer(a.byteLength));
  out.set(a as never);
  return out;
}

describe('SharedArrayBuffer inputs', () => {
  const sharedArgs = (a: NativeLossArgs): NativeLossArgs => ({
    ...a,
    logits: shared(a.logits as Float32Array),
    tokens: shared(a.tokens!),
    oldLogprobs: shared(a.oldLogprobs),
    advantages: shared(a.advantages),
    mask: shared(a.mask),
  });

  test('dapoLoss reads them as it reads ordinary arrays', () => {
    const args = valid();
    assert.deepEqual(dapoLoss(sharedArgs(args)), dapoLoss(args));
  });

  test('dapoLossAsync uses a shared gradOut in place', async () => {
    const args = valid();
    const gradOut = new Float32Array(new SharedArrayBuffer(4 * 66));
    const result = await dapoLossAsync({ ...sharedArgs(args), gradOut });
    assert.equal(result.grad, gradOut);
    assert.deepEqual(gradOut, dapoLoss(args).grad);
  });

  test('groupAdvantages, as before', () => {
    const rewards = Float32Array.from({ length: 8 }, () => (rng.next() < 0.5 ? 1 : -1));
    assert.deepEqual(groupAdvantages(shared(rewards), 4), groupAdvantages(rewards, 4));
  });
});
