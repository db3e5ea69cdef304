// Random DAPO loss inputs whose ratios straddle both clip edges.
import { numberToBf16, referenceDapoLoss, type Aggregation } from '../../src/index.js';
import { aggregationWeights, tokenLoss } from '../../src/loss/reference.js';
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

// The loss is a sum of terms of both signs that can nearly cancel, so its error is measured
// against the size of the terms, sum_t w_t |l_t|, not against the (possibly tiny) total.
export function lossScale(args: NativeLossArgs, logprobs: Float32Array): number {
  const w = aggregationWeights(args.mask, args.seqIds, args.aggregation ?? 'token-mean', args.tokenCount, args.seqCount);
  const clip = { clipLow: args.clipLow ?? 0.2, clipHigh: args.clipHigh ?? 0.28, clipC: args.clipC };
  let scale = 0;
  for (let i = 0; i < logprobs.length; i++) scale += w[i] * Math.abs(tokenLoss(logprobs[i], args.oldLogprobs[i], args.advantages[i], clip).loss);
  return scale;
}
