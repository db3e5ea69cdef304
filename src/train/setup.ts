// Everything a run needs before its first step: policy, tokenizer, prompts (train and
// validation, already encoded), the reward function.
import { resolve } from 'node:path';

import { loadPromptDataset, type PromptRow } from '../data/index.js';
import { Policy, type PolicyLoadOptions } from '../policy/index.js';
import { resolveReward, type RewardFn } from '../reward/index.js';
import { isBuiltinDataset, makeBuiltinTask, type BuiltinTask } from '../task/index.js';
import { loadTokenizer, type TextTokenizer } from '../tokenizer/index.js';
import type { TrainConfig } from './config.js';

export interface Prompts {
  rows: PromptRow[];
  ids: Int32Array[];
}

export interface RunInputs {
  policy: Policy;
  tokenizer: TextTokenizer;
  train: Prompts;
  val: Prompts | undefined;
  reward: RewardFn;
  builtinTask: BuiltinTask | undefined;
  notes: string[];
}

async function encodeRows(rows: PromptRow[], tokenizer: TextTokenizer): Promise<Int32Array[]> {
  return Promise.all(rows.map((r) => r.promptIds ?? tokenizer.encodeChat(r.messages)));
}

export async function loadParquetPrompts(file: string, config: TrainConfig, tokenizer: TextTokenizer, notes: string[]): Promise<Prompts> {
  const dataset = await loadPromptDataset(file, {
    inputKey: config.inputKey,
    answerKey: config.answerKey,
    instruction: config.instruction,
    dedupe: config.dedupe,
    encodePrompt: (messages) => tokenizer.encodeChat(messages),
    maxPromptLen: config.maxPromptLen,
    overlongPrompt: config.promptOverflow,
  });
  const s = dataset.stats;
  notes.push(
    `${file}: ${s.rows} prompts (${s.fileRows} rows read, ${s.duplicates} duplicates, ${s.nullRows} empty, ` +
      `${s.dropped} dropped and ${s.truncated} truncated at maxPromptLen ${config.maxPromptLen})`,
  );
  return { rows: dataset.rows, ids: dataset.rows.map((r) => r.promptIds!) };
}

/** Where and how the run's policies are held: --device, --dtype, --recompute. */
export function policyOptions(config: Pick<TrainConfig, 'device' | 'dtype' | 'recompute'>): PolicyLoadOptions {
  return { device: config.device, dtype: config.dtype === 'auto' ? undefined : config.dtype, recompute: config.recompute };
}

/** `modelSource` overrides config.model (a checkpoint's model folder when resuming). */
export async function setupRun(config: TrainConfig, modelSource?: string): Promise<RunInputs> {
  const notes: string[] = [];
  const builtinData = isBuiltinDataset(config.dataset);
  // The reward module first: a wrong path fails before a model is loaded for nothing.
  const reward = await resolveReward(config.reward, { timeoutSeconds: config.rewardTimeout });
  const policy = await Policy.load(modelSource ?? config.model, { ...policyOptions(config), seed: config.seed });
  const tokenizer: TextTokenizer = policy.tokenizer ?? loadTokenizer(resolve(modelSource ?? config.model));
  if (!tokenizer.hasChatTemplate) notes.push('the tokenizer has no chat template: prompts are plain text');

  // --reward applies to the built-in task as to a parquet file (its rows carry the answer).
  if (builtinData) {
    const task = makeBuiltinTask(config.dataset, config.seed);
    const encode = async (rows: PromptRow[]) => ({ rows, ids: await encodeRows(rows, tokenizer) });
    notes.push(`built-in task: ${task.train.length} training problems, ${task.val.length} held out`);
    if (config.reward !== 'dapo-math') notes.push(`reward: ${config.reward}`);
    return { policy, tokenizer, train: await encode(task.train), val: await encode(task.val), reward, builtinTask: task, notes };
  }

  const train = await loadParquetPrompts(config.dataset, config, tokenizer, notes);
  const val = config.valDataset ? await loadParquetPrompts(config.valDataset, config, tokenizer, notes) : undefined;
  return { policy, tokenizer, train, val, reward, builtinTask: undefined, notes };
}
