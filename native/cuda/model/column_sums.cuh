// Deterministic sums over rows, per column (the weight gradients of RMSNorm and of the biases),
// in two stages with a fixed order and no atomics:
//   stage 1: the rows are cut into chunks of kColumnChunkRows; block (chunk, tile) sums its
//            chunk's rows for a tile of columns (each thread a strided subset of the rows in
//            ascending order, then the threads' sums in thread order) into partial[chunk, col];
//   stage 2: out[col] += the chunk sums in chunk order, in double.
// So a result depends only on the inputs and the row count, never on timing or the launch.
// A Source supplies the summed value: `__device__ void load(size_t r, size_t col, float (&v)[W])`
// reads W consecutive columns of row r (col a multiple of W; 16-byte accesses when W > 1).
#pragma once
#include <cuda_runtime.h>

#include <cstddef>

namespace dapo::cuda::model {

constexpr size_t kColumnChunkRows = 64;
constexpr unsigned kColumnSumThreads = 256;

inline size_t column_chunks(size_t rows) { return (rows + kColumnChunkRows - 1) / kColumnChunkRows; }
inline size_t column_partial_bytes(size_t rows, size_t cols) { return column_chunks(rows) * cols * sizeof(float); }

// blockDim (lanes, kColumnSumThreads / lanes): lanes along column vectors, the rest along rows.
template <int W, typename Source>
__global__ void column_partial_kernel(Source src, size_t rows, size_t cols, float* __restrict__ partial) {
  extern __shared__ float shared[];  // [blockDim.y][blockDim.x * W]
  const size_t chunk = blockIdx.x;
  const size_t col = (static_cast<size_t>(blockIdx.y) * blockDim.x + threadIdx.x) * W;
  const size_t r0 = chunk * kColumnChunkRows;
  const size_t r1 = r0 + kColumnChunkRows < rows ? r0 + kColumnChunkRows : rows;
  float acc[W];
#pragma unroll
  for (int j = 0; j < W; ++j) acc[j] = 0.0f;
  if (col < cols) {
    for (size_t r = r0 + threadIdx.y; r < r1; r += blockDim.y) {
      float v[W];
      src.load(r, col, v);
#pragma unroll
      for (int j = 0; j < W; ++j) acc[j] += v[j];
    }
  }
  float* mine = shared + (static_cast<size_t>(threadIdx.y) * blockDim.x + threadIdx.x) * W;
#pragma unroll
  for (int j = 0; j < W; ++j) mine[j] = acc[j];
  __syncthreads();
  if (threadIdx.y != 0 || col >= cols) return;
  for (unsigned y = 1; y < blockDim.y; ++y) {
    const float* other = shared + (static_cast<size_t>(y) * blockDim.x + threadIdx.x) * W;
#pragma unroll
    for (int j = 0; j < W; ++j) acc[j] += other[j];
  }
  float* dst = partial + chunk * cols + col;
#pragma unroll
  for (int j = 0; j < W; ++j) dst[j] = acc[j];
}

static __global__ void column_total_kernel(const float* __restrict__ partial, size_t chunks, size_t cols,
                                    float* __restrict__ out) {
  const size_t col = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (col >= cols) return;
  double s = 0;
  for (size_t c = 0; c < chunks; ++c) s += partial[c * cols + col];
  out[col] += static_cast<float>(s);
}

// out[col] (fp32) += sum over rows of src(r, col). partial: column_partial_bytes(rows, cols) of
// scratch. W: values a thread reads at once (cols % W == 0 when W > 1).
template <int W, typename Source>
cudaError_t launch_column_sums(const Source& src, size_t rows, size_t cols, float* out, float* partial,
                               cudaStream_t stream) {
  if (rows == 0 || cols == 0) return cudaSuccess;
  const size_t chunks = column_chunks(rows);
  const size_t vectors = (cols + W - 1) / W;
  unsigned lanes = 1;
  while (lanes < 32 && lanes < vectors) lanes *= 2;
  const dim3 block(lanes, kColumnSumThreads / lanes);
  const size_t tiles = (vectors + lanes - 1) / lanes;
  if (tiles > 65535 || chunks > 0x7fffffffu) return cudaErrorInvalidValue;
  const size_t shared = static_cast<size_t>(kColumnSumThreads) * W * sizeof(float);
  column_partial_kernel<W><<<dim3(static_cast<unsigned>(chunks), static_cast<unsigned>(tiles)), block, shared,
                             stream>>>(src, rows, cols, partial);
  cudaError_t status = cudaGetLastError();
  if (status != cudaSuccess) return status;
  column_total_kernel<<<static_cast<unsigned>((cols + 255) / 256), 256, 0, stream>>>(partial, chunks, cols, out);
  return cudaGetLastError();
}

}  // namespace dapo::cuda::model
