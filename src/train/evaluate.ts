// Validation: k samples per held-out prompt; val/acc is the mean correctness over all samples,
// val/pass@k the share of prompts with at least one correct sample.
import type { PromptRow } from '../data/index.js';
import type { RewardFn } from '../reward/index.js';
import { generateGroups } from '../rollout/generate.js';
import type { SamplingPolicy } from '../rollout/types.js';
import type { TextTokenizer } from '../tokenizer/index.js';
import { chunks } from './batch.js';
import type { TrainConfig } from './config.js';

export interface EvalResult {
  'val/acc': number;
  'val/pass@k': number;
  'val/reward_mean': number;
  'val/response_length': number;
}

export async function evaluate(
  policy: SamplingPolicy,
  tokenizer: TextTokenizer,
  reward: RewardFn,
  rows: PromptRow[],
  promptIds: Int32Array[],
  config: TrainConfig,
  seed: number,
): Promise<EvalResult> {
  let correct = 0;
  let samples = 0;
  let solved = 0;
  let rewardSum = 0;
  let lengthSum = 0;
  const indices = rows.map((_, i) => i);
  for (const part of chunks(indices, Math.max(1, config.genBatch))) {
    const groups = await generateGroups(
      policy,
      tokenizer,
      reward,
      part.map((i) => rows[i]),
      part.map((i) => promptIds[i]),
      { n: config.valSamples, maxResponseLen: config.maxResponseLen, temperature: config.valTemperature, topP: config.valTopP, topK: 0 },
      { overlongShaping: false, maxResponseLen: config.maxResponseLen, overlongBuffer: config.overlongBuffer, overlongPenalty: 0 },
      seed,
    );
    for (const g of groups) {
      const right = g.rollouts.filter((r) => r.acc).length;
      correct += right;
      samples += g.rollouts.length;
      solved += right > 0 ? 1 : 0;
      for (const r of g.rollouts) {
        rewardSum += r.taskScore;
        lengthSum += r.response.length;
      }
    }
  }
  const per = (x: number, n: number) => (n > 0 ? x / n : 0);
  return {
    'val/acc': per(correct, samples),
    'val/pass@k': per(solved, rows.length),
    'val/reward_mean': per(rewardSum, samples),
    'val/response_length': per(lengthSum, samples),
  };
}
