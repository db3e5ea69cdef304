// Hugging Face config.json -> the engine's model shape, for the Llama / Qwen2 / Qwen3 family.
// Both layouts transformers writes are read (config-rope.ts): 4.x (top-level rope_theta,
// rope_scaling, torch_dtype) and 5.x (rope_parameters, dtype). Defaults are transformers' own
// for each architecture. A setting that changes the math and that the engines do not
// implement is a ModelConfigError naming the file, the key and the value, raised before any
// weight is read. Keys that do not change the forward pass are ignored: initializer_range,
// use_cache, transformers_version, pretraining_tp (the same matmuls split in slices),
// attention_dropout (a training-time regularizer: the DAPO ratio needs the deterministic
// forward that generated the rollouts, so the engines never drop out), ...
import type { NativePolicyConfig } from './native-types.js';
import { ConfigReader, isObject } from './config-reader.js';
import { readRope } from './config-rope.js';

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

/** What each architecture is in transformers (configuration_*.py, modeling_*.py). */
interface Architecture {
  className: string;
  qkvBias: boolean;
  qkNorm: boolean;
  /** head_dim when config.json has none; undefined: hidden_size / num_attention_heads. */
  headDim?: number;
  /** num_key_value_heads when config.json has none; undefined: num_attention_heads. */
  numKvHeads?: number;
  maxPositions: number;
  /** Why attention_bias: true cannot load. */
  attentionBias: string;
}

const ARCHITECTURES: Record<ModelType, Architecture> = {
  llama: { className: 'LlamaForCausalLM', qkvBias: false, qkNorm: false, maxPositions: 2048, attentionBias: 'biases on q/k/v/o_proj' },
  qwen2: { className: 'Qwen2ForCausalLM', qkvBias: true, qkNorm: false, numKvHeads: 32, maxPositions: 32768, attentionBias: 'qwen2 has biases on q/k/v_proj only' },
  qwen3: { className: 'Qwen3ForCausalLM', qkvBias: false, qkNorm: true, headDim: 128, numKvHeads: 32, maxPositions: 32768, attentionBias: 'biases on q/k/v/o_proj' },
};

/** The settings that change the forward pass and that the engines do not implement. */
function refuseUnsupported(r: ConfigReader, arch: Architecture, numLayers: number): void {
  const act = r.raw.hidden_act ?? 'silu';
  // 'swish' is the same function in transformers' ACT2FN (nn.SiLU).
  if (act !== 'silu' && act !== 'swish') r.unsupported('hidden_act', act, 'silu', 'the SwiGLU MLP');
  if (r.bool('attention_bias', false)) r.unsupported('attention_bias', true, 'false', arch.attentionBias);
  if (r.bool('mlp_bias', false)) r.unsupported('mlp_bias', true, 'false', 'biases on the MLP projections');
  // Qwen2/Qwen3 checkpoints carry sliding_window and max_window_layers with use_sliding_window
  // false: those are unused then (transformers sets sliding_window to None), so only the switch
  // and the per-layer types say whether a layer slides. Llama has no sliding window at all.
  if (r.bool('use_sliding_window', false)) r.unsupported('use_sliding_window', true, 'false', 'sliding-window attention');
  const layerTypes = r.raw.layer_types;
  if (layerTypes !== undefined && layerTypes !== null) {
    if (!Array.isArray(layerTypes)) r.invalid('layer_types', layerTypes, 'a list with one entry per layer');
    layerTypes.forEach((t, i) => {
      if (t !== 'full_attention') r.unsupported(`layer_types[${i}]`, t, 'full_attention');
    });
    if (layerTypes.length !== numLayers) r.invalid('layer_types', layerTypes, `a list of num_hidden_layers = ${numLayers} entries`);
  }
  const quantization = r.raw.quantization_config;
  if (quantization !== undefined && quantization !== null) {
    const method = isObject(quantization) ? quantization.quant_method : undefined;
    if (method !== undefined) r.unsupported('quantization_config.quant_method', method, 'none', 'dequantize the weights first');
    r.unsupported('quantization_config', quantization, 'none', 'dequantize the weights first');
  }
}

function ids(v: unknown): number[] {
  if (typeof v === 'number' && Number.isInteger(v)) return [v];
  if (Array.isArray(v)) return v.filter((x): x is number => typeof x === 'number' && Number.isInteger(x));
  return [];
}

/** Parses a config.json object; `source` names the file in errors. */
export function parseHfConfig(raw: Record<string, unknown>, source = 'config.json'): PolicyConfig {
  const r = new ConfigReader(raw, source);
  if (!isObject(raw)) r.invalid('config', raw, 'a JSON object');
  const modelType = raw.model_type;
  if (typeof modelType !== 'string' || !(MODEL_TYPES as readonly string[]).includes(modelType))
    return r.unsupported('model_type', modelType, MODEL_TYPES.join(', '));
  const arch = ARCHITECTURES[modelType as ModelType];
  const numLayers = r.positiveInt('num_hidden_layers');
  refuseUnsupported(r, arch, numLayers);

  const hiddenSize = r.positiveInt('hidden_size');
  const numHeads = r.positiveInt('num_attention_heads');
  // Absent, transformers' default for the architecture; null, the number of heads (both versions).
  const numKvHeads = r.positiveInt('num_key_value_heads', raw.num_key_value_heads === null ? numHeads : (arch.numKvHeads ?? numHeads));
  if (numHeads % numKvHeads !== 0)
    r.invalid('num_key_value_heads', raw.num_key_value_heads, `a divisor of num_attention_heads = ${numHeads}${raw.num_key_value_heads === undefined ? ` (the ${modelType} default is ${numKvHeads})` : ''}`);
  const defaultHeadDim = arch.headDim ?? hiddenSize / numHeads;
  if (!Number.isInteger(defaultHeadDim) && (raw.head_dim === undefined || raw.head_dim === null))
    r.invalid('hidden_size', hiddenSize, `a multiple of num_attention_heads = ${numHeads} when head_dim is not given`);
  const headDim = r.positiveInt('head_dim', defaultHeadDim);
  if (headDim % 2 !== 0) r.invalid('head_dim', raw.head_dim ?? headDim, `even (RoPE rotates pairs)${raw.head_dim === undefined || raw.head_dim === null ? '; it is hidden_size / num_attention_heads when not given' : ''}`);
  const maxPositions = r.positiveInt('max_position_embeddings', arch.maxPositions);
  const { ropeTheta, ropeScaling } = readRope(r, maxPositions);

  // The dtype the weights were saved in; the safetensors headers are what is read.
  const dtype4 = raw.torch_dtype;
  const dtype5 = raw.dtype;
  if (dtype4 !== undefined && dtype4 !== null && dtype5 !== undefined && dtype5 !== null && dtype4 !== dtype5)
    r.conflict('torch_dtype', dtype4, 'dtype', dtype5);

  const bos = raw.bos_token_id;
  return {
    modelType: modelType as ModelType,
    vocabSize: r.positiveInt('vocab_size'),
    hiddenSize,
    intermediateSize: r.positiveInt('intermediate_size'),
    numLayers,
    numHeads,
    numKvHeads,
    headDim,
    maxPositions,
    ropeTheta,
    rmsNormEps: r.positiveNumber('rms_norm_eps', 1e-6),
    qkvBias: arch.qkvBias,
    qkNorm: arch.qkNorm,
    tieWordEmbeddings: r.bool('tie_word_embeddings', false),
    ropeScaling,
    eosTokenIds: ids(raw.eos_token_id),
    bosTokenId: typeof bos === 'number' ? bos : undefined,
    raw,
  };
}

/**
 * The config.json dapo writes for a model: the original fields kept, the shape restated, in
 * the transformers 4 layout (top-level rope_theta and rope_scaling, torch_dtype). That layout
 * loads in transformers 4, which reads nothing else, and in transformers 5, which converts it
 * to rope_parameters and dtype (checked on 2026-11-27 with transformers 5.17: llama, qwen2,
 * qwen3 and builtin:tiny saved by dapo gave the same logits, max abs difference 1.5e-6). A
 * model read from the transformers 5 layout has its rope_parameters and dtype restated as
 * rope_theta, rope_scaling and torch_dtype, not kept beside them, so the file never says one
 * thing twice.
 */
export function toHfConfig(c: PolicyConfig, torchDtype: 'float32' | 'bfloat16'): Record<string, unknown> {
  const { rope_parameters: _ropeParameters, dtype: _dtype, ...kept } = c.raw;
  const out: Record<string, unknown> = {
    ...kept,
    architectures: [ARCHITECTURES[c.modelType].className],
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
