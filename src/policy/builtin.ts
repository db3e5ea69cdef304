// Models made in code: `builtin:tiny` (the built-in task and the tests) and a ~20M-parameter
// Llama-shaped model for benchmarks. Random weights from the load seed.
import { CharTokenizer } from '../tokenizer/char.js';
import { rangeError } from '../errors.js';
import type { PolicyConfig } from './config.js';

export const BUILTIN_MODELS = ['tiny', 'llama-20m'] as const;
export type BuiltinModel = (typeof BUILTIN_MODELS)[number];

function llama(raw: Record<string, unknown>, eos: number[], bos?: number): PolicyConfig {
  const c = raw as Record<string, number>;
  return {
    modelType: 'llama',
    vocabSize: c.vocab_size,
    hiddenSize: c.hidden_size,
    intermediateSize: c.intermediate_size,
    numLayers: c.num_hidden_layers,
    numHeads: c.num_attention_heads,
    numKvHeads: c.num_key_value_heads,
    headDim: c.hidden_size / c.num_attention_heads,
    maxPositions: c.max_position_embeddings,
    ropeTheta: c.rope_theta,
    rmsNormEps: c.rms_norm_eps,
    qkvBias: false,
    qkNorm: false,
    tieWordEmbeddings: raw.tie_word_embeddings === true,
    eosTokenIds: eos,
    bosTokenId: bos,
    raw: { ...raw, model_type: 'llama' },
  };
}

export function builtinConfig(name: string): { config: PolicyConfig; tokenizer?: CharTokenizer } {
  if (name === 'tiny') {
    const tokenizer = new CharTokenizer();
    const raw = {
      model_type: 'llama',
      vocab_size: tokenizer.vocabSize,
      hidden_size: 64,
      intermediate_size: 176,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      max_position_embeddings: 256,
      rope_theta: 10000,
      rms_norm_eps: 1e-6,
      tie_word_embeddings: true,
      bos_token_id: tokenizer.bosTokenId,
      eos_token_id: tokenizer.eosTokenIds[0],
      pad_token_id: tokenizer.padTokenId,
    };
    return { config: llama(raw, [...tokenizer.eosTokenIds], tokenizer.bosTokenId), tokenizer };
  }
  if (name === 'llama-20m') {
    const raw = {
      model_type: 'llama',
      vocab_size: 8192,
      hidden_size: 384,
      intermediate_size: 1024,
      num_hidden_layers: 10,
      num_attention_heads: 6,
      num_key_value_heads: 2,
      max_position_embeddings: 2048,
      rope_theta: 10000,
      rms_norm_eps: 1e-5,
      tie_word_embeddings: true,
      bos_token_id: 1,
      eos_token_id: 2,
    };
    return { config: llama(raw, [2], 1) };
  }
  throw rangeError(`unknown builtin model 'builtin:${name}' (known: ${BUILTIN_MODELS.map((m) => `builtin:${m}`).join(', ')})`);
}
