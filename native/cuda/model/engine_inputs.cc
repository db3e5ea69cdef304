#include "cuda/model/engine_inputs.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "cuda/model/engine_error.h"

namespace dapo::cuda::model {

size_t checked_mul(size_t a, size_t b, const char* what) {
  if (a != 0 && b > std::numeric_limits<size_t>::max() / a)
    throw_range(std::string(what) + " overflows: " + std::to_string(a) + " x " + std::to_string(b));
  return a * b;
}

size_t checked_add(size_t a, size_t b, const char* what) {
  if (b > std::numeric_limits<size_t>::max() - a)
    throw_range(std::string(what) + " overflows: " + std::to_string(a) + " + " + std::to_string(b));
  return a + b;
}

// ---------------------------------------------------------------------------------------------
// Packed batches

namespace {

// As Engine::count_targets: the sequences, their prompt lengths, then the tokens.
size_t count_targets(const ModelConfig& c, const dapo_cuda_packed_batch& b) {
  if (b.n_seqs == 0 || !b.offsets) throw_range("offsets must hold at least two entries (one sequence)");
  if (b.n_tokens > 0 && !b.tokens) throw_args("tokens is null but the batch has " + std::to_string(b.n_tokens));
  if (b.offsets[0] != 0) throw_range("offsets[0] must be 0, got " + std::to_string(b.offsets[0]));
  if (b.offsets[b.n_seqs] < 0 || static_cast<size_t>(b.offsets[b.n_seqs]) != b.n_tokens)
    throw_range("offsets[" + std::to_string(b.n_seqs) + "] = " + std::to_string(b.offsets[b.n_seqs]) +
                " must equal tokens.length = " + std::to_string(b.n_tokens));
  size_t targets = 0;
  for (size_t s = 0; s < b.n_seqs; ++s) {
    const int64_t len = static_cast<int64_t>(b.offsets[s + 1]) - b.offsets[s];
    if (len < 1)
      throw_range("offsets must increase: sequence " + std::to_string(s) + " has length " + std::to_string(len));
    if (static_cast<size_t>(len) > c.max_positions)
      throw_range("sequence " + std::to_string(s) + " has " + std::to_string(len) +
                  " tokens, more than the context (max_position_embeddings = " + std::to_string(c.max_positions) + ")");
    const int64_t p = b.prompt_lengths ? b.prompt_lengths[s] : 0;
    if (p < 0 || p > len)
      throw_range("promptLengths[" + std::to_string(s) + "] = " + std::to_string(p) + " is outside [0, " +
                  std::to_string(len) + "]");
    targets += static_cast<size_t>(len - std::max<int64_t>(p, 1));
  }
  for (size_t i = 0; i < b.n_tokens; ++i)
    if (b.tokens[i] < 0 || static_cast<size_t>(b.tokens[i]) >= c.vocab)
      throw_range("tokens[" + std::to_string(i) + "] = " + std::to_string(b.tokens[i]) +
                  " is outside [0, vocabSize = " + std::to_string(c.vocab) + ")");
  return targets;
}

}  // namespace

PackedPlan plan_packed_batch(const ModelConfig& c, const dapo_cuda_packed_batch& b) {
  PackedPlan plan;
  plan.n_targets = count_targets(c, b);
  plan.n_tokens = b.n_tokens;
  plan.n_seqs = b.n_seqs;
  const size_t t = b.n_tokens, s = b.n_seqs, n = plan.n_targets;
  plan.tokens_at = 0;
  plan.positions_at = t;
  plan.cu_seqlens_at = 2 * t;
  plan.target_rows_at = 2 * t + s + 1;
  plan.target_tokens_at = plan.target_rows_at + n;
  plan.target_seqs_at = plan.target_tokens_at + n;
  plan.ints.resize(plan.target_seqs_at + n);
  int32_t* ints = plan.ints.data();
  std::copy(b.tokens, b.tokens + t, ints + plan.tokens_at);
  std::copy(b.offsets, b.offsets + s + 1, ints + plan.cu_seqlens_at);
  size_t target = 0;
  int32_t dense_seq = 0;
  for (size_t q = 0; q < s; ++q) {
    const int32_t off = b.offsets[q], len = b.offsets[q + 1] - b.offsets[q];
    plan.longest = std::max<size_t>(plan.longest, static_cast<size_t>(len));
    for (int32_t i = 0; i < len; ++i) ints[plan.positions_at + off + i] = i;
    const int32_t first = std::max<int32_t>(b.prompt_lengths ? b.prompt_lengths[q] : 0, 1);
    for (int32_t i = first; i < len; ++i, ++target) {
      ints[plan.target_rows_at + target] = off + i - 1;
      ints[plan.target_tokens_at + target] = b.tokens[off + i];
      ints[plan.target_seqs_at + target] = dense_seq;
    }
    if (first < len) ++dense_seq;
  }
  return plan;
}

// ---------------------------------------------------------------------------------------------
// Loss options

void check_temperature(double temperature) {
  if (!(temperature > 0) || !std::isfinite(temperature))
    throw_range("temperature must be a finite number > 0, got " + std::to_string(temperature));
}

namespace {

void check_finite(const float* x, size_t n, const char* name) {
  for (size_t i = 0; i < n; ++i)
    if (!std::isfinite(x[i])) throw_range(std::string(name) + "[" + std::to_string(i) + "] is not finite");
}

void check_count(double count, const char* name) {
  if (std::isnan(count) || std::isinf(count))
    throw_range(std::string(name) + " must be a finite count (< 0: counted from the mask), got " + std::to_string(count));
}

}  // namespace

void check_accumulate_args(const dapo_cuda_accumulate_args& a, size_t n) {
  if (a.kind != DAPO_CUDA_LOSS_DAPO && a.kind != DAPO_CUDA_LOSS_NLL)
    throw_args("kind must be DAPO_CUDA_LOSS_DAPO or DAPO_CUDA_LOSS_NLL, got " + std::to_string(a.kind));
  check_count(a.token_count, "tokenCount");
  if (a.kind == DAPO_CUDA_LOSS_NLL) return;
  if (n > 0 && (!a.old_logprobs || !a.advantages)) throw_args("the dapo loss needs oldLogprobs and advantages");
  if (!(a.clip_low >= 0 && a.clip_low < 1)) throw_range("clipLow must be in [0, 1)");
  if (!(a.clip_high >= 0) || !std::isfinite(a.clip_high)) throw_range("clipHigh must be >= 0");
  if (a.use_dual_clip && !(a.clip_c > 1)) throw_range("clipC must be greater than 1, got " + std::to_string(a.clip_c));
  if (a.aggregation != DAPO_CUDA_TOKEN_MEAN && a.aggregation != DAPO_CUDA_SEQ_MEAN_TOKEN_MEAN &&
      a.aggregation != DAPO_CUDA_SEQ_MEAN_TOKEN_SUM)
    throw_range("aggregation must be token-mean, seq-mean-token-mean or seq-mean-token-sum, got " +
                std::to_string(a.aggregation));
  check_count(a.seq_count, "seqCount");
  if (!(a.kl_coef >= 0) || !std::isfinite(a.kl_coef))
    throw_range("klCoef must be >= 0, got " + std::to_string(a.kl_coef));
  if (a.kl_coef > 0 && n > 0 && !a.ref_logprobs) throw_args("refLogprobs is required when klCoef > 0");
  check_temperature(a.temperature);
  if (n == 0) return;
  check_finite(a.old_logprobs, n, "oldLogprobs");
  check_finite(a.advantages, n, "advantages");
  if (a.kl_coef > 0) check_finite(a.ref_logprobs, n, "refLogprobs");
}

// ---------------------------------------------------------------------------------------------
// Generation

GeneratePlan plan_generate(const ModelConfig& c, const dapo_cuda_generate_args& a) {
  if (a.n_prompts == 0 || !a.prompt_offsets) throw_range("prompts must hold at least one prompt");
  if (a.n == 0) throw_range("n must be >= 1");
  if (a.prompt_offsets[0] != 0) throw_range("prompt offsets must start at 0");
  if (!a.prompt_tokens) throw_args("prompt tokens are null");
  if (!(a.temperature >= 0) || !std::isfinite(a.temperature)) throw_range("temperature must be >= 0");
  if (!(a.top_p > 0 && a.top_p <= 1)) throw_range("topP must be in (0, 1]");
  if (a.n_stop > 0 && !a.stop) throw_args("stop is null but n_stop = " + std::to_string(a.n_stop));
  GeneratePlan plan;
  plan.n_prompts = a.n_prompts;
  plan.n = a.n;
  plan.max_new = a.max_new_tokens;
  plan.n_seqs = checked_mul(a.n_prompts, a.n, "n x prompts");
  if (plan.n_seqs > kMaxGenerateSequences)
    throw_range("n x prompts = " + std::to_string(plan.n_seqs) + " sequences is more than one call generates (at most " +
                std::to_string(kMaxGenerateSequences) + ")");
  plan.prompt_len.resize(a.n_prompts);
  plan.cap.resize(a.n_prompts);
  for (size_t p = 0; p < a.n_prompts; ++p) {
    const int64_t len = static_cast<int64_t>(a.prompt_offsets[p + 1]) - a.prompt_offsets[p];
    if (len < 1) throw_range("prompts[" + std::to_string(p) + "] is empty");
    if (static_cast<size_t>(len) >= c.max_positions)
      throw_range("prompts[" + std::to_string(p) + "] has " + std::to_string(len) +
                  " tokens, which leaves no room in the context (max_position_embeddings = " +
                  std::to_string(c.max_positions) + ")");
    for (int32_t i = a.prompt_offsets[p]; i < a.prompt_offsets[p + 1]; ++i)
      if (a.prompt_tokens[i] < 0 || static_cast<size_t>(a.prompt_tokens[i]) >= c.vocab)
        throw_range("prompts[" + std::to_string(p) + "][" + std::to_string(i - a.prompt_offsets[p]) + "] = " +
                    std::to_string(a.prompt_tokens[i]) + " is outside [0, vocabSize = " + std::to_string(c.vocab) + ")");
    const size_t plen = static_cast<size_t>(len);
    plan.prompt_len[p] = plen;
    // min(plen + max_new, max_positions) without forming a sum that could wrap.
    plan.cap[p] = a.max_new_tokens >= c.max_positions - plen ? c.max_positions : plen + a.max_new_tokens;
    plan.longest_cap = std::max(plan.longest_cap, plan.cap[p]);
    const size_t per_prompt = checked_mul(plan.cap[p] - plen, a.n, "the generated tokens of a prompt");
    plan.total_capacity = checked_add(plan.total_capacity, per_prompt, "the generated tokens");
  }
  for (size_t i = 0; i < a.n_stop; ++i)
    if (a.stop[i] < 0 || static_cast<size_t>(a.stop[i]) >= c.vocab)
      throw_range("stop[" + std::to_string(i) + "] = " + std::to_string(a.stop[i]) + " is outside [0, vocabSize)");
  if (plan.total_capacity > kMaxGenerateTokens)
    throw_range("the call may generate " + std::to_string(plan.total_capacity) + " tokens (n x prompts x maxNewTokens), more than " +
                std::to_string(kMaxGenerateTokens) + " (outputs are indexed with int32 offsets)");
  return plan;
}

}  // namespace dapo::cuda::model
