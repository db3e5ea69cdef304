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

/** How far a generation batch has got (reported after each part of it). */
export interface GenerationProgress {
  sequences: number;
  totalSequences: number;
  /** Response tokens generated so far. */
  tokens: number;
}

export interface GenerateGroupsOptions {
  /**
   * Called as parts of the batch finish: the batch is then generated in up to 8 calls of at
   * least 64 sequences each, which draws the same samples (draws are keyed by prompt id).
   */
  onProgress?: (progress: GenerationProgress) => void;
}

const PROGRESS_PARTS = 8;
const MIN_PART_SEQUENCES = 64;

/** Prompt index ranges of the generate calls: one call, or parts when progress is wanted. */
function generationParts(prompts: number, n: number, progress: boolean): Array<[number, number]> {
  const perPart = progress ? Math.max(1, Math.floor(Math.max(MIN_PART_SEQUENCES, Math.ceil((prompts * n) / PROGRESS_PARTS)) / n)) : prompts;
  const parts: Array<[number, number]> = [];
  for (let start = 0; start < prompts; start += perPart) parts.push([start, Math.min(prompts, start + perPart)]);
  return parts;
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
  options: GenerateGroupsOptions = {},
): Promise<Group[]> {
  const samples: Awaited<ReturnType<SamplingPolicy['generate']>> = [];
  const done = { sequences: 0, totalSequences: rows.length * sampling.n, tokens: 0 };
  for (const [start, end] of generationParts(rows.length, sampling.n, options.onProgress !== undefined)) {
    const part = await policy.generate(promptIds.slice(start, end), {
      n: sampling.n,
      maxNewTokens: sampling.maxResponseLen,
      temperature: sampling.temperature,
      topP: sampling.topP,
      topK: sampling.topK,
      seed,
      stop: tokenizer.eosTokenIds,
      // Draws keyed by dataset row, so a prompt's samples do not depend on what it is batched with.
      promptIds: rows.slice(start, end).map((r) => r.id),
    });
    samples.push(...part);
    for (const group of part) {
      done.sequences += group.length;
      for (const s of group) done.tokens += s.tokens.length;
    }
    options.onProgress?.({ ...done });
  }
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
