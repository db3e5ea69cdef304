// cast: dst = (To) src over n elements (ops.cuh). The fp32 master weights -> the compute copy
// after a load or a write, and back for tests. Memory-bound: n * (sizeof(From) + sizeof(To))
// bytes, one read and one write of each element; 8 elements a thread-step, as two float4 or
// one bf16x8 access, when both pointers are 16-byte aligned.
#include "cuda/model/ops.cuh"
#include "cuda/model/vector_io.cuh"

namespace dapo::cuda::model {
namespace {

constexpr int kStep = 8;  // elements per thread-step on the vector path (a multiple of both kVec)

// Vector path over n / kStep steps, then the tail [n / kStep * kStep, n) one element a thread.
template <typename To, typename From, bool kVector>
__global__ void cast_kernel(const From* __restrict__ src, To* __restrict__ dst, size_t n) {
  const size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
  size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  size_t done = 0;
  if constexpr (kVector) {
    const size_t steps = n / kStep;
    for (size_t s = i; s < steps; s += stride) {
      float v[kStep];
      load_vec<kStep>(src + s * kStep, v);
      store_vec<kStep>(dst + s * kStep, v);
    }
    done = steps * kStep;
  }
  for (size_t e = done + i; e < n; e += stride) dst[e] = from_float<To>(to_float(src[e]));
}

}  // namespace

template <typename To, typename From>
cudaError_t cast(const From* src, To* dst, size_t n, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  if (!src || !dst) return cudaErrorInvalidValue;
  if (aligned16(src) && aligned16(dst))
    cast_kernel<To, From, true><<<flat_blocks(n / kStep + 1), 256, 0, stream>>>(src, dst, n);
  else
    cast_kernel<To, From, false><<<flat_blocks(n), 256, 0, stream>>>(src, dst, n);
  return cudaGetLastError();
}

template cudaError_t cast<bf16, float>(const float*, bf16*, size_t, cudaStream_t);
template cudaError_t cast<float, bf16>(const bf16*, float*, size_t, cudaStream_t);
template cudaError_t cast<float, float>(const float*, float*, size_t, cudaStream_t);
template cudaError_t cast<bf16, bf16>(const bf16*, bf16*, size_t, cudaStream_t);

}  // namespace dapo::cuda::model
