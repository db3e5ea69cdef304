// Element access shared by the memory-bound ops (cast, embedding, rmsnorm, rope, swiglu, bias):
// W consecutive values of T read into / written from fp32 registers, with one 16-byte access per
// kVec<T> values (float4, or bf16x8) when the caller has checked the alignment, and plain scalar
// accesses when W == 1 (the tail / unaligned path). Plus the launch shape of a "rows of vectors"
// kernel, so each op does not size its own grid.
#pragma once
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace dapo::cuda::model {

// Values of T in one 16-byte access.
template <typename T>
constexpr int kVec = static_cast<int>(16 / sizeof(T));

inline bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

__device__ __forceinline__ float to_float(float x) { return x; }
__device__ __forceinline__ float to_float(__nv_bfloat16 x) { return __bfloat162float(x); }

template <typename T>
__device__ __forceinline__ T from_float(float x);
template <>
__device__ __forceinline__ float from_float<float>(float x) {
  return x;
}
template <>
__device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float x) {
  return __float2bfloat16_rn(x);  // round to nearest even, as round_to_bf16 on the host
}

// One 16-byte access: kVec<T> values.
__device__ __forceinline__ void load16(const float* p, float* out) {
  const float4 v = *reinterpret_cast<const float4*>(p);
  out[0] = v.x;
  out[1] = v.y;
  out[2] = v.z;
  out[3] = v.w;
}
__device__ __forceinline__ void load16(const __nv_bfloat16* p, float* out) {
  const uint4 raw = *reinterpret_cast<const uint4*>(p);
  const __nv_bfloat162* h = reinterpret_cast<const __nv_bfloat162*>(&raw);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float2 f = __bfloat1622float2(h[i]);
    out[2 * i] = f.x;
    out[2 * i + 1] = f.y;
  }
}
__device__ __forceinline__ void store16(float* p, const float* in) {
  *reinterpret_cast<float4*>(p) = make_float4(in[0], in[1], in[2], in[3]);
}
__device__ __forceinline__ void store16(__nv_bfloat16* p, const float* in) {
  uint4 raw;
  __nv_bfloat162* h = reinterpret_cast<__nv_bfloat162*>(&raw);
#pragma unroll
  for (int i = 0; i < 4; ++i) h[i] = __floats2bfloat162_rn(in[2 * i], in[2 * i + 1]);
  *reinterpret_cast<uint4*>(p) = raw;
}

// W values at p. W a multiple of kVec<T>: 16-byte accesses (p must be 16-byte aligned);
// otherwise W scalar accesses.
template <int W, typename T>
__device__ __forceinline__ void load_vec(const T* p, float (&out)[W]) {
  if constexpr (W % kVec<T> == 0) {
#pragma unroll
    for (int c = 0; c < W; c += kVec<T>) load16(p + c, out + c);
  } else {
#pragma unroll
    for (int i = 0; i < W; ++i) out[i] = to_float(p[i]);
  }
}
template <int W, typename T>
__device__ __forceinline__ void store_vec(T* p, const float (&in)[W]) {
  if constexpr (W % kVec<T> == 0) {
#pragma unroll
    for (int c = 0; c < W; c += kVec<T>) store16(p + c, in + c);
  } else {
#pragma unroll
    for (int i = 0; i < W; ++i) p[i] = from_float<T>(in[i]);
  }
}

// Launch shape of a kernel over `rows` rows of `per_row` work items (vectors): threadIdx.x runs
// along the row (as few threads as cover it, so short rows leave no lane idle: a warp then spans
// several rows, each part contiguous), threadIdx.y over rows, 256 threads a block; the grid's y
// loops over rows (stride gridDim.y * blockDim.y) so any row count fits under gridDim.y's 65535.
struct RowGrid {
  dim3 grid, block;
};
inline RowGrid row_grid(size_t rows, size_t per_row) {
  unsigned x = 1;
  while (x < 256 && x < per_row) x *= 2;
  const unsigned y = 256 / x;
  RowGrid g;
  g.block = dim3(x, y);
  const size_t gx = (per_row + x - 1) / x;
  size_t gy = (rows + y - 1) / y;
  if (gy > 65535) gy = 65535;
  g.grid = dim3(static_cast<unsigned>(gx), static_cast<unsigned>(gy > 0 ? gy : 1));
  return g;
}

// Blocks for a grid-stride loop over n items of 256 threads: enough to fill any GPU many times,
// few enough that the index arithmetic stays in the loop.
inline unsigned flat_blocks(size_t n, unsigned threads = 256) {
  size_t b = (n + threads - 1) / threads;
  if (b > (1u << 20)) b = 1u << 20;
  return static_cast<unsigned>(b > 0 ? b : 1);
}

}  // namespace dapo::cuda::model
