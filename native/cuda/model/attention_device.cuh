// Private to attention*.cu: device helpers shared by the attention kernels (warp reductions, the
// opt-in for more than 48 KiB of dynamic shared memory; the conversions come from vector_io.cuh).
#pragma once
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "cuda/model/attention_kernels.cuh"
// to_float / from_float: the element conversions every model op uses.
#include "cuda/model/vector_io.cuh"

namespace dapo::cuda::model::attn {

constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;
constexpr unsigned kFullMask = 0xffffffffu;

__device__ __forceinline__ float warp_max(float x) {
  for (int offset = 16; offset > 0; offset /= 2) x = fmaxf(x, __shfl_xor_sync(kFullMask, x, offset));
  return x;
}

__device__ __forceinline__ float warp_sum(float x) {
  for (int offset = 16; offset > 0; offset /= 2) x += __shfl_xor_sync(kFullMask, x, offset);
  return x;
}

// The sequence, head and query tile of a forward or dQ block: blockIdx.x = seq * heads + head,
// blockIdx.y counts query tiles of `tile` rows from the last, so the blocks with the most keys are
// dispatched first.
struct QueryBlock {
  int start, len, head, kv_head, q0;
};
template <typename T>
__device__ __forceinline__ QueryBlock query_block(const Params<T>& p, int tile) {
  QueryBlock b;
  const int seq = blockIdx.x / p.heads;
  b.head = blockIdx.x - seq * p.heads;
  b.kv_head = b.head / p.group;
  b.start = p.cu_seqlens[seq];
  b.len = p.cu_seqlens[seq + 1] - b.start;
  b.q0 = (gridDim.y - 1 - blockIdx.y) * tile;
  return b;
}

// Dims per lane when a warp's lanes split a head_dim of up to 256: 1, 2, 4 or 8.
inline int dims_per_lane(int head_dim) { return head_dim <= 32 ? 1 : head_dim <= 64 ? 2 : head_dim <= 128 ? 4 : 8; }

// Kernels with more than 48 KiB of dynamic shared memory must say so before each launch (cheap,
// and allowed while a stream is being captured into a graph, as flash-attention does).
template <typename Kernel>
cudaError_t allow_shared_bytes(Kernel kernel, size_t bytes) {
  if (bytes <= 48 * 1024) return cudaSuccess;
  return cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes));
}

// Launches kernel(p) on a 2-D grid with `shared_bytes` of dynamic shared memory (nothing for an
// empty grid) and returns the launch status.
template <typename Kernel, typename P>
cudaError_t launch_kernel(Kernel kernel, dim3 grid, int threads, size_t shared_bytes, const P& p, cudaStream_t stream) {
  if (grid.x == 0 || grid.y == 0) return cudaSuccess;
  const cudaError_t status = allow_shared_bytes(kernel, shared_bytes);
  if (status != cudaSuccess) return status;
  kernel<<<grid, threads, shared_bytes, stream>>>(p);
  return cudaGetLastError();
}

// Blocks of `rows` tiles of `tile` rows, as a grid dimension (0 when rows is 0).
inline unsigned tiles_of(int rows, int tile) { return static_cast<unsigned>((rows + tile - 1) / tile); }

}  // namespace dapo::cuda::model::attn
