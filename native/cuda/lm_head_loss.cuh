// The LM head and the loss in one pass over chunks of tokens, for the C ABI's
// dapo_cuda_dapo_loss_hidden and for the CUDA policy engine (accumulate and logprobs): the
// [n x vocab] logits never exist whole. Per chunk of rows:
//   L  = X_c W^T / temperature          (GEMM, fp32 out)
//   G  = d loss / d L                   (the fused row sweep of row_loss.cuh)
//   dX_c = G W / temperature,  dW += G^T X_c / temperature
// Stream-ordered on `stream`; scratch (one or two chunks of logits and gradient) comes from
// `scratch` and is freed when it goes out of scope.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>

#include "cuda/buffers.cuh"
#include "cuda/loss_prep.cuh"

namespace dapo::cuda {

// What each row contributes to the loss (see row_loss.cuh's RowLossParams::term).
enum LossTerm : int {
  kTermDapo = 0,  // token_loss (loss/token_loss.h), plus kl_coef * kl_penalty when ref log-probs are given
  kTermNll = 1,   // -log p(token): the supervised warm-up
};

struct LmHeadLossParams {
  size_t n = 0, hidden = 0, vocab = 0;
  int dtype = DAPO_CUDA_BF16;        // of hidden_states, weight and grad_hidden: DAPO_CUDA_F32 or DAPO_CUDA_BF16
  const void* hidden_states = nullptr;  // [n, hidden], device
  const void* weight = nullptr;         // [vocab, hidden], device
  // Outputs, device; both null: log-probs (and entropy) only, no gradient (logprobs()).
  void* grad_hidden = nullptr;          // [n, hidden], written
  float* grad_weight = nullptr;         // [vocab, hidden] fp32, accumulated (+=), never overwritten
  TokenArrays tokens;                   // prepared by prepare_loss (weights, records, outputs)
  ClipConfig clip{};
  int term = kTermDapo;
  float kl_coef = 0.0f;                 // with tokens.ref_logprobs
  float temperature = 1.0f;             // logits are divided by it (a float division, as the CPU engine)
  bool entropy = false;
  size_t chunk_rows = 0;                // 0: chosen from max_chunk_bytes
  size_t max_chunk_bytes = 0;           // 0: the default budget
};

// 0, or a status with the reason in message (cudaError_t > 0, DAPO_CUDA_ERR_* < 0).
int lm_head_loss(const LmHeadLossParams& p, Scratch& scratch, cudaStream_t stream, char* message,
                 size_t message_size);

}  // namespace dapo::cuda
