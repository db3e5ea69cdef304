// The LM head and the loss in one pass over chunks of tokens, for the C ABI's
// dapo_cuda_dapo_loss_hidden and for the CUDA policy engine (accumulate and logprobs): the
// [n x vocab] logits never exist whole. Per chunk of rows:
//   L  = X_c W^T                        (GEMM, fp32 out)
//   G  = d loss / d L                   (the fused row sweep of row_loss.cuh, which divides the
//                                        logits by the temperature and its gradient likewise)
//   dX_c = G W,  dW += G^T X_c          (GEMMs; dW once per two chunks, so its K is 2 chunks)
// Two chunks are in flight: the GEMMs run on `stream`, the row sweep on a second stream, so
// the sweep of chunk k overlaps the GEMMs of chunks k - 1 and k + 1 (events order them).
// Stream-ordered on `stream` (the call returns before the work is done); scratch (two chunks of
// fp32 logits and of gradient) comes from `scratch` and is freed when it goes out of scope.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>

#include "cuda/buffers.cuh"
#include "cuda/loss_prep.cuh"

namespace dapo::cuda {

namespace model {
class Gemm;  // cuBLASLt wrapper, native/cuda/model/ops.cuh
}

struct LmHeadLossParams {
  size_t n = 0, hidden = 0, vocab = 0;
  int dtype = DAPO_CUDA_BF16;        // of hidden_states, weight and grad_hidden: DAPO_CUDA_F32 or DAPO_CUDA_BF16
  const void* hidden_states = nullptr;  // [n, hidden], device
  const void* weight = nullptr;         // [vocab, hidden], device
  // Outputs, device; both null: log-probs (and entropy) only, no gradient (logprobs()).
  void* grad_hidden = nullptr;          // [n, hidden], written
  float* grad_weight = nullptr;         // [vocab, hidden] fp32, accumulated (+=), never overwritten
  // Prepared by prepare_loss (weights, records, outputs). For log-probs only, tokens and
  // logprobs_out (entropy_out when asked) are enough (see TokenArrays).
  TokenArrays tokens;
  ClipConfig clip{};
  int term = kTermDapo;
  float kl_coef = 0.0f;                 // with tokens.ref_logprobs
  float temperature = 1.0f;             // logits are divided by it (a float division, as the CPU engine)
  bool entropy = false;
  size_t chunk_rows = 0;                // 0: chosen from max_chunk_bytes
  size_t max_chunk_bytes = 0;           // 0: the default budget (896 MiB) for both chunks' logits and gradients
  // Element type of grad_hidden: 0 = dtype; DAPO_CUDA_F32 also over bf16 inputs (the C ABI's).
  int grad_hidden_dtype = 0;
  // The caller's GEMM (its algorithm cache and workspace); null: one kept per host thread.
  model::Gemm* gemm = nullptr;
};

// The rows per chunk lm_head_loss will use for p (at least 1, at most n).
size_t lm_head_chunk_rows(const LmHeadLossParams& p);

// 0, or a status with the reason in message (cudaError_t > 0, DAPO_CUDA_ERR_* < 0). Bad or
// overflowed values are reported later, by finish_loss on the status prepare_loss made.
int lm_head_loss(const LmHeadLossParams& p, Scratch& scratch, cudaStream_t stream, char* message,
                 size_t message_size);

}  // namespace dapo::cuda
