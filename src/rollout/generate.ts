// One generation batch: n responses for each prompt, decoded and scored.
import type { PromptRow } from '../data/index.js';
import type { RewardFn } from '../reward/index.js';
import type { TextTokenizer } from '../tokenizer/index.js';
import { scoreResponse, type ShapingConfig } from './score.js';
import type { Group, SamplingPolicy } from './types.js';

export interface SamplingConfig {
  n: number;
  maxResponseLen: number;
  temperature: number;
  topP: number;
  topK: number;
}

export async function generateGroups(
  policy: SamplingPolicy,
  tokenizer: TextTokenizer,
  reward: RewardFn,
  rows: PromptRow[],
  promptIds: Int32Array[],
  sampling: SamplingConfig,
  shaping: ShapingConfig,
  seed: number,
): Promise<Group[]> {
  const samples = await policy.generate(promptIds, {
    n: sampling.n,
    maxNewTokens: sampling.maxResponseLen,
    temperature: sampling.temperature,
    topP: sampling.topP,
    topK: sampling.topK,
    seed,
    stop: tokenizer.eosTokenIds,
    // Draws keyed by dataset row, so a prompt's samples do not depend on what it is batched with.
    promptIds: rows.map((r) => r.id),
  });
  // Models pad their embedding past the tokenizer (Qwen: 151936 rows, 151669 tokens); a sampled
  // padding id has no text, as in Hugging Face's decode, so it is left out of the decoded text.
  const decodable = (ids: Int32Array) => (ids.every((id) => id < tokenizer.vocabSize) ? ids : ids.filter((id) => id < tokenizer.vocabSize));
  const texts = await tokenizer.decodeBatch(
    samples.flatMap((group) => group.map((s) => decodable(s.tokens))),
    { skipSpecialTokens: true },
  );
  let next = 0;
  const groups: Group[] = [];
  for (let p = 0; p < rows.length; p++) {
    const rollouts = [];
    for (const sample of samples[p]) {
      const text = texts[next++];
      const scored = await scoreResponse(reward, text, rows[p], sample.tokens.length, shaping);
      rollouts.push({ response: sample.tokens, sampleLogprobs: sample.logprobs, finished: sample.finished, text, ...scored });
    }
    groups.push({ row: rows[p], promptIds: promptIds[p], rollouts });
  }
  return groups;
}
