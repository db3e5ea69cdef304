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

// What each row contributes to the loss (RowLossParams::term, LmHeadLossParams::term).
enum LossTerm : int {
  kTermDapo = 0,  // token_loss (loss/token_loss.h), plus kl_coef * kl_penalty when ref log-probs are given
  kTermNll = 1,   // -log p(token), d/dlogp = -1: the supervised warm-up
};

// Device pointers of the per-token arrays, and the per-row records a sweep writes for the
// reduction. Row i of a sweep is token i of these arrays.
//
// A log-probs-only sweep (no gradient) needs only tokens and logprobs_out (entropy_out when
// asked); weights, the records and the status pointers may then be null.
struct TokenArrays {
  const int32_t* tokens = nullptr;
  const float* old_logprobs = nullptr;   // kTermDapo
  const float* advantages = nullptr;     // kTermDapo
  const uint8_t* mask = nullptr;         // null: every token counted
  const int32_t* seq_ids = nullptr;
  const float* weights = nullptr;        // aggregation weight per token (0 for masked ones)
  const float* ref_logprobs = nullptr;   // kTermDapo with kl_coef > 0: the frozen reference's log-probs
  float* logprobs_out = nullptr;
  float* entropy_out = nullptr;
  float* rec_loss = nullptr;     // per-token loss l_i (kl_coef * KL included)
  float* rec_nkl = nullptr;      // old - logp after the clamp
  float* rec_kl_ref = nullptr;   // the KL penalty to the reference, before kl_coef (0 without one)
  uint8_t* rec_flags = nullptr;  // bit 0 low, bit 1 high, bit 2 dual
  unsigned long long* bad_row = nullptr;        // first row with a non-finite logit (atomicMin)
  unsigned long long* nonfinite_row = nullptr;  // first counted row whose loss or gradient overflowed
};

// Written by the device, read by the host once at the end of a call.
struct DeviceStatus {
  unsigned long long first_invalid;  // (index << 3) | check, the first failing input check
  unsigned long long bad_row;        // first logits row with a non-finite value
  unsigned long long nonfinite_row;  // first counted row whose loss or gradient scale is not finite
  double loss, kl, kl_ref;           // sums over counted tokens: weighted loss, old - logp, KL penalty
  unsigned long long low, high, dual, tokens;
};

enum InvalidCheck : unsigned {
  kOldLogprobs = 1,
  kAdvantages = 2,
  kLogprobs = 3,
  kTokens = 4,
  kSeqIds = 5,
  kRefLogprobs = 6,
};

struct PrepInputs {
  size_t n = 0, vocab = 0;  // vocab 0: no token check (log-probs mode)
  const int32_t* tokens = nullptr;
  const float* logprobs = nullptr;
  const float* old_logprobs = nullptr;   // kTermNll: may be null, not validated
  const float* advantages = nullptr;     // kTermNll: may be null, not validated
  const uint8_t* mask = nullptr;         // null: every token counted
  const int32_t* seq_ids = nullptr;
  const float* ref_logprobs = nullptr;   // validated finite when given (pass it only with kl_coef > 0)
  int term = kTermDapo;                  // LossTerm: kTermDapo or kTermNll
  int aggregation = DAPO_CUDA_TOKEN_MEAN;
  double token_count = -1, seq_count = -1;
};

// Validates, counts and fills weights[n] and the per-row record buffers of `arrays`;
// *status is device memory initialised for the sweep. Enqueued on `stream`; the buffers come
// from `scratch`, whose stream must be `stream` (Scratch(stream)) or ordered before it.
cudaError_t prepare_loss(Scratch& scratch, const PrepInputs& in, TokenArrays* arrays, DeviceStatus** status,
                         cudaStream_t stream = 0);

// Second stage: one block sums the per-row records in a fixed order into *status.
cudaError_t reduce_loss(size_t n, const TokenArrays& arrays, DeviceStatus* status, cudaStream_t stream = 0);

// Copies the status back (synchronising) and turns a failed check into DAPO_CUDA_ERR_RANGE
// with the CPU kernel's message, an overflowed loss or gradient into DAPO_CUDA_ERR_NONFINITE
// naming the token; fills stats (kl_ref included) on success.
int finish_loss(const DeviceStatus* device_status, const PrepInputs& in, dapo_cuda_loss_stats* stats, char* message,
                size_t message_size);

// Common staging of the per-token inputs and outputs of both loss entry points (ref_logprobs
// only when kl_coef > 0).
struct StagedCommon {
  PrepInputs prep;
  StagedOut logprobs, entropy;
};
cudaError_t stage_common(Scratch& scratch, const dapo_cuda_loss_common& c, size_t vocab, StagedCommon* out);

// The KL penalty's arguments (the bindings check them first): kl_coef finite and >= 0, and
// ref_logprobs given when kl_coef > 0.
inline int check_kl(const dapo_cuda_loss_common& c, char* message, size_t message_size) {
  if (!(c.kl_coef >= 0) || c.kl_coef > 3.4e38)
    return fail(DAPO_CUDA_ERR_ARGS, message, message_size, "kl_coef must be a finite number >= 0");
  if (c.kl_coef > 0 && !c.ref_logprobs.ptr)
    return fail(DAPO_CUDA_ERR_ARGS, message, message_size, "ref_logprobs is required when kl_coef > 0");
  return 0;
}

inline ClipConfig clip_of(const dapo_cuda_loss_common& c) {
  return ClipConfig{c.clip_low, c.clip_high, c.clip_c, c.use_dual_clip != 0};
}

}  // namespace dapo::cuda
