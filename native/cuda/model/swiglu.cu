// SwiGLU (ops.cuh), twin of swiglu_forward / swiglu_backward (native/model/layers.cc):
//   s = 1 / (1 + exp(-g)), a = g * s * u,
//   du = da * g * s, dg = da * u * s * (1 + g * (1 - s)),
// in that operand order. The reciprocal is rounded as the CPU's division (__frcp_rn); exp is the
// fast-math one (a few ulp, well inside the fp32 tolerance).
// Rows of `cols` values; g and u read with ld_in (the two halves of one GEMM output can be passed
// as g and g + cols), a / da with ld_out. The backward may write dg / du over g / u (each
// thread reads its values before it writes them), so the gradient can reuse the GEMM output. Bytes moved (s = sizeof(T)): forward 3 s rows cols,
// backward 5 s rows cols.
#include "cuda/model/ops.cuh"
#include "cuda/model/vector_io.cuh"

namespace dapo::cuda::model {
namespace {

__device__ __forceinline__ float sigmoid(float g) { return __frcp_rn(1.0f + __expf(-g)); }

template <typename T, int W>
__global__ void swiglu_forward_kernel(const T* __restrict__ g, const T* __restrict__ u, size_t ld_in, size_t rows,
                                      size_t cols, T* __restrict__ a, size_t ld_out) {
  const size_t col = (static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x) * W;
  if (col >= cols) return;
  for (size_t r = static_cast<size_t>(blockIdx.y) * blockDim.y + threadIdx.y; r < rows;
       r += static_cast<size_t>(gridDim.y) * blockDim.y) {
    float gv[W], uv[W];
    load_vec<W>(g + r * ld_in + col, gv);
    load_vec<W>(u + r * ld_in + col, uv);
#pragma unroll
    for (int k = 0; k < W; ++k) gv[k] = gv[k] * sigmoid(gv[k]) * uv[k];
    store_vec<W>(a + r * ld_out + col, gv);
  }
}

template <typename T, int W>
__global__ void swiglu_backward_kernel(const T* da, size_t ld_out, const T* g, const T* u, size_t ld_in, size_t rows,
                                       size_t cols, T* dg, T* du) {
  const size_t col = (static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x) * W;
  if (col >= cols) return;
  for (size_t r = static_cast<size_t>(blockIdx.y) * blockDim.y + threadIdx.y; r < rows;
       r += static_cast<size_t>(gridDim.y) * blockDim.y) {
    float dv[W], gv[W], uv[W], dgv[W], duv[W];
    load_vec<W>(da + r * ld_out + col, dv);
    load_vec<W>(g + r * ld_in + col, gv);
    load_vec<W>(u + r * ld_in + col, uv);
#pragma unroll
    for (int k = 0; k < W; ++k) {
      const float s = sigmoid(gv[k]);
      duv[k] = dv[k] * (gv[k] * s);
      dgv[k] = dv[k] * uv[k] * s * (1.0f + gv[k] * (1.0f - s));
    }
    store_vec<W>(dg + r * ld_in + col, dgv);
    store_vec<W>(du + r * ld_in + col, duv);
  }
}

// The 16-byte path needs every row of every operand to start aligned.
template <typename T>
bool vectorizable(size_t cols, size_t ld_in, size_t ld_out, std::initializer_list<const void*> ptrs) {
  constexpr size_t V = kVec<T>;
  if (cols % V != 0 || ld_in % V != 0 || ld_out % V != 0) return false;
  for (const void* p : ptrs)
    if (!aligned16(p)) return false;
  return true;
}

}  // namespace

template <typename T>
cudaError_t swiglu_forward(const T* g, const T* u, size_t ld_in, size_t rows, size_t cols, T* a, size_t ld_out,
                           cudaStream_t stream) {
  if (rows == 0 || cols == 0) return cudaSuccess;
  if (!g || !u || !a || ld_in < cols || ld_out < cols) return cudaErrorInvalidValue;
  constexpr int V = kVec<T>;
  if (vectorizable<T>(cols, ld_in, ld_out, {g, u, a})) {
    const RowGrid rg = row_grid(rows, cols / V);
    swiglu_forward_kernel<T, V><<<rg.grid, rg.block, 0, stream>>>(g, u, ld_in, rows, cols, a, ld_out);
  } else {
    const RowGrid rg = row_grid(rows, cols);
    swiglu_forward_kernel<T, 1><<<rg.grid, rg.block, 0, stream>>>(g, u, ld_in, rows, cols, a, ld_out);
  }
  return cudaGetLastError();
}

template <typename T>
cudaError_t swiglu_backward(const T* da, size_t ld_out, const T* g, const T* u, size_t ld_in, size_t rows,
                            size_t cols, T* dg, T* du, cudaStream_t stream) {
  if (rows == 0 || cols == 0) return cudaSuccess;
  if (!da || !g || !u || !dg || !du || ld_in < cols || ld_out < cols) return cudaErrorInvalidValue;
  constexpr int V = kVec<T>;
  if (vectorizable<T>(cols, ld_in, ld_out, {da, g, u, dg, du})) {
    const RowGrid rg = row_grid(rows, cols / V);
    swiglu_backward_kernel<T, V><<<rg.grid, rg.block, 0, stream>>>(da, ld_out, g, u, ld_in, rows, cols, dg, du);
  } else {
    const RowGrid rg = row_grid(rows, cols);
    swiglu_backward_kernel<T, 1><<<rg.grid, rg.block, 0, stream>>>(da, ld_out, g, u, ld_in, rows, cols, dg, du);
  }
  return cudaGetLastError();
}

template cudaError_t swiglu_forward<float>(const float*, const float*, size_t, size_t, size_t, float*, size_t,
                                           cudaStream_t);
template cudaError_t swiglu_forward<bf16>(const bf16*, const bf16*, size_t, size_t, size_t, bf16*, size_t,
                                          cudaStream_t);
template cudaError_t swiglu_backward<float>(const float*, size_t, const float*, const float*, size_t, size_t, size_t,
                                            float*, float*, cudaStream_t);
template cudaError_t swiglu_backward<bf16>(const bf16*, size_t, const bf16*, const bf16*, size_t, size_t, size_t,
                                           bf16*, bf16*, cudaStream_t);

}  // namespace dapo::cuda::model
