// dapo_cuda_dapo_loss_hidden: the DAPO loss from hidden states and the LM-head weight, with
// gradients for both, never holding the [N x V] logits: the C ABI over lm_head_loss.cuh (the
// same code the CUDA policy engine trains with). Stages the caller's buffers, validates and
// weighs the tokens, runs the chunked head, reduces, and reads the status once at the end.
// The ABI writes grad_weight (the engine's callers accumulate), so it is zeroed first.
#include "cuda/api.h"
#include "cuda/buffers.cuh"
#include "cuda/check.cuh"
#include "cuda/lm_head_loss.cuh"
#include "cuda/loss_prep.cuh"

namespace dapo::cuda {
namespace {

int run(const dapo_cuda_hidden_args& args, dapo_cuda_loss_stats* stats, char* message, size_t message_size) {
  const dapo_cuda_loss_common& c = args.common;
  const size_t n = c.n, h = args.hidden, v = args.vocab;
  if (h == 0 || v == 0) return fail(DAPO_CUDA_ERR_ARGS, message, message_size, "hidden size and vocab must be positive");
  if (int rc = check_kl(c, message, message_size)) return rc;

  keep_pool_memory();
  Scratch scratch;
  StagedCommon common;
  DAPO_CUDA_TRY(stage_common(scratch, c, v, &common), message, message_size);
  const void* x = nullptr;
  const void* w = nullptr;
  DAPO_CUDA_TRY(stage_in(scratch, args.hidden_states, n * h * 2, &x), message, message_size);
  DAPO_CUDA_TRY(stage_in(scratch, args.weight, v * h * 2, &w), message, message_size);
  StagedOut grad_x, grad_w;
  DAPO_CUDA_TRY(stage_out(scratch, args.grad_hidden, n * h * 4, &grad_x), message, message_size);
  DAPO_CUDA_TRY(stage_out(scratch, args.grad_weight, v * h * 4, &grad_w), message, message_size);
  const size_t staged_bytes = scratch.peak();

  EventTimer timer;
  DAPO_CUDA_TRY(timer.start(), message, message_size);
  TokenArrays arrays;
  DeviceStatus* status = nullptr;
  DAPO_CUDA_TRY(prepare_loss(scratch, common.prep, &arrays, &status), message, message_size);
  arrays.logprobs_out = static_cast<float*>(common.logprobs.device);
  arrays.entropy_out = c.entropy ? static_cast<float*>(common.entropy.device) : nullptr;
  DAPO_CUDA_TRY(cudaMemsetAsync(grad_w.device, 0, v * h * 4, 0), message, message_size);

  LmHeadLossParams head;
  head.n = n;
  head.hidden = h;
  head.vocab = v;
  head.dtype = DAPO_CUDA_BF16;
  head.hidden_states = x;
  head.weight = w;
  head.grad_hidden = grad_x.device;
  head.grad_weight = static_cast<float*>(grad_w.device);
  head.grad_hidden_dtype = DAPO_CUDA_F32;
  head.tokens = arrays;
  head.clip = clip_of(c);
  head.kl_coef = static_cast<float>(c.kl_coef);
  head.entropy = c.entropy != 0;
  head.chunk_rows = args.chunk_rows;
  head.max_chunk_bytes = args.max_chunk_bytes;
  if (int rc = lm_head_loss(head, scratch, 0, message, message_size)) return rc;

  DAPO_CUDA_TRY(reduce_loss(n, arrays, status), message, message_size);
  DAPO_CUDA_TRY(timer.stop(), message, message_size);
  DAPO_CUDA_TRY(copy_back(grad_x), message, message_size);
  DAPO_CUDA_TRY(copy_back(grad_w), message, message_size);
  DAPO_CUDA_TRY(copy_back(common.logprobs), message, message_size);
  if (c.entropy) DAPO_CUDA_TRY(copy_back(common.entropy), message, message_size);
  const int rc = finish_loss(status, common.prep, stats, message, message_size);  // synchronises
  if (rc != 0) return rc;
  DAPO_CUDA_TRY(cudaGetLastError(), message, message_size);
  stats->kernel_ms = timer.elapsed();
  // Scratch beyond the staged inputs and outputs (the GEMM's workspace is the Gemm's own).
  stats->peak_extra_bytes = scratch.peak() - staged_bytes;
  return 0;
}

}  // namespace
}  // namespace dapo::cuda

extern "C" int dapo_cuda_dapo_loss_hidden(const dapo_cuda_hidden_args* args, dapo_cuda_loss_stats* stats, char* message,
                                          size_t message_size) {
  *stats = dapo_cuda_loss_stats{};
  return dapo::cuda::run(*args, stats, message, message_size);
}
