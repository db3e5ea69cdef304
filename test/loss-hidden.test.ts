// The LM-head loss on the CPU (dapoLossFromHidden, the twin of the CUDA kernel): against the
// logits loss on materialised logits, against central finite differences, and independent of
// its vocabulary chunk.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { bf16ToNumber, dapoLoss, dapoLossFromHidden, numberToBf16, type Aggregation } from '../src/index.js';
import type { HiddenLossArgs } from '../src/loss/hidden.js';
import { maxRelError, randomSeqIds, Rng, testSeed } from './helpers/random.js';

const seed = testSeed();
console.log(`loss-hidden tests: DAPO_TEST_SEED=${seed}`);

interface Case {
  n: number;
  h: number;
  v: number;
  dtype: 'f32' | 'bf16';
  aggregation: Aggregation;
  clipC?: number;
}

function widen(a: Float32Array | Uint16Array): Float64Array {
  return a instanceof Uint16Array ? Float64Array.from(a, bf16ToNumber) : Float64Array.from(a);
}

/** logits[i, j] = sum_k x[i, k] w[j, k], in double, rounded once to f32 as the twin does. */
function logitsOf(x: Float64Array, w: Float64Array, n: number, h: number, v: number): Float32Array {
  const out = new Float32Array(n * v);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < v; j++) {
      let s = 0;
      for (let k = 0; k < h; k++) s += x[i * h + k] * w[j * h + k];
      out[i * v + j] = s;
    }
  return out;
}

function randomCase(rng: Rng, c: Case): HiddenLossArgs {
  const scale = 1 / Math.sqrt(c.h);
  const xf = rng.floats(c.n * c.h, 1);
  const wf = rng.floats(c.v * c.h, 2 * scale);
  const hidden = c.dtype === 'bf16' ? Uint16Array.from(xf, numberToBf16) : xf;
  const weight = c.dtype === 'bf16' ? Uint16Array.from(wf, numberToBf16) : wf;
  const tokens = Int32Array.from({ length: c.n }, () => rng.int(c.v));
  const advantages = Float32Array.from({ length: c.n }, () => (rng.next() < 0.5 ? -1 : 1) * rng.uniform(0.1, 2));
  const mask = Uint8Array.from({ length: c.n }, () => (rng.next() < 0.8 ? 1 : 0));
  const logits = logitsOf(widen(hidden), widen(weight), c.n, c.h, c.v);
  const current = dapoLoss({ logits, vocabSize: c.v, tokens, oldLogprobs: new Float32Array(c.n), advantages, mask }).logprobs;
  const oldLogprobs = Float32Array.from(current, (lp) => lp - Math.log(rng.uniform(0.55, 1.7)));
  return {
    hidden, weight, hiddenSize: c.h, vocabSize: c.v, tokens, oldLogprobs, advantages, mask,
    seqIds: randomSeqIds(rng, c.n), aggregation: c.aggregation, clipC: c.clipC, entropy: true,
  };
}

/** The logits loss on materialised logits, with its gradient chained to hidden and weight. */
function viaLogits(a: HiddenLossArgs) {
  const { n, h, v } = { n: a.oldLogprobs.length as number, h: a.hiddenSize, v: a.vocabSize };
  const x = widen(a.hidden as Float32Array | Uint16Array);
  const w = widen(a.weight as Float32Array | Uint16Array);
  const r = dapoLoss({
    logits: logitsOf(x, w, n, h, v), vocabSize: v, tokens: a.tokens as Int32Array, oldLogprobs: a.oldLogprobs as Float32Array,
    advantages: a.advantages as Float32Array, mask: a.mask as Uint8Array, seqIds: a.seqIds as Int32Array,
    aggregation: a.aggregation, clipC: a.clipC, entropy: true,
    refLogprobs: a.refLogprobs as Float32Array | undefined, klCoef: a.klCoef,
  });
  const gradHidden = new Float64Array(n * h);
  const gradWeight = new Float64Array(v * h);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < v; j++) {
      const g = r.grad[i * v + j];
      if (g === 0) continue;
      for (let k = 0; k < h; k++) {
        gradHidden[i * h + k] += g * w[j * h + k];
        gradWeight[j * h + k] += g * x[i * h + k];
      }
    }
  return { ...r, gradHidden, gradWeight };
}

describe('dapoLossFromHidden (CPU)', () => {
  const rng = new Rng(seed);
  const cases: Case[] = [
    { n: 1, h: 8, v: 5, dtype: 'f32', aggregation: 'token-mean' },
    { n: 9, h: 16, v: 37, dtype: 'f32', aggregation: 'token-mean', clipC: 3 },
    { n: 12, h: 24, v: 101, dtype: 'bf16', aggregation: 'seq-mean-token-mean' },
    { n: 7, h: 13, v: 64, dtype: 'bf16', aggregation: 'seq-mean-token-sum', clipC: 2.5 },
  ];
  for (const c of cases) {
    test(`matches the logits loss chained through the head: ${JSON.stringify(c)}`, () => {
      const args = randomCase(rng, c);
      const got = dapoLossFromHidden({ ...args, chunkSize: 1 + rng.int(c.v) });
      const want = viaLogits(args);
      const errors = {
        // The loss sums terms of both signs; measure it against their scale (about 1), not its own size.
        loss: Math.abs(got.loss - want.loss) / Math.max(Math.abs(want.loss), 1),
        logprobs: maxRelError(got.logprobs, want.logprobs),
        entropy: maxRelError(got.entropy!, want.entropy!),
        gradHidden: maxRelError(got.gradHidden as Float32Array, want.gradHidden),
        gradWeight: maxRelError(got.gradWeight as Float32Array, want.gradWeight),
      };
      console.log(`  max relative error ${JSON.stringify(errors)}`);
      for (const [name, e] of Object.entries(errors)) assert.ok(e < 1e-5, `${name}: ${e}`);
      const { approxKl, ...counts } = got.stats;
      const { approxKl: wantKl, ...wantCounts } = want.stats;
      assert.deepEqual(counts, wantCounts);
      assert.ok(Math.abs(approxKl - wantKl) < 1e-5 * Math.max(1, Math.abs(wantKl)));
    });
  }

  test('with the KL penalty to a reference: matches the logits loss chained through the head', () => {
    const args = randomCase(rng, { n: 10, h: 12, v: 47, dtype: 'f32', aggregation: 'token-mean', clipC: 3 });
    const current = dapoLossFromHidden(args).logprobs;
    const withKl = { ...args, refLogprobs: Float32Array.from(current, (lp) => lp + rng.uniform(-0.8, 0.8)), klCoef: 0.4 };
    const got = dapoLossFromHidden(withKl);
    const want = viaLogits(withKl);
    assert.ok(want.stats.klRef > 0);
    assert.ok(Math.abs(got.loss - want.loss) / Math.max(Math.abs(want.loss), 1) < 1e-5, `loss ${got.loss} vs ${want.loss}`);
    assert.ok(Math.abs(got.stats.klRef - want.stats.klRef) < 1e-5 * Math.max(1, want.stats.klRef));
    assert.ok(maxRelError(got.gradHidden as Float32Array, want.gradHidden) < 1e-5);
    assert.ok(maxRelError(got.gradWeight as Float32Array, want.gradWeight) < 1e-5);
    const plain = dapoLossFromHidden(args);
    assert.ok(maxRelError(got.gradHidden as Float32Array, plain.gradHidden as Float32Array) > 1e-4, 'the penalty moves the gradient');
    const bad = Float32Array.from(withKl.refLogprobs, (x, i) => (i === 4 ? NaN : x));
    assert.throws(() => dapoLossFromHidden({ ...withKl, refLogprobs: bad }), { name: 'RangeError', message: 'refLogprobs[4] is not finite' });
    assert.throws(() => dapoLossFromHidden({ ...withKl, refLogprobs: undefined }), TypeError);
  });

  test('does not depend on the vocabulary chunk', () => {
    const args = randomCase(rng, { n: 6, h: 10, v: 53, dtype: 'f32', aggregation: 'token-mean' });
    const a = dapoLossFromHidden({ ...args, chunkSize: 53 });
    const b = dapoLossFromHidden({ ...args, chunkSize: 4 });
    assert.ok(Math.abs(a.loss - b.loss) <= 1e-6 * Math.abs(a.loss));
    assert.ok(maxRelError(b.gradHidden as Float32Array, a.gradHidden as Float32Array) < 1e-6);
    assert.ok(maxRelError(b.gradWeight as Float32Array, a.gradWeight as Float32Array) < 1e-6);
  });

  test('gradients match central finite differences', () => {
    const c = { n: 5, h: 6, v: 11 };
    const args = randomCase(rng, { ...c, dtype: 'f32', aggregation: 'token-mean' });
    // Ratios near 1 keep every token off the clip edges, so the loss is smooth where we probe.
    const base = dapoLossFromHidden(args);
    const oldLogprobs = Float32Array.from(base.logprobs, (lp) => lp - rng.uniform(-0.05, 0.05));
    const probe = { ...args, oldLogprobs };
    const r = dapoLossFromHidden(probe);
    const eps = 3e-3;
    const check = (key: 'hidden' | 'weight', grad: Float32Array) => {
      const values = probe[key] as Float32Array;
      let worst = 0;
      const scale = grad.reduce((m, g) => Math.max(m, Math.abs(g)), 0);
      for (let t = 0; t < 8; t++) {
        const k = rng.int(values.length);
        const plus = Float32Array.from(values);
        const minus = Float32Array.from(values);
        plus[k] += eps;
        minus[k] -= eps;
        const fd = (dapoLossFromHidden({ ...probe, [key]: plus }).loss - dapoLossFromHidden({ ...probe, [key]: minus }).loss) / (2 * eps);
        worst = Math.max(worst, Math.abs(fd - grad[k]) / Math.max(Math.abs(grad[k]), 0.05 * scale));
      }
      console.log(`  ${key}: worst relative difference to finite differences ${worst.toExponential(2)}`);
      assert.ok(worst < 2e-2, `${key}: ${worst}`);
    };
    check('hidden', r.gradHidden as Float32Array);
    check('weight', r.gradWeight as Float32Array);
  });

  test('an all-masked batch gives loss 0 and zero gradients', () => {
    const args = randomCase(rng, { n: 4, h: 5, v: 9, dtype: 'f32', aggregation: 'token-mean' });
    const r = dapoLossFromHidden({ ...args, mask: new Uint8Array(4) });
    assert.equal(r.loss, 0);
    assert.ok((r.gradHidden as Float32Array).every((g) => g === 0));
    assert.ok((r.gradWeight as Float32Array).every((g) => g === 0));
    assert.equal(r.stats.tokens, 0);
  });

  test('bad input throws the same errors as dapoLoss', () => {
    const args = randomCase(rng, { n: 3, h: 4, v: 6, dtype: 'f32', aggregation: 'token-mean' });
    assert.throws(() => dapoLossFromHidden({ ...args, tokens: Int32Array.from([0, 6, 1]) }), {
      name: 'RangeError', message: 'tokens[1] = 6 is outside [0, vocabSize = 6)',
    });
    assert.throws(() => dapoLossFromHidden({ ...args, hiddenSize: 5 }), RangeError);
    assert.throws(() => dapoLossFromHidden({ ...args, weight: new Uint16Array(24) }), TypeError);
    const nan = Float32Array.from(args.hidden as Float32Array);
    nan[5] = NaN;
    assert.throws(() => dapoLossFromHidden({ ...args, hidden: nan }), {
      name: 'RangeError', message: 'logits row 1 has a non-finite value',
    });
  });
});
