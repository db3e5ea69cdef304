// The Qwen2.5-0.5B shape the CUDA engine is measured at (issue 10): vocab 151936, hidden 896,
// 24 layers, 14 heads, 2 KV heads, intermediate 4864, tied embeddings, q/k/v biases. Random
// weights; scripts/make-qwen25-shaped.ts writes it as a model folder, benchmarks/engine-cuda.ts
// and benchmarks/peers/hf_engine.py build it in memory.
import { parseHfConfig, type PolicyConfig } from '../src/policy/index.js';

/** Qwen2.5-0.5B-Instruct's config.json, as transformers 4 writes it. */
export const QWEN25_05B_CONFIG = {
  architectures: ['Qwen2ForCausalLM'],
  model_type: 'qwen2',
  vocab_size: 151936,
  hidden_size: 896,
  intermediate_size: 4864,
  num_hidden_layers: 24,
  num_attention_heads: 14,
  num_key_value_heads: 2,
  max_position_embeddings: 32768,
  rope_theta: 1000000,
  rms_norm_eps: 1e-6,
  tie_word_embeddings: true,
  hidden_act: 'silu',
  bos_token_id: 151643,
  eos_token_id: 151645,
  torch_dtype: 'bfloat16',
};

/** The policy config of the shape, optionally with fewer layers (a quick stand-in of the same width). */
export function qwen25Config(layers = QWEN25_05B_CONFIG.num_hidden_layers): PolicyConfig {
  return parseHfConfig({ ...QWEN25_05B_CONFIG, num_hidden_layers: layers }, 'Qwen2.5-0.5B shape');
}

/** The same vocabulary, tokenizer ids and architecture at a width a CPU trains in seconds (the device check's plumbing run). */
export function tinyQwen25Config(): PolicyConfig {
  return parseHfConfig(
    { ...QWEN25_05B_CONFIG, hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 8 },
    'tiny Qwen2.5 stand-in',
  );
}
