// dapo_cuda_dapo_loss: the DAPO loss from logits (fused row sweep, row_loss.cu) or from
// log-probs, with the contract of native/loss/dapo_loss.cc. Order of device work: validate and
// weigh the tokens, sweep, reduce the records; one synchronisation at the end reads the status.
#include "cuda/api.h"
#include "cuda/buffers.cuh"
#include "cuda/check.cuh"
#include "cuda/loss_prep.cuh"
#include "cuda/row_loss.cuh"
#include "cuda/row_loss_terms.cuh"

namespace dapo::cuda {
namespace {

__global__ void logprob_loss(size_t n, const float* logprobs, ClipConfig clip, float kl_coef, TokenArrays a,
                             float* grad) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    grad[i] = token_terms_device(a, i, logprobs[i], kTermDapo, clip, kl_coef);
    a.logprobs_out[i] = logprobs[i];
  }
}

int run(const dapo_cuda_loss_args& args, dapo_cuda_loss_stats* stats, char* message, size_t message_size) {
  const dapo_cuda_loss_common& c = args.common;
  const size_t n = c.n;
  const bool logits_mode = args.logits_dtype != 0;
  if (logits_mode && (args.vocab == 0 || !args.logits.ptr))
    return fail(DAPO_CUDA_ERR_ARGS, message, message_size, "logits mode needs logits and vocab");
  if (!logits_mode && !args.logprobs.ptr)
    return fail(DAPO_CUDA_ERR_ARGS, message, message_size, "logits or logprobs is required");
  if (args.grad_dtype == DAPO_CUDA_BF16 && !(logits_mode && args.logits_dtype == DAPO_CUDA_BF16 && args.grad.on_device))
    return fail(DAPO_CUDA_ERR_ARGS, message, message_size, "a bf16 gradient is only written on the device over bf16 logits");
  if (int rc = check_kl(c, message, message_size)) return rc;

  keep_pool_memory();
  Scratch scratch;
  StagedCommon common;
  const size_t vocab = logits_mode ? args.vocab : 0;
  DAPO_CUDA_TRY(stage_common(scratch, c, vocab, &common), message, message_size);
  const size_t elements = logits_mode ? n * args.vocab : n;
  const size_t logit_bytes = elements * (args.logits_dtype == DAPO_CUDA_BF16 ? 2 : 4);
  const void* logits = nullptr;
  const void* logprobs = nullptr;
  if (logits_mode) DAPO_CUDA_TRY(stage_in(scratch, args.logits, logit_bytes, &logits), message, message_size);
  else DAPO_CUDA_TRY(stage_in(scratch, args.logprobs, n * 4, &logprobs), message, message_size);
  common.prep.logprobs = static_cast<const float*>(logprobs);
  StagedOut grad;
  const size_t grad_bytes = elements * (args.grad_dtype == DAPO_CUDA_BF16 ? 2 : 4);
  DAPO_CUDA_TRY(stage_out(scratch, args.grad, grad_bytes, &grad), message, message_size);

  EventTimer timer;
  DAPO_CUDA_TRY(timer.start(), message, message_size);
  TokenArrays arrays;
  DeviceStatus* status = nullptr;
  DAPO_CUDA_TRY(prepare_loss(scratch, common.prep, &arrays, &status), message, message_size);
  arrays.logprobs_out = static_cast<float*>(common.logprobs.device);
  arrays.entropy_out = c.entropy ? static_cast<float*>(common.entropy.device) : nullptr;
  if (n > 0) {
    if (logits_mode) {
      RowLossParams p;
      p.logits = logits;
      p.dtype = args.logits_dtype;
      p.vocab = p.ld = args.vocab;
      p.rows = n;
      p.grad = grad.device;
      p.grad_dtype = args.grad_dtype == DAPO_CUDA_BF16 ? DAPO_CUDA_BF16 : DAPO_CUDA_F32;
      p.grad_ld = args.vocab;
      p.tokens = arrays;
      p.clip = clip_of(c);
      p.entropy = c.entropy != 0;
      p.kl_coef = static_cast<float>(c.kl_coef);
      DAPO_CUDA_TRY(launch_row_loss(p), message, message_size);
    } else {
      const unsigned blocks = static_cast<unsigned>(n / 256 + 1 < 4096 ? n / 256 + 1 : 4096);
      logprob_loss<<<blocks, 256>>>(n, static_cast<const float*>(logprobs), clip_of(c), static_cast<float>(c.kl_coef),
                                    arrays, static_cast<float*>(grad.device));
      DAPO_CUDA_TRY(cudaGetLastError(), message, message_size);
    }
  }
  DAPO_CUDA_TRY(reduce_loss(n, arrays, status), message, message_size);
  DAPO_CUDA_TRY(timer.stop(), message, message_size);
  DAPO_CUDA_TRY(copy_back(grad), message, message_size);
  DAPO_CUDA_TRY(copy_back(common.logprobs), message, message_size);
  if (c.entropy) DAPO_CUDA_TRY(copy_back(common.entropy), message, message_size);
  const int rc = finish_loss(status, common.prep, stats, message, message_size);  // synchronises
  if (rc != 0) return rc;
  DAPO_CUDA_TRY(cudaGetLastError(), message, message_size);
  stats->kernel_ms = timer.elapsed();
  stats->peak_extra_bytes = scratch.peak();
  return 0;
}

}  // namespace
}  // namespace dapo::cuda

extern "C" int dapo_cuda_dapo_loss(const dapo_cuda_loss_args* args, dapo_cuda_loss_stats* stats, char* message,
                                   size_t message_size) {
  *stats = dapo_cuda_loss_stats{};
  return dapo::cuda::run(*args, stats, message, message_size);
}
