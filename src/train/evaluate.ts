// Validation: k samples per held-out prompt. val/acc is the mean correctness over all samples
// (avg@k), val/pass@k the share of prompts with at least one correct sample. Per data source,
// the same in verl's layout (val-core/<data_source>/acc/mean@k, ...) with pass@j for j <= k
// from the unbiased estimator of Chen et al. 2021 (arXiv 2107.03374).
import type { PromptRow } from '../data/index.js';
import type { RewardFn } from '../reward/index.js';
import { generateGroups, type GenerationProgress } from '../rollout/generate.js';
import type { SamplingPolicy } from '../rollout/types.js';
import type { TextTokenizer } from '../tokenizer/index.js';
import { chunks } from './batch.js';
import type { TrainConfig } from './config.js';
import type { Metrics } from './metrics.js';

export interface EvalResult {
  'val/acc': number;
  'val/pass@k': number;
  'val/reward_mean': number;
  'val/response_length': number;
}

export type EvalSettings = Pick<TrainConfig, 'genBatch' | 'valSamples' | 'maxResponseLen' | 'valTemperature' | 'valTopP'>;

/** One prompt's samples, scored. */
export interface PromptScore {
  dataSource: string;
  samples: number;
  correct: number;
  /** Sum of the task scores (no overlong shaping in validation). */
  scoreSum: number;
  lengthSum: number;
}

export interface EvalOptions {
  /** Progress over the whole evaluation, after each part of each generation batch. */
  onProgress?: (progress: GenerationProgress) => void;
}

/** Generates valSamples responses per prompt and scores them, prompt by prompt. */
export async function scorePrompts(
  policy: SamplingPolicy,
  tokenizer: TextTokenizer,
  reward: RewardFn,
  rows: PromptRow[],
  promptIds: Int32Array[],
  settings: EvalSettings,
  seed: number,
  options: EvalOptions = {},
): Promise<PromptScore[]> {
  const scores: PromptScore[] = [];
  const total = rows.length * settings.valSamples;
  const before = { sequences: 0, tokens: 0 };
  const indices = rows.map((_, i) => i);
  for (const part of chunks(indices, Math.max(1, settings.genBatch))) {
    const onProgress = options.onProgress;
    const groups = await generateGroups(
      policy,
      tokenizer,
      reward,
      part.map((i) => rows[i]),
      part.map((i) => promptIds[i]),
      { n: settings.valSamples, maxResponseLen: settings.maxResponseLen, temperature: settings.valTemperature, topP: settings.valTopP, topK: 0 },
      { overlongShaping: false, maxResponseLen: settings.maxResponseLen, overlongBuffer: 0, overlongPenalty: 0 },
      seed,
      onProgress ? { onProgress: (p) => onProgress({ sequences: before.sequences + p.sequences, totalSequences: total, tokens: before.tokens + p.tokens }) } : {},
    );
    for (const g of groups) {
      const score: PromptScore = { dataSource: g.row.dataSource ?? 'unknown', samples: g.rollouts.length, correct: 0, scoreSum: 0, lengthSum: 0 };
      for (const r of g.rollouts) {
        score.correct += r.acc ? 1 : 0;
        score.scoreSum += r.taskScore;
        score.lengthSum += r.response.length;
      }
      scores.push(score);
      before.sequences += score.samples;
      before.tokens += score.lengthSum;
    }
  }
  return scores;
}

const per = (x: number, n: number) => (n > 0 ? x / n : 0);

export function summarize(scores: PromptScore[]): EvalResult {
  const sum = (f: (s: PromptScore) => number) => scores.reduce((a, s) => a + f(s), 0);
  const samples = sum((s) => s.samples);
  return {
    'val/acc': per(sum((s) => s.correct), samples),
    'val/pass@k': per(sum((s) => (s.correct > 0 ? 1 : 0)), scores.length),
    'val/reward_mean': per(sum((s) => s.scoreSum), samples),
    'val/response_length': per(sum((s) => s.lengthSum), samples),
  };
}

export async function evaluate(
  policy: SamplingPolicy,
  tokenizer: TextTokenizer,
  reward: RewardFn,
  rows: PromptRow[],
  promptIds: Int32Array[],
  config: EvalSettings,
  seed: number,
  options: EvalOptions = {},
): Promise<EvalResult> {
  return summarize(await scorePrompts(policy, tokenizer, reward, rows, promptIds, config, seed, options));
}

/**
 * The unbiased estimate of pass@k from n samples of which c are correct: the chance that k
 * drawn without replacement hold at least one correct, 1 - C(n-c, k) / C(n, k), computed as a
 * product so it neither overflows nor cancels.
 */
export function passAtK(n: number, c: number, k: number): number {
  if (!(Number.isInteger(n) && Number.isInteger(c) && Number.isInteger(k)) || n < 1 || c < 0 || c > n || k < 1 || k > n)
    throw new RangeError(`passAtK needs integers 1 <= k <= n and 0 <= c <= n, got n ${n}, c ${c}, k ${k}`);
  if (n - c < k) return 1;
  let missAll = 1;
  for (let i = n - c + 1; i <= n; i++) missAll *= 1 - k / i;
  return 1 - missAll;
}

/** 1, 2, 4, ... below n, then n. */
function passKs(n: number): number[] {
  const ks: number[] = [];
  for (let k = 1; k < n; k *= 2) ks.push(k);
  ks.push(n);
  return ks;
}

/**
 * Per data source, in verl's layout: val-core/<ds>/acc/mean@n and pass@n (the headline
 * numbers); val-aux/<ds>/acc/pass@j for smaller j, acc/std@n, reward/mean@n and the prompt
 * count. n is the samples per prompt (the smallest, should prompts differ).
 */
export function dataSourceMetrics(scores: PromptScore[]): Metrics {
  const bySource = new Map<string, PromptScore[]>();
  for (const s of scores) bySource.set(s.dataSource, [...(bySource.get(s.dataSource) ?? []), s]);
  const out: Metrics = {};
  for (const [source, list] of bySource) {
    const n = Math.min(...list.map((s) => s.samples));
    const samples = list.reduce((a, s) => a + s.samples, 0);
    const accMean = per(list.reduce((a, s) => a + s.correct, 0), samples);
    out[`val-core/${source}/acc/mean@${n}`] = accMean;
    for (const k of passKs(n)) {
      const section = k === n ? 'val-core' : 'val-aux';
      out[`${section}/${source}/acc/pass@${k}`] = per(list.reduce((a, s) => a + passAtK(s.samples, s.correct, k), 0), list.length);
    }
    // As verl: each prompt's std over its samples (0/1 correctness), averaged over the prompts.
    if (n > 1) out[`val-aux/${source}/acc/std@${n}`] = per(list.reduce((a, s) => a + Math.sqrt((s.correct / s.samples) * (1 - s.correct / s.samples)), 0), list.length);
    out[`val-aux/${source}/reward/mean@${n}`] = per(list.reduce((a, s) => a + s.scoreSum, 0), samples);
    out[`val-aux/${source}/response_length/mean@${n}`] = per(list.reduce((a, s) => a + s.lengthSum, 0), samples);
    out[`val-aux/${source}/prompts`] = list.length;
  }
  return out;
}
