// The policy update on one training batch: old log-probs, then for each epoch over the batch,
// mini-batches of groups, each split into micro-batches whose gradients accumulate with the
// mini-batch's token count as the divisor, then one AdamW step.
import type { AccumulateResult, PackedBatch, PolicyLoss, StepOptions, StepResult, TrainBatch } from '../policy/index.js';
import type { TrainConfig } from './config.js';
import { chunks, lossDivisors, packSamples, type TrainSample } from './batch.js';

/** What the update needs from a policy (Policy implements it; tests may wrap it). */
export interface TrainablePolicy {
  logprobs(batch: PackedBatch, options?: { temperature?: number }): Promise<Float32Array>;
  accumulate(batch: TrainBatch, loss: PolicyLoss): Promise<AccumulateResult>;
  step(options: StepOptions): Promise<StepResult>;
}

export interface UpdateMetrics {
  'actor/pg_loss': number;
  'actor/entropy': number;
  'actor/clipfrac_low': number;
  'actor/clipfrac_high': number;
  'actor/clipfrac_dual': number;
  'actor/approx_kl': number;
  'actor/kl_ref': number;
  'actor/grad_norm': number;
  'actor/lr': number;
  'actor/optimizer_steps': number;
  'actor/trained_tokens': number;
}

/** Linear warm-up to `lr` over `warmup` optimizer steps, then constant (verl's DAPO recipe). */
export function learningRate(config: Pick<TrainConfig, 'lr' | 'warmup'>, optimizerStep: number): number {
  if (config.warmup <= 0) return config.lr;
  return config.lr * Math.min(1, (optimizerStep + 1) / config.warmup);
}

/** Fills each sample's `field` with its response log-probs under `policy`, micro-batch by micro-batch. */
export async function computeLogprobs(
  policy: Pick<TrainablePolicy, 'logprobs'>,
  samples: TrainSample[],
  microBatch: number,
  field: 'oldLogprobs' | 'refLogprobs',
  temperature: number,
): Promise<void> {
  for (const micro of chunks(samples, microBatch)) {
    const logprobs = await policy.logprobs(packSamples(micro), { temperature });
    let at = 0;
    for (const s of micro) {
      s[field] = logprobs.slice(at, at + s.response.length);
      at += s.response.length;
    }
  }
}

/** `reference` is the frozen policy of the KL penalty; needed when config.klCoef > 0. */
export async function updatePolicy(
  policy: TrainablePolicy,
  samples: TrainSample[],
  config: TrainConfig,
  optimizerStepsSoFar: number,
  reference?: Pick<TrainablePolicy, 'logprobs'>,
): Promise<{ metrics: UpdateMetrics; optimizerSteps: number }> {
  // Only groups carried over from an earlier step lack them (sampled by an older policy).
  await computeLogprobs(policy, samples.filter((s) => !s.oldLogprobs), config.microBatch, 'oldLogprobs', config.temperature);
  if (config.klCoef > 0) {
    if (!reference) throw new Error('a KL penalty (klCoef > 0) needs the reference policy');
    await computeLogprobs(reference, samples, config.microBatch, 'refLogprobs', config.temperature);
  }
  const perMini = config.miniBatch * config.n;
  const sums = { loss: 0, entropy: 0, low: 0, high: 0, dual: 0, kl: 0, klRef: 0, tokens: 0, gradNorm: 0, minis: 0 };
  let steps = optimizerStepsSoFar;
  let lr = learningRate(config, steps);
  for (let epoch = 0; epoch < config.epochsPerBatch; epoch++) {
    for (const mini of chunks(samples, perMini)) {
      // Counts are at least 1: a mini-batch with nothing counted has zero weights either way.
      const divisors = lossDivisors(mini);
      const tokenCount = Math.max(1, divisors.tokenCount), seqCount = Math.max(1, divisors.seqCount);
      let miniLoss = 0;
      for (const micro of chunks(mini, config.microBatch)) {
        const batch = packSamples(micro);
        const result = await policy.accumulate(batch, {
          kind: 'dapo',
          clipLow: config.clipLow,
          clipHigh: config.clipHigh,
          ...(config.clipC > 0 ? { clipC: config.clipC } : {}),
          aggregation: config.aggregation,
          ...(config.klCoef > 0 ? { klCoef: config.klCoef } : {}),
          temperature: config.temperature,
          tokenCount,
          seqCount,
          entropy: true,
        });
        if (!Number.isFinite(result.loss)) throw new RangeError(`the policy loss became ${result.loss}; stopping before training on it`);
        miniLoss += result.loss;
        const t = result.tokens;
        sums.tokens += t;
        sums.low += result.stats.clipFracLow * t;
        sums.high += result.stats.clipFracHigh * t;
        sums.dual += result.stats.clipFracDual * t;
        sums.kl += result.stats.approxKl * t;
        sums.klRef += result.stats.klRef * t;
        if (result.entropy) sums.entropy += countedSum(result.entropy, batch.mask!);
      }
      lr = learningRate(config, steps);
      // The engine refuses (throws) a step whose gradient is not finite, before touching weights.
      const { gradNorm } = await policy.step({ lr, weightDecay: config.weightDecay, betas: [config.beta1, config.beta2], clipGradNorm: config.clipGrad > 0 ? config.clipGrad : undefined });
      steps++;
      sums.loss += miniLoss;
      sums.gradNorm += gradNorm;
      sums.minis++;
    }
  }
  const per = (x: number, n: number) => (n > 0 ? x / n : 0);
  return {
    optimizerSteps: steps,
    metrics: {
      'actor/pg_loss': per(sums.loss, sums.minis),
      'actor/entropy': per(sums.entropy, sums.tokens),
      'actor/clipfrac_low': per(sums.low, sums.tokens),
      'actor/clipfrac_high': per(sums.high, sums.tokens),
      'actor/clipfrac_dual': per(sums.dual, sums.tokens),
      'actor/approx_kl': per(sums.kl, sums.tokens),
      'actor/kl_ref': per(sums.klRef, sums.tokens),
      'actor/grad_norm': per(sums.gradNorm, sums.minis),
      'actor/lr': lr,
      'actor/optimizer_steps': steps,
      'actor/trained_tokens': sums.tokens,
    },
  };
}

function countedSum(values: Float32Array, mask: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < values.length; i++) if (mask[i]) s += values[i];
  return s;
}
