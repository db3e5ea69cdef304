// What the rollout layer hands the trainer: groups of responses to one prompt, scored.
import type { PromptRow } from '../data/index.js';

export interface Rollout {
  /** Response token ids, the stop token included when the response finished on one. */
  response: Int32Array;
  /** Log-probs of the response tokens under the policy that sampled them. */
  sampleLogprobs: Float32Array;
  /** True when the response ended on a stop token; false when cut at maxResponseLen. */
  finished: boolean;
  text: string;
  /** Task score (+1 / -1 for DAPO-Math) before overlong shaping. */
  taskScore: number;
  /** Overlong shaping added to the score (0 or negative). */
  overlongPenalty: number;
  /** The reward the advantage is computed from: taskScore + overlongPenalty. */
  reward: number;
  /** Raw correctness: what dynamic sampling filters on. */
  acc: boolean;
}

export interface Group {
  row: PromptRow;
  promptIds: Int32Array;
  rollouts: Rollout[];
}

/** What rollouts need from a policy: n samples per prompt, grouped by prompt. */
export interface SamplingPolicy {
  generate(
    prompts: Int32Array[],
    options: { n: number; maxNewTokens: number; temperature: number; topP: number; topK: number; seed: number; stop: number[]; promptIds?: number[] },
  ): Promise<Array<Array<{ tokens: Int32Array; logprobs: Float32Array; finished: boolean }>>>;
}
