// The DAPO policy loss over a packed batch of N tokens, from logits (fused log-softmax,
// loss and gradient per row) or from precomputed log-probs.
#pragma once
#include <cstddef>
#include <cstdint>

#include "loss/aggregation.h"
#include "loss/token_loss.h"

namespace dapo {

struct LossInputs {
  size_t n = 0;                        // tokens
  bool from_logits = false;            // logits mode, else log-probs mode
  size_t vocab = 0;                    // V, logits mode only
  const float* logits_f32 = nullptr;   // [n*V], or
  const uint16_t* logits_bf16 = nullptr;
  const int32_t* tokens = nullptr;     // [n], logits mode
  const float* logprobs = nullptr;     // [n], log-probs mode
  const float* old_logprobs = nullptr; // [n]
  const float* advantages = nullptr;   // [n]
  const uint8_t* mask = nullptr;       // [n]
  const int32_t* seq_ids = nullptr;    // [n], seq-mean modes
  const float* ref_logprobs = nullptr; // [n], frozen reference policy, when kl_coef > 0
};

struct LossOptions {
  ClipConfig clip{0.2f, 0.28f, 3.0f, false};
  AggregationConfig aggregation;
  bool entropy = false;
  float kl_coef = 0;  // weight of the KL penalty to the reference (needs ref_logprobs)
};

struct LossOutputs {
  float* grad = nullptr;      // [n*V] (logits mode) or [n] (log-probs mode)
  float* logprobs = nullptr;  // [n]
  float* entropy = nullptr;   // [n], logits mode, when asked
};

struct LossStats {
  double loss = 0;
  double clip_frac_low = 0, clip_frac_high = 0, clip_frac_dual = 0;
  double approx_kl = 0;
  double kl_ref = 0;  // mean KL penalty to the reference over counted tokens (0 without one)
  size_t tokens = 0;  // counted tokens in this call
};

// Throws dapo::Error (range) naming the argument and row for ids out of range, non-finite
// values and sequence ids outside [0, n).
LossStats dapo_loss(const LossInputs& in, const LossOptions& options, const LossOutputs& out);

}  // namespace dapo
