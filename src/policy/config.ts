// Hugging Face config.json -> the engine's model shape, for the Llama / Qwen2 / Qwen3 family.
// Anything the engine does not implement is an error naming the field and its value, never a
// silently different model.
import type { NativePolicyConfig } from './native-types.js';
import { PolicyError } from './errors.js';

export const MODEL_TYPES = ['llama', 'qwen2', 'qwen3'] as const;
export type ModelType = (typeof MODEL_TYPES)[number];

export interface PolicyConfig extends NativePolicyConfig {
  modelType: ModelType;
  /** Ids that end a response: config.json's eos_token_id plus generation_config.json's. */
  eosTokenIds: number[];
  bosTokenId?: number;
  /** The config.json object as read (saved back with the fields dapo owns updated). */
  raw: Record<string, unknown>;
}

function fail(source: string, field: string, value: unknown, why: string): never {
  throw new PolicyError('E_MODEL_CONFIG', `${source}: ${field} = ${JSON.stringify(value)} ${why}`);
}

function int(raw: Record<string, unknown>, source: string, field: string, fallback?: number): number {
  const v = raw[field] ?? fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) fail(source, field, raw[field], 'must be a positive integer');
  return v;
}

function num(raw: Record<string, unknown>, source: string, field: string, fallback: number): number {
  const v = raw[field] ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) fail(source, field, raw[field], 'must be a positive number');
  return v;
}

function ids(v: unknown): number[] {
  if (typeof v === 'number' && Number.isInteger(v)) return [v];
  if (Array.isArray(v)) return v.filter((x): x is number => typeof x === 'number' && Number.isInteger(x));
  return [];
}

/** Parses a config.json object; `source` names the file in errors. */
export function parseHfConfig(raw: Record<string, unknown>, source = 'config.json'): PolicyConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail(source, 'config', raw, 'must be a JSON object');
  const modelType = raw.model_type;
  if (typeof modelType !== 'string' || !(MODEL_TYPES as readonly string[]).includes(modelType))
    fail(source, 'model_type', modelType, `is not supported (supported: ${MODEL_TYPES.join(', ')})`);
  const act = raw.hidden_act ?? 'silu';
  if (act !== 'silu') fail(source, 'hidden_act', act, "is not supported (only 'silu', the SwiGLU MLP)");
  if (raw.attention_bias === true) fail(source, 'attention_bias', true, 'is not supported');
  if (raw.mlp_bias === true) fail(source, 'mlp_bias', true, 'is not supported');
  if (raw.use_sliding_window === true) fail(source, 'use_sliding_window', true, 'is not supported (sliding-window attention)');
  if (modelType === 'llama' && typeof raw.sliding_window === 'number')
    fail(source, 'sliding_window', raw.sliding_window, 'is not supported (sliding-window attention)');
  if (Array.isArray(raw.layer_types)) {
    const other = raw.layer_types.find((t) => t !== 'full_attention');
    if (other !== undefined) fail(source, 'layer_types', other, "is not supported (only 'full_attention' layers)");
  }
  if (raw.pretraining_tp !== undefined && raw.pretraining_tp !== 1)
    fail(source, 'pretraining_tp', raw.pretraining_tp, 'is not supported (only 1)');
  if (raw.partial_rotary_factor !== undefined && raw.partial_rotary_factor !== 1)
    fail(source, 'partial_rotary_factor', raw.partial_rotary_factor, 'is not supported (only 1)');

  const hiddenSize = int(raw, source, 'hidden_size');
  const numHeads = int(raw, source, 'num_attention_heads');
  const numKvHeads = int(raw, source, 'num_key_value_heads', numHeads);
  if (numHeads % numKvHeads !== 0)
    fail(source, 'num_key_value_heads', numKvHeads, `must divide num_attention_heads = ${numHeads}`);
  const headDim = raw.head_dim === null || raw.head_dim === undefined ? hiddenSize / numHeads : raw.head_dim;
  if (typeof headDim !== 'number' || !Number.isInteger(headDim) || headDim <= 0 || headDim % 2 !== 0)
    fail(source, 'head_dim', raw.head_dim ?? headDim, 'must be an even positive integer (hidden_size / num_attention_heads by default)');

  let ropeScaling: PolicyConfig['ropeScaling'];
  const rs = raw.rope_scaling;
  if (rs !== null && rs !== undefined) {
    if (typeof rs !== 'object' || Array.isArray(rs)) fail(source, 'rope_scaling', rs, 'must be an object or null');
    const r = rs as Record<string, unknown>;
    const type = r.rope_type ?? r.type;
    if (type === 'llama3') {
      const field = (k: string, d?: number) => {
        const v = r[k] ?? d;
        if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) fail(source, `rope_scaling.${k}`, r[k], 'must be a positive number');
        return v;
      };
      ropeScaling = {
        factor: field('factor'),
        lowFreqFactor: field('low_freq_factor', 1),
        highFreqFactor: field('high_freq_factor', 4),
        originalMaxPositions: field('original_max_position_embeddings', 8192),
      };
      if (ropeScaling.highFreqFactor <= ropeScaling.lowFreqFactor)
        fail(source, 'rope_scaling.high_freq_factor', r.high_freq_factor, 'must exceed low_freq_factor');
    } else if (type !== 'default') {
      fail(source, r.rope_type !== undefined ? 'rope_scaling.rope_type' : 'rope_scaling.type', type, "is not supported (only 'llama3')");
    }
  }

  const tie = raw.tie_word_embeddings ?? false;
  if (typeof tie !== 'boolean') fail(source, 'tie_word_embeddings', tie, 'must be a boolean');
  const bos = raw.bos_token_id;
  return {
    modelType: modelType as ModelType,
    vocabSize: int(raw, source, 'vocab_size'),
    hiddenSize,
    intermediateSize: int(raw, source, 'intermediate_size'),
    numLayers: int(raw, source, 'num_hidden_layers'),
    numHeads,
    numKvHeads,
    headDim,
    maxPositions: int(raw, source, 'max_position_embeddings', 2048),
    ropeTheta: num(raw, source, 'rope_theta', 10000),
    rmsNormEps: num(raw, source, 'rms_norm_eps', 1e-6),
    qkvBias: modelType === 'qwen2',
    qkNorm: modelType === 'qwen3',
    tieWordEmbeddings: tie,
    ropeScaling,
    eosTokenIds: ids(raw.eos_token_id),
    bosTokenId: typeof bos === 'number' ? bos : undefined,
    raw,
  };
}

/** The config.json dapo writes for a model (the original fields kept, the shape restated). */
export function toHfConfig(c: PolicyConfig, torchDtype: 'float32' | 'bfloat16'): Record<string, unknown> {
  const arch = { llama: 'LlamaForCausalLM', qwen2: 'Qwen2ForCausalLM', qwen3: 'Qwen3ForCausalLM' }[c.modelType];
  const out: Record<string, unknown> = {
    ...c.raw,
    architectures: [arch],
    model_type: c.modelType,
    vocab_size: c.vocabSize,
    hidden_size: c.hiddenSize,
    intermediate_size: c.intermediateSize,
    num_hidden_layers: c.numLayers,
    num_attention_heads: c.numHeads,
    num_key_value_heads: c.numKvHeads,
    head_dim: c.headDim,
    max_position_embeddings: c.maxPositions,
    rope_theta: c.ropeTheta,
    rms_norm_eps: c.rmsNormEps,
    hidden_act: 'silu',
    tie_word_embeddings: c.tieWordEmbeddings,
    torch_dtype: torchDtype,
  };
  if (c.modelType !== 'qwen2') out.attention_bias = false;
  if (c.ropeScaling) {
    out.rope_scaling = {
      rope_type: 'llama3',
      factor: c.ropeScaling.factor,
      low_freq_factor: c.ropeScaling.lowFreqFactor,
      high_freq_factor: c.ropeScaling.highFreqFactor,
      original_max_position_embeddings: c.ropeScaling.originalMaxPositions,
    };
  } else if (out.rope_scaling === undefined) {
    out.rope_scaling = null;
  }
  if (c.eosTokenIds.length > 0 && out.eos_token_id === undefined)
    out.eos_token_id = c.eosTokenIds.length === 1 ? c.eosTokenIds[0] : c.eosTokenIds;
  if (c.bosTokenId !== undefined && out.bos_token_id === undefined) out.bos_token_id = c.bosTokenId;
  return out;
}
