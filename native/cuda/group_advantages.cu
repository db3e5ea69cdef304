// Group advantages on the device: one thread per group, sums in double in the order of
// native/loss/group_advantages.cc, so results match it to the last bit of the float.
#include "cuda/api.h"
#include "cuda/buffers.cuh"
#include "cuda/check.cuh"

#include <string>

namespace dapo::cuda {
namespace {

__global__ void group_advantages_kernel(const float* rewards, size_t n, size_t group_size, bool use_std, double eps,
                                        float* out, unsigned long long* first_bad) {
  const size_t groups = n / group_size;
  for (size_t g = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; g < groups;
       g += static_cast<size_t>(gridDim.x) * blockDim.x) {
    const float* r = rewards + g * group_size;
    for (size_t i = 0; i < group_size; ++i)
      if (!isfinite(r[i])) {
        atomicMin(first_bad, static_cast<unsigned long long>(g * group_size + i));
        break;
      }
    double mean = 0, std = 1;
    if (group_size > 1) {
      for (size_t i = 0; i < group_size; ++i) mean += r[i];
      mean /= static_cast<double>(group_size);
      double squares = 0;
      for (size_t i = 0; i < group_size; ++i) squares += (r[i] - mean) * (r[i] - mean);
      std = sqrt(squares / static_cast<double>(group_size - 1));
    }
    for (size_t i = 0; i < group_size; ++i)
      out[g * group_size + i] = static_cast<float>(use_std ? (r[i] - mean) / (std + eps) : r[i] - mean);
  }
}

}  // namespace
}  // namespace dapo::cuda

extern "C" int dapo_cuda_group_advantages(dapo_cuda_in rewards, size_t n, size_t group_size, int use_std, double eps,
                                          dapo_cuda_out out, char* message, size_t message_size) {
  using namespace dapo::cuda;
  if (group_size == 0 || n % group_size != 0)
    return fail(DAPO_CUDA_ERR_ARGS, message, message_size, "n must be a multiple of a positive group size");
  keep_pool_memory();
  Scratch scratch;
  const void* d_rewards = nullptr;
  DAPO_CUDA_TRY(stage_in(scratch, rewards, n * 4, &d_rewards), message, message_size);
  StagedOut d_out;
  DAPO_CUDA_TRY(stage_out(scratch, out, n * 4, &d_out), message, message_size);
  unsigned long long* first_bad = nullptr;
  DAPO_CUDA_TRY(scratch.alloc_n(&first_bad, 1), message, message_size);
  DAPO_CUDA_TRY(cudaMemsetAsync(first_bad, 0xff, sizeof *first_bad, 0), message, message_size);
  const size_t groups = n / group_size;
  if (groups > 0) {
    const unsigned blocks = static_cast<unsigned>(groups / 128 + 1 < 4096 ? groups / 128 + 1 : 4096);
    group_advantages_kernel<<<blocks, 128>>>(static_cast<const float*>(d_rewards), n, group_size, use_std != 0, eps,
                                             static_cast<float*>(d_out.device), first_bad);
    DAPO_CUDA_TRY(cudaGetLastError(), message, message_size);
  }
  DAPO_CUDA_TRY(copy_back(d_out), message, message_size);
  unsigned long long bad = 0;
  DAPO_CUDA_TRY(cudaMemcpy(&bad, first_bad, sizeof bad, cudaMemcpyDeviceToHost), message, message_size);
  if (bad != ~0ull) {
    const std::string text = "rewards[" + std::to_string(bad) + "] is not finite";
    return fail(DAPO_CUDA_ERR_RANGE, message, message_size, text.c_str());
  }
  return 0;
}
