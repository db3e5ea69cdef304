// Host-side checks and plans of the CUDA engine's calls (plain C++): the validation of the CPU
// engine (Engine::count_targets, Engine::generate) with the same messages, the loss options'
// ranges, overflow-checked sizes, and the index arrays a packed batch needs on the device.
// Everything here runs before the engine touches the device, so a bad input changes nothing.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "cuda/api.h"
#include "model/config.h"

namespace dapo::cuda::model {

// A packed batch's rows and targets. Sequence s is rows [offsets[s], offsets[s+1]); its targets
// are its tokens at positions t >= max(promptLength, 1), each predicted by the row before it.
struct PackedPlan {
  size_t n_tokens = 0, n_seqs = 0, n_targets = 0;
  size_t longest = 0;  // the longest sequence (RoPE table and attention grid)
  // One int32 array uploaded in one copy; the parts start at the offsets below.
  std::vector<int32_t> ints;
  size_t tokens_at = 0;         // [n_tokens] the batch's tokens
  size_t positions_at = 0;      // [n_tokens] position of each row in its sequence
  size_t cu_seqlens_at = 0;     // [n_seqs + 1] the offsets (flash-attention's cu_seqlens)
  size_t target_rows_at = 0;    // [n_targets] the row predicting each target
  size_t target_tokens_at = 0;  // [n_targets] the target token
  size_t target_seqs_at = 0;    // [n_targets] dense sequence id (sequences with targets, in order)
};

// Checks the batch as dapo::Engine::count_targets does (same messages, DAPO_CUDA_ERR_RANGE) and
// builds its plan. Throws EngineError.
PackedPlan plan_packed_batch(const ModelConfig& c, const dapo_cuda_packed_batch& batch);

// Checks an accumulate call's loss options and per-target arrays (kind, clip, aggregation,
// counts, KL, temperature; finite old log-probs, advantages and reference log-probs, with the
// CPU loss's messages). n: the batch's targets.
void check_accumulate_args(const dapo_cuda_accumulate_args& a, size_t n);

// A sampling temperature of logprobs / accumulate: finite and > 0.
void check_temperature(double temperature);

// The sequences of a generate call. Sequence q = prompt * n + sample.
struct GeneratePlan {
  size_t n_prompts = 0, n = 0, n_seqs = 0, max_new = 0;
  std::vector<size_t> prompt_len;  // per prompt
  std::vector<size_t> cap;         // per prompt: min(prompt + max_new_tokens, max_positions)
  size_t longest_cap = 0;
  size_t total_capacity = 0;       // sum over sequences of capacity(q)

  // Tokens sequence q may produce: min(max_new_tokens, max_positions - prompt length).
  size_t capacity(size_t q) const { return cap[q / n] - prompt_len[q / n]; }
};

// The most sequences one generate call takes, and the most tokens it returns (int32 offsets).
constexpr size_t kMaxGenerateSequences = size_t(1) << 24;
constexpr size_t kMaxGenerateTokens = 0x7fffffff;

// Checks a generate call as dapo::Engine::generate does (same messages), with every size product
// and sum checked for overflow and bounded, before anything is allocated.
GeneratePlan plan_generate(const ModelConfig& c, const dapo_cuda_generate_args& a);

// a * b and a + b, or a range error naming `what` when the result does not fit in size_t.
size_t checked_mul(size_t a, size_t b, const char* what);
size_t checked_add(size_t a, size_t b, const char* what);

}  // namespace dapo::cuda::model
