// Random DAPO loss inputs whose ratios straddle both clip edges.
import { numberToBf16, referenceDapoLoss, type Aggregation } from '../../src/index.js';
import type { NativeLossArgs } from '../../src/native.js';
import { randomSeqIds, Rng } from './random.js';

export interface LossCase {
  n: number;
  v: number;
  dtype: 'f32' | 'bf16';
  aggregation: Aggregation;
  clipC?: number;
  entropy?: boolean;
}


export function randomLossArgs(rng: Rng, c: LossCase): NativeLossArgs {
  const logitsF32 = rng.floats(c.n * c.v, 2);
  const logits = c.dtype === 'bf16' ? Uint16Array.from(logitsF32, numberToBf16) : logitsF32;
  const tokens = Int32Array.from({ length: c.n }, () => rng.int(c.v));
  const advantages = Float32Array.from({ length: c.n }, () => (rng.next() < 0.5 ? -1 : 1) * rng.uniform(0.1, 2));
  const mask = Uint8Array.from({ length: c.n }, () => (rng.next() < 0.8 ? 1 : 0));
  const seqIds = randomSeqIds(rng, c.n);
  // Old log-probs = current ones shifted so ratios spread over [0.55, 1.7]: across both edges.
  const current = referenceDapoLoss({
    logits,
    vocabSize: c.v,
    tokens,
    oldLogprobs: new Float32Array(c.n),
    advantages,
    mask,
  }).logprobs;
  const oldLogprobs = Float32Array.from(current, (lp) => lp - Math.log(rng.uniform(0.55, 1.7)));
  return {
    logits,
    vocabSize: c.v,
    tokens,
    oldLogprobs,
    advantages,
    mask,
    seqIds,
    aggregation: c.aggregation,
    clipC: c.clipC,
    entropy: c.entropy,
  };
}
