// The shape of a decoder-only transformer of the Llama / Qwen2 / Qwen3 family. Parsed from a
// Hugging Face config.json in TypeScript (src/policy/config.ts) and checked again here.
#pragma once
#include <cstddef>
#include <string>

namespace dapo {

struct ModelConfig {
  size_t vocab = 0;
  size_t hidden = 0;
  size_t intermediate = 0;
  size_t layers = 0;
  size_t heads = 0;
  size_t kv_heads = 0;
  size_t head_dim = 0;
  size_t max_positions = 0;
  double rope_theta = 10000.0;
  double rms_eps = 1e-6;
  bool qkv_bias = false;        // qwen2
  bool qk_norm = false;         // qwen3: RMSNorm over each head of q and k before RoPE
  bool tie_embeddings = false;
  // rope_scaling {rope_type: "llama3"}
  bool rope_llama3 = false;
  double rope_factor = 8.0, rope_low_freq_factor = 1.0, rope_high_freq_factor = 4.0;
  double rope_original_max_positions = 8192.0;
};

// Throws a range error naming the field when the shape is unusable.
void validate_config(const ModelConfig& c);

}  // namespace dapo
