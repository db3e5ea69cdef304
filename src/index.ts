// dapo: DAPO reinforcement learning for causal language models, from Node.js.
export { dapoLoss, dapoLossAsync, groupAdvantages, DEVICES } from './loss/index.js';
export type { DapoLossOptions, DapoLossResult, Device, GroupAdvantageOptions } from './loss/index.js';
export { referenceDapoLoss, referenceGroupAdvantages, tokenLoss, bf16ToNumber, numberToBf16 } from './loss/reference.js';
export type { Aggregation, LossStats, CudaInfo } from './native.js';
export { dapoLossFromHidden, dapoLossFromHiddenAsync } from './loss/hidden.js';
export type { DapoLossFromHiddenOptions, HiddenLossArgs, HiddenLossResult } from './loss/hidden.js';
export { DeviceTensor, cudaDapoLoss, cudaDapoLossAsync, cudaGroupAdvantages } from './loss/device.js';
export type { CudaLossArgs, CudaLossResult, DeviceDType } from './loss/device.js';
export {
  dapoMathReward, dapoBoxedReward, normalizeFinalAnswer, overlongPenalty, overlongPenaltyFor,
  loadRewardModule, resolveReward, RewardError,
} from './reward/index.js';
export type { MathRewardResult, BoxedRewardOptions, OverlongConfig, RewardFn, RewardSample, RewardOutput } from './reward/index.js';
export { loadTokenizer, CharTokenizer, TokenizerError } from './tokenizer/index.js';
export type { TextTokenizer, ChatMessage, ChatTemplateOptions, LoadTokenizerOptions } from './tokenizer/index.js';
export { loadPromptDataset, PromptSampler, DatasetError, math17kTable, MATH17K_SCHEMA, tableToParquet } from './data/index.js';
export type { LoadDatasetOptions, PromptDataset, PromptRow, DatasetStats, DataCursor, SamplerOptions } from './data/index.js';
export { Policy, MIN_TEMPERATURE, PolicyError, ModelConfigError, packBatch, countTargets, parseHfConfig, BUILTIN_MODELS } from './policy/index.js';
export type {
  PolicyConfig, PolicyDevice, PolicyDType, EngineMemory, PolicyLoadOptions, PolicyLoss, AccumulateResult, StepOptions, StepResult,
  GenerateOptions, Rollout, SaveOptions, PackedBatch, TrainBatch, SequencePair,
} from './policy/index.js';
import { native } from './native.js';

/** Whether the CUDA module was built and loaded, and the devices it sees. */
export const cudaInfo = () => native.cudaInfo();
/** Threads used by the CPU kernels (DAPO_NUM_THREADS, else all cores). */
export const numThreads = () => native.numThreads();
export const setNumThreads = (threads: number) => native.setNumThreads(threads);
export { train } from './train/trainer.js';
export type { TrainOptions, TrainSummary } from './train/trainer.js';
export { resolveConfig, readConfigFile, RECIPE_DEFAULTS, BUILTIN_SCALE, ALGO_PRESETS, ConfigError } from './train/config.js';
export type { TrainConfig } from './train/config.js';
