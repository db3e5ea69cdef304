// RoPE in place (ops.cuh), twin of Rope::apply (native/model/rope.cc): the pair
// (x[i], x[i + half]) of each head rotated by +angle(pos) (inverse: -angle), from the cos / sin
// tables dapo::Rope made on the host, so both engines use one definition of the frequencies.
// Products and sums are rounded one by one (__fmul_rn / __fadd_rn: no FMA contraction), as the
// CPU computes them, so the fp32 mode matches bitwise.
// Bytes moved: 2 * rows * heads * head_dim * sizeof(T) (each value read and written once), plus
// the table rows of the positions present (rows * head_dim * 4 at most, mostly from L2).
#include "cuda/model/ops.cuh"
#include "cuda/model/vector_io.cuh"

namespace dapo::cuda::model {
namespace {

// Work item (r, j): head j / per_head, pairs [i, i + W) with i = (j % per_head) * W.
template <typename T, int W>
__global__ void rope_kernel(T* __restrict__ x, size_t rows, size_t heads, size_t head_dim, size_t ld,
                            const int32_t* __restrict__ pos, const float* __restrict__ cos_table,
                            const float* __restrict__ sin_table, bool inverse) {
  const size_t half = head_dim / 2;
  const size_t per_head = half / W;
  const size_t j = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (j >= heads * per_head) return;
  const size_t h = j / per_head, i = (j % per_head) * W;
  for (size_t r = static_cast<size_t>(blockIdx.y) * blockDim.y + threadIdx.y; r < rows;
       r += static_cast<size_t>(gridDim.y) * blockDim.y) {
    const size_t p = static_cast<size_t>(pos[r]);
    float c[W], s[W], lo[W], hi[W];
    load_vec<W>(cos_table + p * half + i, c);
    load_vec<W>(sin_table + p * half + i, s);
    T* v = x + r * ld + h * head_dim + i;
    load_vec<W>(v, lo);
    load_vec<W>(v + half, hi);
#pragma unroll
    for (int k = 0; k < W; ++k) {
      const float sk = inverse ? -s[k] : s[k];
      const float a = lo[k], b = hi[k];
      lo[k] = __fsub_rn(__fmul_rn(a, c[k]), __fmul_rn(b, sk));
      hi[k] = __fadd_rn(__fmul_rn(b, c[k]), __fmul_rn(a, sk));
    }
    store_vec<W>(v, lo);
    store_vec<W>(v + half, hi);
  }
}

}  // namespace

template <typename T>
cudaError_t rope_apply(T* x, size_t rows, size_t heads, size_t head_dim, size_t ld, const int32_t* pos,
                       const float* cos, const float* sin, bool inverse, cudaStream_t stream) {
  if (rows == 0 || heads == 0) return cudaSuccess;
  if (!x || !pos || !cos || !sin || head_dim == 0 || head_dim % 2 != 0 || ld < heads * head_dim)
    return cudaErrorInvalidValue;
  const size_t half = head_dim / 2;
  // The vector path reads kVec<T> pairs of x (16 bytes at x[i] and at x[i + half]) and the same
  // count of cos / sin floats (float4 accesses): needs half % kVec<T> == 0 (then rows of the
  // tables, and every head and row of x, start 16-byte aligned when the bases are).
  constexpr int V = kVec<T>;
  if (half % V == 0 && ld % V == 0 && aligned16(x) && aligned16(cos) && aligned16(sin)) {
    const RowGrid g = row_grid(rows, heads * (half / V));
    rope_kernel<T, V><<<g.grid, g.block, 0, stream>>>(x, rows, heads, head_dim, ld, pos, cos, sin, inverse);
  } else {
    const RowGrid g = row_grid(rows, heads * half);
    rope_kernel<T, 1><<<g.grid, g.block, 0, stream>>>(x, rows, heads, head_dim, ld, pos, cos, sin, inverse);
  }
  return cudaGetLastError();
}

template cudaError_t rope_apply<float>(float*, size_t, size_t, size_t, size_t, const int32_t*, const float*,
                                       const float*, bool, cudaStream_t);
template cudaError_t rope_apply<bf16>(bf16*, size_t, size_t, size_t, size_t, const int32_t*, const float*,
                                      const float*, bool, cudaStream_t);

}  // namespace dapo::cuda::model
