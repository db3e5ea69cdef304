// Biases (ops.cuh), twins of add_bias / add_column_sums (native/model/layers.cc): qwen2's q, k,
// v biases and their gradients. Bytes moved (s = sizeof(T)): add_bias 2 s rows cols;
// add_column_sums s rows cols + 4 cols (rows / 64 + 2) (the two-stage sums of column_sums.cuh).
#include "cuda/model/column_sums.cuh"
#include "cuda/model/ops.cuh"
#include "cuda/model/vector_io.cuh"

namespace dapo::cuda::model {
namespace {

template <typename T, int W>
__global__ void add_bias_kernel(T* __restrict__ x, size_t rows, size_t cols, size_t ld, const T* __restrict__ b) {
  const size_t col = (static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x) * W;
  if (col >= cols) return;
  float bv[W];
  load_vec<W>(b + col, bv);
  for (size_t r = static_cast<size_t>(blockIdx.y) * blockDim.y + threadIdx.y; r < rows;
       r += static_cast<size_t>(gridDim.y) * blockDim.y) {
    float v[W];
    load_vec<W>(x + r * ld + col, v);
#pragma unroll
    for (int k = 0; k < W; ++k) v[k] += bv[k];
    store_vec<W>(x + r * ld + col, v);
  }
}

template <typename T, int W>
struct RowsOf {
  const T* x;
  size_t ld;
  __device__ void load(size_t r, size_t col, float (&v)[W]) const { load_vec<W>(x + r * ld + col, v); }
};

}  // namespace

template <typename T>
cudaError_t add_bias(T* x, size_t rows, size_t cols, size_t ld, const T* b, cudaStream_t stream) {
  if (rows == 0 || cols == 0) return cudaSuccess;
  if (!x || !b || ld < cols) return cudaErrorInvalidValue;
  constexpr int V = kVec<T>;
  if (cols % V == 0 && ld % V == 0 && aligned16(x) && aligned16(b)) {
    const RowGrid g = row_grid(rows, cols / V);
    add_bias_kernel<T, V><<<g.grid, g.block, 0, stream>>>(x, rows, cols, ld, b);
  } else {
    const RowGrid g = row_grid(rows, cols);
    add_bias_kernel<T, 1><<<g.grid, g.block, 0, stream>>>(x, rows, cols, ld, b);
  }
  return cudaGetLastError();
}

size_t column_sums_scratch_bytes(size_t rows, size_t cols) { return column_partial_bytes(rows, cols); }

template <typename T>
cudaError_t add_column_sums(const T* x, size_t rows, size_t cols, size_t ld, float* out, void* scratch,
                            cudaStream_t stream) {
  if (rows == 0 || cols == 0) return cudaSuccess;
  if (!x || !out || !scratch || ld < cols) return cudaErrorInvalidValue;
  constexpr int V = kVec<T>;
  float* partial = static_cast<float*>(scratch);
  if (cols % V == 0 && ld % V == 0 && aligned16(x))
    return launch_column_sums<V>(RowsOf<T, V>{x, ld}, rows, cols, out, partial, stream);
  return launch_column_sums<1>(RowsOf<T, 1>{x, ld}, rows, cols, out, partial, stream);
}

template cudaError_t add_bias<float>(float*, size_t, size_t, size_t, const float*, cudaStream_t);
template cudaError_t add_bias<bf16>(bf16*, size_t, size_t, size_t, const bf16*, cudaStream_t);
template cudaError_t add_column_sums<float>(const float*, size_t, size_t, size_t, float*, void*, cudaStream_t);
template cudaError_t add_column_sums<bf16>(const bf16*, size_t, size_t, size_t, float*, void*, cudaStream_t);

}  // namespace dapo::cuda::model
