// The DAPO loss from hidden states and the LM-head weight (logits = hidden weight^T), with
// gradients for both: the CPU twin of native/cuda/dapo_loss_hidden.cu. Logits are made one
// vocabulary chunk at a time with an online log-sum-exp, so [N x V] never exists. Written to
// be plainly right, not fast: double accumulation, three passes (statistics, d hidden,
// d weight), each recomputing its logits.
#pragma once
#include <cstddef>
#include <cstdint>

#include "loss/dapo_loss.h"

namespace dapo {

struct HiddenLossInputs {
  size_t n = 0, hidden = 0, vocab = 0;
  const float* hidden_f32 = nullptr;  // [n*hidden], or bf16 bits below
  const uint16_t* hidden_bf16 = nullptr;
  const float* weight_f32 = nullptr;  // [vocab*hidden], same dtype as hidden
  const uint16_t* weight_bf16 = nullptr;
  const int32_t* tokens = nullptr;
  const float* old_logprobs = nullptr;
  const float* advantages = nullptr;
  const uint8_t* mask = nullptr;
  const int32_t* seq_ids = nullptr;
  const float* ref_logprobs = nullptr;  // [n], frozen reference policy, when options.kl_coef > 0
  size_t vocab_chunk = 4096;  // logits per row made at once
};

struct HiddenLossOutputs {
  float* grad_hidden = nullptr;  // [n*hidden]
  float* grad_weight = nullptr;  // [vocab*hidden]
  float* logprobs = nullptr;     // [n]
  float* entropy = nullptr;      // [n], when asked
};

// Same checks and messages as dapo_loss (a non-finite logit is reported as its logits row).
LossStats dapo_loss_from_hidden(const HiddenLossInputs& in, const LossOptions& options, const HiddenLossOutputs& out);

}  // namespace dapo
