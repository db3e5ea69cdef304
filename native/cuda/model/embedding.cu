// embedding: the token rows in, and the deterministic scatter-add of their gradient (ops.cuh).
// Twin of the embedding copy and scatter in native/model/engine.cc (forward_packed /
// backward_packed). Token ids are checked by the engine (and by group_rows_by_token) before
// they reach these kernels, which take no vocabulary size.
#include "cuda/model/ops.cuh"
#include "cuda/model/vector_io.cuh"

namespace dapo::cuda::model {
namespace {

// out[r, :] = table[tokens[r], :]. Moves rows * hidden * 2 * sizeof(T) bytes (a gather read and
// a coalesced write). W values per thread: kVec<T> on the aligned path, else 1.
template <typename T, int W>
__global__ void embedding_forward_kernel(const int32_t* __restrict__ tokens, size_t rows,
                                         const T* __restrict__ table, size_t hidden, T* __restrict__ out) {
  const size_t col = (static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x) * W;
  if (col >= hidden) return;
  for (size_t r = static_cast<size_t>(blockIdx.y) * blockDim.y + threadIdx.y; r < rows;
       r += static_cast<size_t>(gridDim.y) * blockDim.y) {
    const T* src = table + static_cast<size_t>(tokens[r]) * hidden + col;
    T* dst = out + r * hidden + col;
    if constexpr (W == kVec<T>) {
      *reinterpret_cast<uint4*>(dst) = *reinterpret_cast<const uint4*>(src);
    } else {
      *dst = *src;
    }
  }
}

// grad_table[ids[u], col..col+W) += the rows of token u in ascending order: the CPU's
// `row[j] += d[j]` over rows in order, so fp32 mode matches bitwise. One block row per distinct
// token (grid.x strides over tokens, grid.y over column tiles), so no two threads write one
// value. A frequent token's rows are summed serially; loads run kAhead rows ahead so the loop
// is not one memory latency per row. Moves rows * hidden * sizeof(T) + n_ids * hidden * 8 bytes.
template <typename T, int W>
__global__ void embedding_backward_kernel(const T* __restrict__ dx, size_t hidden, TokenRows g,
                                          float* __restrict__ grad_table) {
  constexpr int kAhead = 4;
  const size_t col = (static_cast<size_t>(blockIdx.y) * blockDim.x + threadIdx.x) * W;
  if (col >= hidden) return;
  for (size_t u = blockIdx.x; u < g.n_ids; u += gridDim.x) {
    float* dst = grad_table + static_cast<size_t>(g.ids[u]) * hidden + col;
    float acc[W];
    load_vec<W>(dst, acc);
    const int32_t begin = g.starts[u], end = g.starts[u + 1];
    int32_t i = begin;
    for (; i + kAhead <= end; i += kAhead) {
      float v[kAhead][W];
#pragma unroll
      for (int a = 0; a < kAhead; ++a) load_vec<W>(dx + static_cast<size_t>(g.rows[i + a]) * hidden + col, v[a]);
#pragma unroll
      for (int a = 0; a < kAhead; ++a)
#pragma unroll
        for (int j = 0; j < W; ++j) acc[j] += v[a][j];
    }
    for (; i < end; ++i) {
      float v[W];
      load_vec<W>(dx + static_cast<size_t>(g.rows[i]) * hidden + col, v);
#pragma unroll
      for (int j = 0; j < W; ++j) acc[j] += v[j];
    }
    store_vec<W>(dst, acc);
  }
}

}  // namespace

template <typename T>
cudaError_t embedding_forward(const int32_t* tokens, size_t rows, const T* table, size_t hidden, T* out,
                              cudaStream_t stream) {
  if (rows == 0 || hidden == 0) return cudaSuccess;
  if (!tokens || !table || !out) return cudaErrorInvalidValue;
  constexpr int V = kVec<T>;
  if (hidden % V == 0 && aligned16(table) && aligned16(out)) {
    const RowGrid g = row_grid(rows, hidden / V);
    embedding_forward_kernel<T, V><<<g.grid, g.block, 0, stream>>>(tokens, rows, table, hidden, out);
  } else {
    const RowGrid g = row_grid(rows, hidden);
    embedding_forward_kernel<T, 1><<<g.grid, g.block, 0, stream>>>(tokens, rows, table, hidden, out);
  }
  return cudaGetLastError();
}

template <typename T>
cudaError_t embedding_backward(const T* dx, size_t hidden, TokenRows groups, float* grad_table, cudaStream_t stream) {
  if (groups.n_ids == 0 || hidden == 0) return cudaSuccess;
  if (!dx || !grad_table || !groups.ids || !groups.starts || !groups.rows) return cudaErrorInvalidValue;
  // fp32 accumulators: W = kVec<T> values a thread (a bf16x8 load of dx, two float4 of the table).
  constexpr int V = kVec<T>;
  const bool vector = hidden % V == 0 && aligned16(dx) && aligned16(grad_table);
  const size_t per_row = vector ? hidden / V : hidden;
  unsigned threads = 32;
  while (threads < 256 && threads < per_row) threads *= 2;
  const size_t tiles = (per_row + threads - 1) / threads;
  if (tiles > 65535) return cudaErrorInvalidValue;
  const unsigned blocks = static_cast<unsigned>(groups.n_ids < (1u << 20) ? groups.n_ids : (1u << 20));
  const dim3 grid(blocks, static_cast<unsigned>(tiles));
  if (vector)
    embedding_backward_kernel<T, V><<<grid, threads, 0, stream>>>(dx, hidden, groups, grad_table);
  else
    embedding_backward_kernel<T, 1><<<grid, threads, 0, stream>>>(dx, hidden, groups, grad_table);
  return cudaGetLastError();
}

template cudaError_t embedding_forward<float>(const int32_t*, size_t, const float*, size_t, float*, cudaStream_t);
template cudaError_t embedding_forward<bf16>(const int32_t*, size_t, const bf16*, size_t, bf16*, cudaStream_t);
template cudaError_t embedding_backward<float>(const float*, size_t, TokenRows, float*, cudaStream_t);
template cudaError_t embedding_backward<bf16>(const bf16*, size_t, TokenRows, float*, cudaStream_t);

}  // namespace dapo::cuda::model
