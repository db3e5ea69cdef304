// The policy engine: load, generate, score, train and save Llama / Qwen2 / Qwen3 models.
export { Policy, MIN_TEMPERATURE } from './policy.js';
export type {
  PolicyLoadOptions,
  PolicyLoss,
  AccumulateResult,
  StepOptions,
  StepResult,
  GenerateOptions,
  Rollout,
  SaveOptions,
} from './policy.js';
export { packBatch, countTargets } from './batch.js';
export { POLICY_DEVICES, POLICY_DTYPES } from './backend.js';
export type { PolicyDevice, PolicyDType } from './backend.js';
export type { EngineMemory } from './native-types.js';
export type { PackedBatch, TrainBatch, SequencePair } from './batch.js';
export { parseHfConfig, toHfConfig, MODEL_TYPES } from './config.js';
export type { PolicyConfig, ModelType } from './config.js';
export { BUILTIN_MODELS, builtinConfig } from './builtin.js';
export { PolicyError, ModelConfigError } from './errors.js';
export type { PolicyErrorCode } from './errors.js';
export { readSafetensorsHeader, readModelHeaders, writeSafetensors } from './safetensors.js';
