// The DAPO loss in plain TypeScript with float64 arithmetic: the readable statement of the math
// that the native kernels implement, the twin they are tested against, and the benchmark's
// baseline. Matches verl's compute_policy_loss ("vanilla") and agg_loss.
import type { Aggregation, LossStats, NativeLossArgs, NativeLossResult } from '../native.js';
import { typeError } from '../errors.js';

export const LOG_RATIO_CLAMP = 20;

// One shared 4-byte scratch: bf16 is the upper half of a float32.
const scratchBits = new Uint32Array(1);
const scratchFloat = new Float32Array(scratchBits.buffer);

/** bfloat16 bits to a number (the upper half of a float32). */
export function bf16ToNumber(bits: number): number {
  scratchBits[0] = (bits & 0xffff) << 16;
  return scratchFloat[0];
}

/** A number rounded to bfloat16 bits, nearest-even (as PyTorch rounds). */
export function numberToBf16(x: number): number {
  scratchFloat[0] = x;
  const bits = scratchBits[0];
  if ((bits & 0x7fffffff) > 0x7f800000) return ((bits >>> 16) | 0x40) & 0xffff;
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}

export interface ClipOptions {
  clipLow: number;
  clipHigh: number;
  clipC?: number;
}

export interface TokenLossTerms {
  loss: number;
  dLossDLogp: number;
  negLogRatio: number;
  clippedLow: boolean;
  clippedHigh: boolean;
  dualClipped: boolean;
}

/**
 * One token: r = exp(clamp(logp - old, -20, 20));
 * l = max(-A r, -A clip(r, 1 - clipLow, 1 + clipHigh)); with clipC and A < 0, l = min(l, -A clipC).
 * The gradient is zero where a clipped branch is strictly active (ties keep the unclipped one).
 */
export function tokenLoss(logp: number, oldLogp: number, advantage: number, clip: ClipOptions): TokenLossTerms {
  const rawLogRatio = logp - oldLogp;
  const logRatio = Math.min(Math.max(rawLogRatio, -LOG_RATIO_CLAMP), LOG_RATIO_CLAMP);
  const ratio = Math.exp(logRatio);
  const low = 1 - clip.clipLow;
  const high = 1 + clip.clipHigh;
  const unclipped = -advantage * ratio;
  const clipped = -advantage * Math.min(Math.max(ratio, low), high);
  let loss = Math.max(unclipped, clipped);
  let grad = clipped > unclipped || logRatio !== rawLogRatio ? 0 : -advantage * ratio;
  let dualClipped = false;
  if (clip.clipC !== undefined && advantage < 0 && loss > -advantage * clip.clipC) {
    loss = -advantage * clip.clipC;
    grad = 0;
    dualClipped = true;
  }
  return {
    loss,
    dLossDLogp: grad,
    negLogRatio: -logRatio,
    clippedLow: ratio < low && advantage < 0,
    clippedHigh: ratio > high && advantage > 0,
    dualClipped,
  };
}

/**
 * The KL penalty to a frozen reference (verl's "low_var_kl", k3): d = clamp(ref - logp, -20, 20),
 * kl = clamp(exp(d) - d - 1, -10, 10); added to each token's loss times klCoef.
 */
export function klPenalty(logp: number, refLogp: number): { value: number; dValueDLogp: number } {
  const raw = refLogp - logp;
  const d = Math.min(Math.max(raw, -LOG_RATIO_CLAMP), LOG_RATIO_CLAMP);
  const kl = Math.exp(d) - d - 1;
  const inside = d === raw && kl <= 10;
  return { value: Math.min(Math.max(kl, -10), 10), dValueDLogp: inside ? 1 - Math.exp(d) : 0 };
}

/** Per-token weights w so that loss = sum w_t l_t (see native/loss/aggregation.h). */
export function aggregationWeights(
  mask: Uint8Array,
  seqIds: Int32Array | undefined,
  aggregation: Aggregation,
  tokenCount?: number,
  seqCount?: number,
): Float64Array {
  const n = mask.length;
  const weights = new Float64Array(n);
  if (aggregation === 'token-mean') {
    let counted = 0;
    for (let i = 0; i < n; i++) counted += mask[i] ? 1 : 0;
    const divisor = tokenCount ?? counted;
    for (let i = 0; i < n; i++) weights[i] = mask[i] && divisor > 0 ? 1 / divisor : 0;
    return weights;
  }
  if (!seqIds) throw typeError('seqIds is required by the seq-mean aggregations');
  const perSeq = new Map<number, number>();
  for (let i = 0; i < n; i++) if (mask[i]) perSeq.set(seqIds[i], (perSeq.get(seqIds[i]) ?? 0) + 1);
  const sequences = seqCount ?? perSeq.size;
  for (let i = 0; i < n; i++) {
    if (!mask[i] || sequences <= 0) continue;
    const length = aggregation === 'seq-mean-token-mean' ? perSeq.get(seqIds[i])! : 1;
    weights[i] = 1 / (length * sequences);
  }
  return weights;
}

interface RowSoftmax {
  lse: number;
  entropy: number;
}

function rowSoftmax(row: ArrayLike<number>, decode: (x: number) => number): RowSoftmax {
  let max = -Infinity;
  for (let j = 0; j < row.length; j++) max = Math.max(max, decode(row[j]));
  let sum = 0;
  let weighted = 0;
  for (let j = 0; j < row.length; j++) {
    const d = decode(row[j]) - max;
    const e = Math.exp(d);
    sum += e;
    weighted += e * d;
  }
  return { lse: max + Math.log(sum), entropy: Math.log(sum) - weighted / sum };
}

/** The DAPO loss, log-probs, entropy, gradient and clip statistics, computed plainly. */
export function referenceDapoLoss(args: NativeLossArgs): NativeLossResult {
  const n = args.oldLogprobs.length;
  const clip: ClipOptions = { clipLow: args.clipLow ?? 0.2, clipHigh: args.clipHigh ?? 0.28, clipC: args.clipC };
  const weights = aggregationWeights(args.mask, args.seqIds, args.aggregation ?? 'token-mean', args.tokenCount, args.seqCount);
  const logprobs = new Float64Array(n); // float64 inside; rounded to float32 only on output
  const entropy = args.entropy && args.logits ? new Float32Array(n) : undefined;
  const v = args.logits ? args.vocabSize! : 1;
  const grad = new Float32Array(args.logits ? n * v : n);
  const decode = args.logits instanceof Uint16Array ? bf16ToNumber : (x: number) => x;
  const lses = new Float64Array(n);

  for (let i = 0; i < n; i++) {
    if (args.logits) {
      const row = args.logits.subarray(i * v, (i + 1) * v);
      const softmax = rowSoftmax(row, decode);
      lses[i] = softmax.lse;
      logprobs[i] = decode(row[args.tokens![i]]) - softmax.lse;
      if (entropy) entropy[i] = softmax.entropy;
    } else {
      logprobs[i] = args.logprobs![i];
    }
  }

  let loss = 0;
  let tokens = 0;
  let low = 0;
  let high = 0;
  let dual = 0;
  let kl = 0;
  let klRef = 0;
  const klCoef = args.klCoef ?? 0;
  for (let i = 0; i < n; i++) {
    const terms = tokenLoss(logprobs[i], args.oldLogprobs[i], args.advantages[i], clip);
    const penalty = klCoef > 0 ? klPenalty(logprobs[i], args.refLogprobs![i]) : { value: 0, dValueDLogp: 0 };
    const tokenTotal = terms.loss + klCoef * penalty.value;
    const scale = weights[i] * (terms.dLossDLogp + klCoef * penalty.dValueDLogp);
    if (args.logits) {
      // d logp / d z_j = [j == token] - softmax_j
      for (let j = 0; j < v; j++) {
        const p = Math.exp(decode(args.logits[i * v + j]) - lses[i]);
        grad[i * v + j] = scale * ((j === args.tokens![i] ? 1 : 0) - p);
      }
    } else {
      grad[i] = scale;
    }
    if (!args.mask[i]) continue;
    loss += weights[i] * tokenTotal;
    tokens++;
    kl += terms.negLogRatio;
    klRef += penalty.value;
    low += terms.clippedLow ? 1 : 0;
    high += terms.clippedHigh ? 1 : 0;
    dual += terms.dualClipped ? 1 : 0;
  }
  const stats: LossStats = {
    clipFracLow: tokens ? low / tokens : 0,
    clipFracHigh: tokens ? high / tokens : 0,
    clipFracDual: tokens ? dual / tokens : 0,
    approxKl: tokens ? kl / tokens : 0,
    klRef: tokens ? klRef / tokens : 0,
    tokens,
  };
  return { loss, grad, logprobs: Float32Array.from(logprobs), ...(entropy ? { entropy } : {}), stats };
}

/** Group-normalised advantages: (R - mean) / (std + eps), unbiased std; a group of one: mean 0, std 1. */
export function referenceGroupAdvantages(
  rewards: Float32Array,
  groupSize: number,
  opts: { std?: boolean; eps?: number } = {},
): Float32Array {
  const useStd = opts.std ?? true;
  const eps = opts.eps ?? 1e-6;
  const out = new Float32Array(rewards.length);
  for (let g = 0; g < rewards.length; g += groupSize) {
    const group = Array.from(rewards.subarray(g, g + groupSize));
    let mean = 0;
    let std = 1;
    if (groupSize > 1) {
      mean = group.reduce((a, b) => a + b, 0) / groupSize;
      std = Math.sqrt(group.reduce((a, r) => a + (r - mean) ** 2, 0) / (groupSize - 1));
    }
    group.forEach((r, i) => (out[g + i] = useStd ? (r - mean) / (std + eps) : r - mean));
  }
  return out;
}
