// The native DAPO loss against its TypeScript reference on fresh random inputs.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { dapoLoss, dapoLossAsync, referenceDapoLoss, setNumThreads, numThreads, type Aggregation } from '../src/index.js';
import type { NativeLossArgs } from '../src/native.js';
import { lossScale, randomLossArgs, type LossCase } from './helpers/loss-inputs.js';
import { maxRelError, Rng, testSeed } from './helpers/random.js';

const seed = testSeed();
console.log(`loss tests: DAPO_TEST_SEED=${seed}`);

const SHAPES: Array<[number, number]> = [
  [1, 5],
  [7, 33],
  [16, 257],
  [40, 1031],
  [9, 4099],
];
const AGGREGATIONS: Aggregation[] = ['token-mean', 'seq-mean-token-mean', 'seq-mean-token-sum'];

function assertLossClose(args: NativeLossArgs, actual: number, expected: number, logprobs: Float32Array, what: string) {
  const scale = lossScale(args, logprobs);
  assert.ok(Math.abs(actual - expected) <= 1e-5 * scale + 1e-12, `${what}: ${actual} vs ${expected} (terms of size ${scale})`);
}

function compareToReference(c: LossCase, rng: Rng) {
  const args = randomLossArgs(rng, c);
  const got = dapoLoss(args);
  const want = referenceDapoLoss(args);
  const label = `${c.dtype} N=${c.n} V=${c.v} ${c.aggregation}${c.clipC ? ' dual' : ''}`;
  assertLossClose(args, got.loss, want.loss, want.logprobs, `${label} loss`);
  assert.ok(maxRelError(got.logprobs, want.logprobs) < 1e-5, `${label} logprobs`);
  assert.ok(maxRelError(got.grad, want.grad) < 2e-5, `${label} grad err ${maxRelError(got.grad, want.grad)}`);
  if (c.entropy) assert.ok(maxRelError(got.entropy!, want.entropy!) < 1e-5, `${label} entropy`);
  assert.deepEqual(
    { ...got.stats, approxKl: 0 },
    { ...want.stats, approxKl: 0 },
    `${label} clip fractions and token count`,
  );
  assert.ok(Math.abs(got.stats.approxKl - want.stats.approxKl) < 1e-5, `${label} approxKl`);
  return want;
}

describe('dapoLoss from logits matches the reference', () => {
  const rng = new Rng(seed);
  for (const dtype of ['f32', 'bf16'] as const) {
    for (const [n, v] of SHAPES) {
      for (const aggregation of AGGREGATIONS) {
        for (const clipC of [undefined, 3]) {
          test(`${dtype} N=${n} V=${v} ${aggregation} clipC=${clipC ?? 'off'}`, () => {
            compareToReference({ n, v, dtype, aggregation, clipC, entropy: true }, rng);
          });
        }
      }
    }
  }

  // Gradients over 32 MiB take the streaming-store path; an odd V leaves rows unaligned.
  for (const dtype of ['f32', 'bf16'] as const) {
    test(`${dtype} N=257 V=32771: large enough for streaming stores`, () => {
      compareToReference({ n: 257, v: 32771, dtype, aggregation: 'token-mean', clipC: 3, entropy: true }, rng);
    });
  }

  test('random cases exercise both clip edges and the dual clip', () => {
    let low = 0;
    let high = 0;
    let dual = 0;
    for (let i = 0; i < 6; i++) {
      const s = compareToReference({ n: 64, v: 50, dtype: 'f32', aggregation: 'token-mean', clipC: 1.2 }, rng).stats;
      low += s.clipFracLow;
      high += s.clipFracHigh;
      dual += s.clipFracDual;
    }
    assert.ok(low > 0 && high > 0 && dual > 0, `low ${low} high ${high} dual ${dual}`);
  });
});

describe('dapoLoss from log-probs matches the reference', () => {
  const rng = new Rng(seed + 1);
  for (const aggregation of AGGREGATIONS) {
    test(aggregation, () => {
      const n = 300;
      const args = randomLossArgs(rng, { n, v: 2, dtype: 'f32', aggregation, clipC: 3 });
      const logprobs = Float32Array.from({ length: n }, () => -rng.uniform(0.01, 6));
      const oldLogprobs = Float32Array.from(logprobs, (lp) => lp - Math.log(rng.uniform(0.5, 1.8)));
      const call = { ...args, logits: undefined, vocabSize: undefined, tokens: undefined, logprobs, oldLogprobs };
      const got = dapoLoss(call);
      const want = referenceDapoLoss(call);
      assertLossClose(call, got.loss, want.loss, logprobs, 'loss');
      assert.ok(maxRelError(got.grad, want.grad) < 2e-5, 'grad');
      assert.deepEqual({ ...got.stats, approxKl: 0 }, { ...want.stats, approxKl: 0 });
    });
  }
});

describe('the KL penalty to a reference policy', () => {
  const rng = new Rng(seed + 6);
  for (const aggregation of AGGREGATIONS) {
    test(`logits and log-probs modes match the reference (${aggregation})`, () => {
      const args = randomLossArgs(rng, { n: 40, v: 257, dtype: 'f32', aggregation, clipC: 3, entropy: true });
      const current = referenceDapoLoss(args).logprobs;
      // Reference log-probs a little away from the current ones, both ways.
      const refLogprobs = Float32Array.from(current, (lp) => lp + rng.uniform(-0.6, 0.6));
      const withKl = { ...args, refLogprobs, klCoef: rng.uniform(0.05, 0.5) };
      const got = dapoLoss(withKl);
      const want = referenceDapoLoss(withKl);
      assert.ok(Math.abs(got.loss - want.loss) <= 1e-5 * (lossScale(withKl, want.logprobs) + withKl.klCoef), `loss ${got.loss} vs ${want.loss}`);
      assert.ok(maxRelError(got.grad, want.grad) < 2e-5, 'grad');
      assert.ok(got.stats.klRef > 0 && Math.abs(got.stats.klRef - want.stats.klRef) < 1e-6, `klRef ${got.stats.klRef} vs ${want.stats.klRef}`);
      // The KL term changes the loss and the gradient.
      assert.ok(Math.abs(got.loss - dapoLoss(args).loss) > 1e-6);
      const lp = { ...withKl, logits: undefined, vocabSize: undefined, tokens: undefined, logprobs: want.logprobs };
      const gotLp = dapoLoss(lp);
      const wantLp = referenceDapoLoss(lp);
      assert.ok(maxRelError(gotLp.grad, wantLp.grad) < 2e-5, 'log-probs mode grad');
    });
  }

  test('klCoef 0 with refLogprobs is the plain loss', () => {
    const args = randomLossArgs(rng, { n: 12, v: 33, dtype: 'f32', aggregation: 'token-mean' });
    const plain = dapoLoss(args);
    const zero = dapoLoss({ ...args, refLogprobs: rng.floats(12), klCoef: 0 });
    assert.equal(zero.loss, plain.loss);
    assert.equal(zero.stats.klRef, 0);
  });
});

describe('the divisor under gradient accumulation', () => {
  test('micro-batch gradients with the mini-batch tokenCount add up to the full-batch gradient', () => {
    const rng = new Rng(seed + 2);
    const args = randomLossArgs(rng, { n: 24, v: 17, dtype: 'f32', aggregation: 'token-mean' });
    const full = dapoLoss(args);
    const tokenCount = args.mask.reduce((a, b) => a + b, 0);
    const split = 10;
    const part = (from: number, to: number) =>
      dapoLoss({
        ...args,
        logits: (args.logits as Float32Array).subarray(from * 17, to * 17),
        tokens: args.tokens!.subarray(from, to),
        oldLogprobs: args.oldLogprobs.subarray(from, to),
        advantages: args.advantages.subarray(from, to),
        mask: args.mask.subarray(from, to),
        seqIds: args.seqIds!.subarray(from, to),
        tokenCount,
      });
    const a = part(0, split);
    const b = part(split, 24);
    assertLossClose(args, a.loss + b.loss, full.loss, full.logprobs, 'summed loss');
    const joined = new Float32Array(full.grad.length);
    joined.set(a.grad, 0);
    joined.set(b.grad, split * 17);
    assert.ok(maxRelError(joined, full.grad) < 1e-6);
  });
});

describe('results do not depend on the thread count', () => {
  test('1, 2 and 3 threads give bit-identical outputs', () => {
    const rng = new Rng(seed + 3);
    const args = randomLossArgs(rng, { n: 64, v: 3001, dtype: 'f32', aggregation: 'seq-mean-token-mean', entropy: true });
    const before = numThreads();
    const runs = [1, 2, 3].map((t) => {
      setNumThreads(t);
      return dapoLoss(args);
    });
    setNumThreads(before);
    for (const r of runs.slice(1)) {
      assert.equal(r.loss, runs[0].loss);
      assert.deepEqual(r.grad, runs[0].grad);
      assert.deepEqual(r.entropy, runs[0].entropy);
      assert.deepEqual(r.stats, runs[0].stats);
    }
  });
});

describe('dapoLossAsync', () => {
  test('resolves to the same result as the synchronous call', async () => {
    const rng = new Rng(seed + 4);
    const args = randomLossArgs(rng, { n: 32, v: 999, dtype: 'bf16', aggregation: 'token-mean', clipC: 3, entropy: true });
    const [sync, async_] = [dapoLoss(args), await dapoLossAsync(args)];
    assert.equal(async_.loss, sync.loss);
    assert.deepEqual(async_.grad, sync.grad);
    assert.deepEqual(async_.stats, sync.stats);
  });

  test('rejects bad input with the same error kind', async () => {
    const rng = new Rng(seed + 5);
    const args = randomLossArgs(rng, { n: 4, v: 9, dtype: 'f32', aggregation: 'token-mean' });
    args.tokens![2] = 9;
    await assert.rejects(dapoLossAsync(args), (e: Error) => e instanceof RangeError && /tokens\[2\]/.test(e.message));
  });
});
