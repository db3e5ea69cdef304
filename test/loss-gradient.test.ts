// Gradients of the DAPO loss against central finite differences of the float64 reference.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { dapoLoss, referenceDapoLoss, type Aggregation } from '../src/index.js';
import type { NativeLossArgs } from '../src/native.js';
import { randomLossArgs } from './helpers/loss-inputs.js';
import { maxAbs, Rng, testSeed } from './helpers/random.js';

const seed = testSeed();
console.log(`gradient tests: DAPO_TEST_SEED=${seed}`);

// Keep every ratio at least `margin` away from the clip edges so the loss is smooth within the step.
function awayFromKinks(args: NativeLossArgs, margin: number, rng: Rng): NativeLossArgs {
  const current = referenceDapoLoss(args).logprobs;
  const edges = [1 - (args.clipLow ?? 0.2), 1 + (args.clipHigh ?? 0.28), ...(args.clipC ? [args.clipC] : [])];
  const oldLogprobs = Float32Array.from(current, (lp) => {
    let r: number;
    do r = rng.uniform(0.55, 1.7);
    while (edges.some((e) => Math.abs(r - e) < margin));
    return lp - Math.log(r);
  });
  return { ...args, oldLogprobs };
}

function finiteDifference(args: NativeLossArgs, index: number, h: number): number {
  const logits = Float32Array.from(args.logits as Float32Array);
  const base = logits[index];
  logits[index] = base + h;
  const up = referenceDapoLoss({ ...args, logits }).loss;
  logits[index] = base - h;
  const down = referenceDapoLoss({ ...args, logits }).loss;
  const stepUp = Math.fround(base + h) - base;
  const stepDown = base - Math.fround(base - h);
  return (up - down) / (stepUp + stepDown);
}

describe('d loss / d logits against finite differences', () => {
  const rng = new Rng(seed);
  for (const aggregation of ['token-mean', 'seq-mean-token-mean', 'seq-mean-token-sum'] as Aggregation[]) {
    for (const clipC of [undefined, 1.5]) {
      test(`${aggregation} clipC=${clipC ?? 'off'}`, () => {
        // Redraw until some token is unclipped: a case whose gradient is all zero checks nothing.
        let args: NativeLossArgs;
        do args = awayFromKinks(randomLossArgs(rng, { n: 6, v: 7, dtype: 'f32', aggregation, clipC }), 0.03, rng);
        while (maxAbs(referenceDapoLoss(args).grad) < 1e-2);
        const native = dapoLoss(args).grad;
        const reference = referenceDapoLoss(args).grad;
        let worst = 0;
        let largest = 0;
        for (let i = 0; i < native.length; i++) {
          const fd = finiteDifference(args, i, 1e-3);
          worst = Math.max(worst, Math.abs(native[i] - fd), Math.abs(reference[i] - fd));
          largest = Math.max(largest, Math.abs(fd));
        }
        assert.ok(largest > 1e-3, 'the check has a gradient to compare');
        assert.ok(worst < 2e-4 * Math.max(1, largest), `max |grad - fd| = ${worst} (largest ${largest})`);
      });
    }
  }
});

describe('the KL penalty against finite differences', () => {
  test('d loss / d logits with klCoef and a reference', () => {
    const rng = new Rng(seed + 2);
    let args: NativeLossArgs;
    do args = awayFromKinks(randomLossArgs(rng, { n: 6, v: 7, dtype: 'f32', aggregation: 'token-mean', clipC: 3 }), 0.03, rng);
    while (maxAbs(referenceDapoLoss(args).grad) < 1e-2);
    const current = referenceDapoLoss(args).logprobs;
    args = { ...args, refLogprobs: Float32Array.from(current, (lp) => lp + rng.uniform(-0.8, 0.8)), klCoef: 0.7 };
    const native = dapoLoss(args).grad;
    let worst = 0;
    for (let i = 0; i < native.length; i++) worst = Math.max(worst, Math.abs(native[i] - finiteDifference(args, i, 1e-3)));
    assert.ok(worst < 2e-4, `max |grad - fd| = ${worst}`);
  });
});

describe('d loss / d logprobs against finite differences', () => {
  test('log-probs mode, token-mean with dual clip', () => {
    const rng = new Rng(seed + 1);
    const n = 40;
    const logprobs = Float32Array.from({ length: n }, () => -rng.uniform(0.1, 4));
    const edges = [0.8, 1.28];
    const oldLogprobs = Float32Array.from(logprobs, (lp) => {
      let r: number;
      do r = rng.uniform(0.5, 1.8);
      while (edges.some((e) => Math.abs(r - e) < 0.03) || Math.abs(r - 2) < 0.03);
      return lp - Math.log(r);
    });
    const args: NativeLossArgs = {
      logprobs,
      oldLogprobs,
      advantages: Float32Array.from({ length: n }, () => rng.uniform(-2, 2)),
      mask: Uint8Array.from({ length: n }, () => (rng.next() < 0.85 ? 1 : 0)),
      clipC: 2,
    };
    const grad = dapoLoss(args).grad;
    for (let i = 0; i < n; i++) {
      const h = 1e-3;
      const lp = Float64Array.from(logprobs);
      const at = (x: number) => {
        lp[i] = x;
        return referenceDapoLoss({ ...args, logprobs: Float32Array.from(lp) }).loss;
      };
      const up = Math.fround(logprobs[i] + h);
      const down = Math.fround(logprobs[i] - h);
      const fd = (at(up) - at(down)) / (up - down);
      assert.ok(Math.abs(grad[i] - fd) < 1e-4, `token ${i}: grad ${grad[i]} fd ${fd}`);
    }
  });
});
