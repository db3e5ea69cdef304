// What the logits and the hidden-state losses share on the device: input validation, the
// aggregation weights (computed before the sweep, so each row's gradient scale is known when
// the row is read), and the fixed-order two-stage reduction of the loss and its statistics.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "cuda/api.h"
#include "cuda/buffers.cuh"
#include "loss/token_loss.h"

namespace dapo::cuda {

// Device pointers of the per-token arrays, and the per-row records a sweep writes for the
// reduction. Row i of a sweep is token i of these arrays.
struct TokenArrays {
  const int32_t* tokens = nullptr;
  const float* old_logprobs = nullptr;
  const float* advantages = nullptr;
  const uint8_t* mask = nullptr;
  const int32_t* seq_ids = nullptr;
  const float* weights = nullptr;
  const float* ref_logprobs = nullptr;   // kTermDapo with kl_coef > 0: the frozen reference's log-probs
  float* logprobs_out = nullptr;
  float* entropy_out = nullptr;
  float* rec_loss = nullptr;     // per-token loss l_i
  float* rec_nkl = nullptr;      // old - logp after the clamp
  uint8_t* rec_flags = nullptr;  // bit 0 low, bit 1 high, bit 2 dual
  unsigned long long* bad_row = nullptr;  // first row with a non-finite logit (atomicMin)
};

// Written by the device, read by the host once at the end of a call.
struct DeviceStatus {
  unsigned long long first_invalid;  // (index << 3) | check, the first failing input check
  unsigned long long bad_row;        // first logits row with a non-finite value
  double loss, kl;
  unsigned long long low, high, dual, tokens;
};

enum InvalidCheck : unsigned { kOldLogprobs = 1, kAdvantages = 2, kLogprobs = 3, kTokens = 4, kSeqIds = 5 };

struct PrepInputs {
  size_t n = 0, vocab = 0;  // vocab 0: no token check (log-probs mode)
  const int32_t* tokens = nullptr;
  const float* logprobs = nullptr;
  const float* old_logprobs = nullptr;
  const float* advantages = nullptr;
  const uint8_t* mask = nullptr;
  const int32_t* seq_ids = nullptr;
  const float* ref_logprobs = nullptr;   // validated finite when given (pass it only with kl_coef > 0)
  int term = 0;                          // LossTerm (lm_head_loss.cuh): kTermDapo or kTermNll
  int aggregation = DAPO_CUDA_TOKEN_MEAN;
  double token_count = -1, seq_count = -1;
};

// Validates, counts and fills weights[n] and the per-row record buffers of `arrays`;
// *status is device memory initialised for the sweep.
cudaError_t prepare_loss(Scratch& scratch, const PrepInputs& in, TokenArrays* arrays, DeviceStatus** status);

// Second stage: one block sums the per-row records in a fixed order into *status.
cudaError_t reduce_loss(size_t n, const TokenArrays& arrays, DeviceStatus* status);

// Copies the status back (synchronising) and turns a failed check into DAPO_CUDA_ERR_RANGE
// with the CPU kernel's message; fills stats on success.
int finish_loss(const DeviceStatus* device_status, const PrepInputs& in, dapo_cuda_loss_stats* stats, char* message,
                size_t message_size);

// Common staging of the per-token inputs and outputs of both loss entry points.
struct StagedCommon {
  PrepInputs prep;
  StagedOut logprobs, entropy;
};
cudaError_t stage_common(Scratch& scratch, const dapo_cuda_loss_common& c, size_t vocab, StagedCommon* out);

inline ClipConfig clip_of(const dapo_cuda_loss_common& c) {
  return ClipConfig{c.clip_low, c.clip_high, c.clip_c, c.use_dual_clip != 0};
}

}  // namespace dapo::cuda
