// Every training option in one table: its default (the DAPO recipe, arXiv 2503.14476 and
// verl's recipe/dapo), its help text and its check. The CLI, config files and presets are
// all read through it, and the resolved config is written beside each run.
import { PRESET_NAMES, PRESETS, type PresetName } from './presets.js';

export { readConfigFile } from './config-file.js';

import { MIN_TEMPERATURE } from '../policy/index.js';
import { DEFAULT_REWARD_TIMEOUT } from '../reward/index.js';

import { BUILTIN_TASKS, isBuiltinDataset } from '../task/index.js';

export const ALGOS = ['dapo', 'grpo'] as const;
export const AGGREGATIONS = ['token-mean', 'seq-mean-token-mean', 'seq-mean-token-sum'] as const;
export const DEVICES = ['auto', 'cpu', 'cuda'] as const;
/** 'auto': bfloat16 on CUDA, float32 on the CPU (the only dtype it computes in). */
export const DTYPES = ['auto', 'bfloat16', 'float32'] as const;
export const PROMPT_OVERFLOW = ['drop', 'left-truncate'] as const;
/** 'tensorboard' adds event files to metrics.jsonl and the console, as verl's trainer.logger. */
export const LOGGERS = ['console', 'tensorboard'] as const;
/** 'auto': the dtype of the model's own safetensors (bfloat16 stays bfloat16). */
export const SAVE_DTYPES = ['auto', 'float32', 'bfloat16'] as const;

export type Algo = (typeof ALGOS)[number];

export interface TrainConfig {
  model: string;
  dataset: string;
  valDataset: string | undefined;
  inputKey: string;
  answerKey: string;
  instruction: string | undefined;
  dedupe: boolean;
  maxPromptLen: number;
  promptOverflow: (typeof PROMPT_OVERFLOW)[number];
  reward: string;
  rewardTimeout: number;
  out: string | undefined;
  warmupCache: string | undefined;
  seed: number;
  device: (typeof DEVICES)[number];
  dtype: (typeof DTYPES)[number];
  recompute: boolean;
  algo: Algo;
  preset: PresetName;

  steps: number;
  epochs: number;
  n: number;
  trainBatch: number;
  genBatch: number;
  maxGenBatches: number;
  dynamicSampling: boolean;
  keepSurplus: boolean;
  maxResponseLen: number;
  temperature: number;
  topP: number;
  topK: number;
  overlongShaping: boolean;
  overlongBuffer: number;
  overlongPenalty: number;
  overlongFilter: boolean;

  miniBatch: number;
  microBatch: number;
  epochsPerBatch: number;
  lr: number;
  warmup: number;
  weightDecay: number;
  clipGrad: number;
  beta1: number;
  beta2: number;
  clipLow: number;
  clipHigh: number;
  clipC: number;
  aggregation: (typeof AGGREGATIONS)[number];
  advantageStd: boolean;
  klCoef: number;

  evalEvery: number;
  valSamples: number;
  valTemperature: number;
  valTopP: number;
  valLimit: number;
  saveEvery: number;
  saveLimit: number;
  plotEvery: number;
  logger: (typeof LOGGERS)[number];
  saveDtype: (typeof SAVE_DTYPES)[number];
}

type Kind = 'string' | 'number' | 'boolean';

export interface OptionSpec<K extends keyof TrainConfig = keyof TrainConfig> {
  key: K;
  kind: Kind;
  describe: string;
  choices?: readonly string[];
  /** Integer, and the least value allowed. */
  int?: boolean;
  min?: number;
  max?: number;
  group: string;
}

export const BUILTIN_MODEL = 'builtin:tiny';
export const BUILTIN_DATASET = 'builtin:arithmetic';

/** The DAPO recipe's defaults (the 17k math run), for a Hugging Face model and a parquet file. */
export const RECIPE_DEFAULTS: TrainConfig = {
  model: BUILTIN_MODEL,
  dataset: BUILTIN_DATASET,
  valDataset: undefined,
  inputKey: 'prompt',
  answerKey: 'reward_model.ground_truth',
  instruction: undefined,
  dedupe: false,
  maxPromptLen: 2048,
  promptOverflow: 'drop',
  reward: 'dapo-math',
  rewardTimeout: DEFAULT_REWARD_TIMEOUT,
  out: undefined,
  warmupCache: undefined,
  seed: 1,
  device: 'auto',
  dtype: 'auto',
  recompute: false,
  algo: 'dapo',
  preset: 'recipe',

  steps: 100,
  epochs: 1,
  n: 16,
  trainBatch: 512,
  genBatch: 1536,
  maxGenBatches: 10,
  dynamicSampling: true,
  keepSurplus: false,
  maxResponseLen: 20480,
  temperature: 1.0,
  topP: 1.0,
  topK: 0,
  overlongShaping: true,
  overlongBuffer: 4096,
  overlongPenalty: 1.0,
  overlongFilter: false,

  miniBatch: 32,
  microBatch: 16,
  epochsPerBatch: 1,
  lr: 1e-6,
  warmup: 10,
  weightDecay: 0.1,
  clipGrad: 1.0,
  beta1: 0.9,
  beta2: 0.999,
  clipLow: 0.2,
  clipHigh: 0.28,
  clipC: 10,
  aggregation: 'token-mean',
  advantageStd: true,
  klCoef: 0,

  evalEvery: 5,
  valSamples: 32,
  valTemperature: 1.0,
  valTopP: 0.7,
  valLimit: 0,
  saveEvery: 0,
  saveLimit: 0,
  plotEvery: 10,
  logger: 'console',
  saveDtype: 'auto',
};

/**
 * The recipe scaled to the built-in task and model so that `npm run train` finishes on a
 * 2-core CPU: small batches, short responses, a learning rate for a tiny random model.
 */
export const BUILTIN_SCALE: Partial<TrainConfig> = {
  steps: 800,
  epochs: 1000,
  n: 8,
  trainBatch: 16,
  genBatch: 24,
  maxResponseLen: 16,
  overlongBuffer: 4,
  miniBatch: 8,
  microBatch: 64,
  lr: 5e-4,
  warmup: 10,
  weightDecay: 0.0,
  evalEvery: 25,
  valSamples: 8,
  valLimit: 0,
  plotEvery: 25,
  maxPromptLen: 32,
};

/** --algo grpo: the baseline DAPO is compared with. */
export const ALGO_PRESETS: Record<Algo, Partial<TrainConfig>> = {
  dapo: {},
  grpo: { clipLow: 0.2, clipHigh: 0.2, aggregation: 'seq-mean-token-mean', dynamicSampling: false, overlongShaping: false, overlongFilter: false },
};

export const OPTIONS: OptionSpec[] = [
  { key: 'model', kind: 'string', group: 'Model and data', describe: "Hugging Face model folder, or 'builtin:tiny'" },
  { key: 'dataset', kind: 'string', group: 'Model and data', describe: "parquet file (DAPO-Math-17k layout by default), or a built-in task: 'builtin:arithmetic', 'builtin:chains'" },
  { key: 'valDataset', kind: 'string', group: 'Model and data', describe: 'parquet file for validation (default: the built-in held-out split, or none)' },
  { key: 'inputKey', kind: 'string', group: 'Model and data', describe: 'prompt column (dot path into structs)' },
  { key: 'answerKey', kind: 'string', group: 'Model and data', describe: 'answer column (dot path into structs)' },
  { key: 'instruction', kind: 'string', group: 'Model and data', describe: 'template applied to each question; {question} marks where it goes' },
  { key: 'dedupe', kind: 'boolean', group: 'Model and data', describe: 'drop repeated prompts (DAPO-Math-17k repeats each ~100 times)' },
  { key: 'maxPromptLen', kind: 'number', int: true, min: 1, group: 'Model and data', describe: 'longest prompt in tokens' },
  { key: 'promptOverflow', kind: 'string', choices: PROMPT_OVERFLOW, group: 'Model and data', describe: 'what to do with longer prompts' },
  { key: 'reward', kind: 'string', group: 'Model and data', describe: "'dapo-math', 'boxed', or a JS module exporting (response, sample) => number | {score, acc} (used with the built-in task too)" },
  { key: 'rewardTimeout', kind: 'number', min: 0, group: 'Model and data', describe: 'seconds one call of a reward module may take before the run stops with E_REWARD_TIMEOUT (0: no limit)' },
  { key: 'out', kind: 'string', group: 'Run', describe: 'output folder (default runs/<timestamp>)' },
  { key: 'warmupCache', kind: 'string', group: 'Run', describe: 'folder of warm-up models (built-in tasks) to reuse by task, model and seed, and to add to' },
  { key: 'seed', kind: 'number', int: true, min: 0, group: 'Run', describe: 'seed for the model init, sampling and data order' },
  { key: 'device', kind: 'string', choices: DEVICES, group: 'Run', describe: "where the policy runs ('auto': CUDA when its engine is usable, else the CPU)" },
  { key: 'dtype', kind: 'string', choices: DTYPES, group: 'Run', describe: "compute dtype ('auto': bfloat16 on CUDA, float32 on the CPU); master weights and AdamW state stay float32" },
  { key: 'recompute', kind: 'boolean', group: 'Run', describe: "CUDA: recompute each layer's activations in the backward pass (less memory, more time)" },
  { key: 'algo', kind: 'string', choices: ALGOS, group: 'Run', describe: "'grpo' presets the baseline: symmetric clip 0.2, seq-mean-token-mean, no dynamic sampling, no overlong shaping" },
  { key: 'preset', kind: 'string', choices: PRESET_NAMES, group: 'Run', describe: "'small': a small model on a CPU or one small GPU (n 8, train batch 8, 512-token responses, 50 steps); flags still win" },
  { key: 'steps', kind: 'number', int: true, min: 1, group: 'Run', describe: 'training steps (one step = one training batch)' },
  { key: 'epochs', kind: 'number', int: true, min: 1, group: 'Run', describe: 'passes over the dataset at most' },
  { key: 'n', kind: 'number', int: true, min: 1, group: 'Rollout', describe: 'responses per prompt (group size G)' },
  { key: 'trainBatch', kind: 'number', int: true, min: 1, group: 'Rollout', describe: 'groups (prompts) per training step' },
  { key: 'genBatch', kind: 'number', int: true, min: 1, group: 'Rollout', describe: 'prompts per generation batch' },
  { key: 'maxGenBatches', kind: 'number', int: true, min: 1, group: 'Rollout', describe: 'generation batches per step at most; then train on what was kept' },
  { key: 'dynamicSampling', kind: 'boolean', group: 'Rollout', describe: 'drop groups whose responses are all right or all wrong, refill' },
  { key: 'keepSurplus', kind: 'boolean', group: 'Rollout', describe: 'keep groups beyond trainBatch for the next step' },
  { key: 'maxResponseLen', kind: 'number', int: true, min: 1, group: 'Rollout', describe: 'L_max, response tokens at most' },
  { key: 'temperature', kind: 'number', min: MIN_TEMPERATURE, group: 'Rollout', describe: `sampling temperature (>= ${MIN_TEMPERATURE}; training log-probs use logits / temperature, as verl)` },
  { key: 'topP', kind: 'number', min: 0, max: 1, group: 'Rollout', describe: 'nucleus sampling' },
  { key: 'topK', kind: 'number', int: true, min: 0, group: 'Rollout', describe: 'top-k sampling (0: off)' },
  { key: 'overlongShaping', kind: 'boolean', group: 'Rollout', describe: 'soft overlong punishment in the last overlongBuffer tokens' },
  { key: 'overlongBuffer', kind: 'number', int: true, min: 1, group: 'Rollout', describe: 'L_cache, the punishment buffer length' },
  { key: 'overlongPenalty', kind: 'number', min: 0, group: 'Rollout', describe: 'punishment factor' },
  { key: 'overlongFilter', kind: 'boolean', group: 'Rollout', describe: 'mask truncated responses out of the loss (kept in the group baseline)' },
  { key: 'miniBatch', kind: 'number', int: true, min: 1, group: 'Update', describe: 'groups per optimizer step' },
  { key: 'microBatch', kind: 'number', int: true, min: 1, group: 'Update', describe: 'sequences per forward/backward (gradient accumulation)' },
  { key: 'epochsPerBatch', kind: 'number', int: true, min: 1, group: 'Update', describe: 'passes over each training batch' },
  { key: 'lr', kind: 'number', min: 0, group: 'Update', describe: 'AdamW learning rate' },
  { key: 'warmup', kind: 'number', int: true, min: 0, group: 'Update', describe: 'linear warm-up, optimizer steps' },
  { key: 'weightDecay', kind: 'number', min: 0, group: 'Update', describe: 'AdamW decoupled weight decay' },
  { key: 'clipGrad', kind: 'number', min: 0, group: 'Update', describe: 'global gradient-norm clip (0: off)' },
  { key: 'beta1', kind: 'number', min: 0, max: 1, group: 'Update', describe: 'AdamW beta1' },
  { key: 'beta2', kind: 'number', min: 0, max: 1, group: 'Update', describe: 'AdamW beta2' },
  { key: 'clipLow', kind: 'number', min: 0, max: 1, group: 'Loss', describe: 'eps_low of Clip-Higher' },
  { key: 'clipHigh', kind: 'number', min: 0, group: 'Loss', describe: 'eps_high of Clip-Higher' },
  { key: 'clipC', kind: 'number', min: 0, group: 'Loss', describe: 'dual clip for negative advantages (0: off, else > 1)' },
  { key: 'aggregation', kind: 'string', choices: AGGREGATIONS, group: 'Loss', describe: 'loss aggregation' },
  { key: 'advantageStd', kind: 'boolean', group: 'Loss', describe: 'divide advantages by the group std (false: Dr. GRPO)' },
  { key: 'klCoef', kind: 'number', min: 0, group: 'Loss', describe: "KL penalty to the frozen starting policy (verl's low_var_kl; 0: none, as DAPO)" },
  { key: 'evalEvery', kind: 'number', int: true, min: 0, group: 'Evaluation and output', describe: 'validate every N steps (0: only at the start and end)' },
  { key: 'valSamples', kind: 'number', int: true, min: 1, group: 'Evaluation and output', describe: 'k samples per validation prompt (val/acc is their mean; val/pass@k)' },
  { key: 'valTemperature', kind: 'number', min: 0, group: 'Evaluation and output', describe: `validation temperature (0: greedy, else >= ${MIN_TEMPERATURE})` },
  { key: 'valTopP', kind: 'number', min: 0, max: 1, group: 'Evaluation and output', describe: 'validation top-p' },
  { key: 'valLimit', kind: 'number', int: true, min: 0, group: 'Evaluation and output', describe: 'validation prompts at most (0: all)' },
  { key: 'saveEvery', kind: 'number', int: true, min: 0, group: 'Evaluation and output', describe: 'checkpoint every N steps (0: only final/)' },
  { key: 'saveLimit', kind: 'number', int: true, min: 0, group: 'Evaluation and output', describe: 'keep only the newest N checkpoints (0: all), as transformers\' save_total_limit' },
  { key: 'plotEvery', kind: 'number', int: true, min: 0, group: 'Evaluation and output', describe: 'redraw training_metrics.png every N steps' },
  { key: 'logger', kind: 'string', choices: LOGGERS, group: 'Evaluation and output', describe: "'tensorboard': also write TensorBoard event files into OUT/tensorboard" },
  { key: 'saveDtype', kind: 'string', choices: SAVE_DTYPES, group: 'Evaluation and output', describe: "dtype of final/model.safetensors ('auto': the source model's; bfloat16 rounds the fp32 weights to nearest even)" },
];

export class ConfigError extends Error {
  readonly code = 'E_CONFIG';
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Checks one value against its option; `where` names its source in the message. */
export function checkOption(spec: OptionSpec, value: unknown, where: string): void {
  if (value === undefined) return;
  const name = `${where} ${spec.key}`;
  if (spec.kind === 'number') {
    if (typeof value !== 'number' || !Number.isFinite(value)) throw new ConfigError(`${name} must be a finite number, got ${JSON.stringify(value)}`);
    if (spec.int && !Number.isInteger(value)) throw new ConfigError(`${name} must be an integer, got ${value}`);
    if (spec.min !== undefined && value < spec.min) throw new ConfigError(`${name} must be >= ${spec.min}, got ${value}`);
    if (spec.max !== undefined && value > spec.max) throw new ConfigError(`${name} must be <= ${spec.max}, got ${value}`);
  } else if (typeof value !== spec.kind) {
    throw new ConfigError(`${name} must be a ${spec.kind}, got ${JSON.stringify(value)}`);
  }
  if (spec.choices && !spec.choices.includes(value as string))
    throw new ConfigError(`${name} must be one of ${spec.choices.join(', ')}, got '${String(value)}'`);
}

/**
 * defaults < built-in scaling (when training the built-in task) < --preset < algorithm preset <
 * config file < options given on the command line. A setting that only follows from another
 * (the overlong buffer from the response length, the mini-batch from the train batch) is
 * adjusted when the user did not set it, and `notes` says so.
 */
export function resolveConfig(fromFile: Partial<TrainConfig>, fromCli: Partial<TrainConfig>, notes: string[] = []): TrainConfig {
  const chosen = { ...fromFile, ...fromCli };
  const dataset = chosen.dataset ?? RECIPE_DEFAULTS.dataset;
  const algo = chosen.algo ?? RECIPE_DEFAULTS.algo;
  const config: TrainConfig = {
    ...RECIPE_DEFAULTS,
    ...(isBuiltinDataset(dataset) ? { ...BUILTIN_SCALE, ...BUILTIN_TASKS[dataset]?.settings } : {}),
    ...PRESETS[chosen.preset ?? RECIPE_DEFAULTS.preset],
    ...ALGO_PRESETS[algo],
    ...chosen,
  };
  for (const spec of OPTIONS) checkOption(spec, config[spec.key], 'option');
  if (isBuiltinDataset(config.dataset) && !BUILTIN_TASKS[config.dataset])
    throw new ConfigError(`option dataset: unknown built-in task '${config.dataset}' (choose one of ${Object.keys(BUILTIN_TASKS).join(', ')})`);
  // Greedy rollouts make every group uniform, and the loss needs the sampled distribution.
  if (config.temperature <= 0) throw new ConfigError(`option temperature must be greater than 0 for training rollouts, got ${config.temperature}`);
  if (config.valTemperature !== 0 && config.valTemperature < MIN_TEMPERATURE)
    throw new ConfigError(`option valTemperature must be 0 (greedy) or >= ${MIN_TEMPERATURE}, got ${config.valTemperature}`);
  if (config.clipC !== 0 && config.clipC <= 1) throw new ConfigError(`option clipC must be 0 (off) or greater than 1, got ${config.clipC}`);
  fitDependentSettings(config, chosen, notes);
  return config;
}

/**
 * The overlong buffer must lie inside the response length and a mini-batch inside the train
 * batch. Shortening --max-response-len or --train-batch alone (the buffer and mini-batch coming
 * from the recipe, a preset or the built-in scaling) scales them down with a note; values the
 * user set that contradict each other are an error naming both.
 */
function fitDependentSettings(config: TrainConfig, chosen: Partial<TrainConfig>, notes: string[]): void {
  if (config.overlongShaping && config.overlongBuffer >= config.maxResponseLen) {
    // The recipe's ratio: 4096 of 20480 tokens.
    const fitted = Math.max(1, Math.floor(config.maxResponseLen / 5));
    if (chosen.overlongBuffer !== undefined || fitted >= config.maxResponseLen)
      throw new ConfigError(`overlongBuffer (${config.overlongBuffer}) must be smaller than maxResponseLen (${config.maxResponseLen}), or set overlongShaping false`);
    notes.push(`overlongBuffer ${config.overlongBuffer} does not fit in maxResponseLen ${config.maxResponseLen}: using ${fitted} (a fifth, the recipe's ratio; --overlong-buffer sets it)`);
    config.overlongBuffer = fitted;
  }
  if (config.miniBatch > config.trainBatch) {
    if (chosen.miniBatch !== undefined) throw new ConfigError(`miniBatch (${config.miniBatch}) must not exceed trainBatch (${config.trainBatch})`);
    notes.push(`miniBatch ${config.miniBatch} exceeds trainBatch ${config.trainBatch}: using ${config.trainBatch} (one optimizer step per training step; --mini-batch sets it)`);
    config.miniBatch = config.trainBatch;
  }
}
