// RMSNorm, forward (optionally fused with the residual add) and backward (ops.cuh); twin of
// rmsnorm_forward / rmsnorm_backward in native/model/layers.cc, with the same formulas and
// operand order: y = w * (x * rstd), dx = rstd * w * dy - x * coef.
//
// One group of G threads per row (G = 4..32, the smallest that covers the row's vectors, so a
// 64-wide head norm does not idle 3/4 of a warp), 256 threads a block. A row is read twice: the
// second read (after the row's sum) hits L1 / L2, so DRAM sees about one read and one write.
// Bytes moved, rows x dim of T (s = sizeof(T)):
//   forward          2 s rows dim + 4 rows            (x in, y out, rstd out)
//   add + forward    4 s rows dim + 4 rows            (a, b in; sum, y out)
//   backward dx      3 s rows dim (4 s with accumulate) (dy, x in; dx out)
//   backward dw      2 s rows dim + partials           (column_sums.cuh, two-stage)
#include <type_traits>

#include "cuda/model/column_sums.cuh"
#include "cuda/model/ops.cuh"
#include "cuda/model/vector_io.cuh"

namespace dapo::cuda::model {
namespace {

constexpr unsigned kThreads = 256;

// Sum over the G lanes of a row group. Every lane of the warp calls it (inactive rows add 0).
template <int G>
__device__ __forceinline__ float group_sum(float v) {
#pragma unroll
  for (int o = G / 2; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o, G);
  return v;
}

// The rows a group handles: the loop bound is uniform over the warp (all groups of a warp step
// together), so the shuffles inside never run with lanes missing.
struct RowLoop {
  size_t first, warp_first, stride;  // this group's first row, the first row of its warp
  unsigned lane;
  __device__ explicit RowLoop(int g) {
    const unsigned groups = kThreads / g;
    const size_t block_first = static_cast<size_t>(blockIdx.x) * groups;
    first = block_first + threadIdx.x / g;
    warp_first = block_first + (threadIdx.x / 32) * (32 / g);
    stride = static_cast<size_t>(gridDim.x) * groups;
    lane = threadIdx.x % g;
  }
};

// y = rmsnorm(x) (kAdd false: x = a), or sum = T(a + b), y = rmsnorm(sum) (kAdd true). W values
// per access (kVec<T> or 1). sum_out may alias a, and y may alias x (a norm in place): each
// thread reads a value before it writes it, so those pointers are not __restrict__.
template <typename T, int W, int G, bool kAdd>
__global__ void __launch_bounds__(kThreads) rmsnorm_forward_kernel(const T* a, const T* __restrict__ b,
                                                                   const T* __restrict__ w, size_t rows, size_t dim,
                                                                   float eps, T* sum_out, T* y,
                                                                   float* __restrict__ rstd) {
  const RowLoop loop(G);
  for (size_t r = loop.first, base = loop.warp_first; base < rows; r += loop.stride, base += loop.stride) {
    const bool active = r < rows;
    float ss = 0.0f;
    if (active) {
      for (size_t j = loop.lane * W; j < dim; j += G * W) {
        float v[W];
        load_vec<W>(a + r * dim + j, v);
        if constexpr (kAdd) {
          float u[W];
          load_vec<W>(b + r * dim + j, u);
#pragma unroll
          for (int i = 0; i < W; ++i) v[i] = to_float(from_float<T>(v[i] + u[i]));  // rounded as stored
          store_vec<W>(sum_out + r * dim + j, v);
        }
#pragma unroll
        for (int i = 0; i < W; ++i) ss += v[i] * v[i];
      }
    }
    ss = group_sum<G>(ss);
    if (!active) continue;
    const float rs = static_cast<float>(1.0 / sqrt(static_cast<double>(ss) / static_cast<double>(dim) + eps));
    if (loop.lane == 0) rstd[r] = rs;
    const T* x = kAdd ? sum_out : a;
    for (size_t j = loop.lane * W; j < dim; j += G * W) {
      float v[W], wv[W];
      load_vec<W>(x + r * dim + j, v);
      load_vec<W>(w + j, wv);
#pragma unroll
      for (int i = 0; i < W; ++i) v[i] = wv[i] * (v[i] * rs);
      store_vec<W>(y + r * dim + j, v);
    }
  }
}

// dx (+)= rstd * w * dy - x * coef, coef = rstd^3 / dim * sum_j dy_j w_j x_j. dx may alias dy.
template <typename T, int W, int G>
__global__ void __launch_bounds__(kThreads) rmsnorm_dx_kernel(const T* dy, const T* __restrict__ x,
                                                              const T* __restrict__ w, const float* __restrict__ rstd,
                                                              size_t rows, size_t dim, T* dx, bool accumulate) {
  const RowLoop loop(G);
  for (size_t r = loop.first, base = loop.warp_first; base < rows; r += loop.stride, base += loop.stride) {
    const bool active = r < rows;
    float s = 0.0f;
    if (active) {
      for (size_t j = loop.lane * W; j < dim; j += G * W) {
        float d[W], xv[W], wv[W];
        load_vec<W>(dy + r * dim + j, d);
        load_vec<W>(x + r * dim + j, xv);
        load_vec<W>(w + j, wv);
#pragma unroll
        for (int i = 0; i < W; ++i) s += d[i] * wv[i] * xv[i];
      }
    }
    s = group_sum<G>(s);
    if (!active) continue;
    const float rs = rstd[r];
    const double rd = rs;
    const float coef = static_cast<float>(static_cast<double>(s) * rd * rd * rd / static_cast<double>(dim));
    for (size_t j = loop.lane * W; j < dim; j += G * W) {
      float d[W], xv[W], wv[W], out[W];
      load_vec<W>(dy + r * dim + j, d);
      load_vec<W>(x + r * dim + j, xv);
      load_vec<W>(w + j, wv);
      if (accumulate) load_vec<W>(dx + r * dim + j, out);
#pragma unroll
      for (int i = 0; i < W; ++i) {
        const float g = rs * wv[i] * d[i] - xv[i] * coef;
        out[i] = accumulate ? out[i] + g : g;
      }
      store_vec<W>(dx + r * dim + j, out);
    }
  }
}

// The summand of dw: dy * x * rstd.
template <typename T, int W>
struct RmsnormDwSource {
  const T* dy;
  const T* x;
  const float* rstd;
  size_t dim;
  __device__ void load(size_t r, size_t col, float (&v)[W]) const {
    float xv[W];
    load_vec<W>(dy + r * dim + col, v);
    load_vec<W>(x + r * dim + col, xv);
    const float rs = rstd[r];
#pragma unroll
    for (int i = 0; i < W; ++i) v[i] = v[i] * xv[i] * rs;
  }
};

// Threads per row: the smallest of 4, 8, 16, 32 that covers `vectors`.
int group_size(size_t vectors) {
  int g = 4;
  while (g < 32 && static_cast<size_t>(g) < vectors) g *= 2;
  return g;
}

unsigned row_blocks(size_t rows, int g) {
  const size_t groups = kThreads / g;
  size_t b = (rows + groups - 1) / groups;
  if (b > (1u << 20)) b = 1u << 20;
  return static_cast<unsigned>(b);
}

// Calls f(std::integral_constant<int, G>) for the group size of `vectors`.
template <typename F>
void with_group(size_t vectors, F&& f) {
  switch (group_size(vectors)) {
    case 4: f(std::integral_constant<int, 4>()); break;
    case 8: f(std::integral_constant<int, 8>()); break;
    case 16: f(std::integral_constant<int, 16>()); break;
    default: f(std::integral_constant<int, 32>()); break;
  }
}

template <typename T, bool kAdd>
cudaError_t launch_forward(const T* a, const T* b, const T* w, size_t rows, size_t dim, float eps, T* sum_out, T* y,
                           float* rstd, cudaStream_t stream) {
  if (rows == 0) return cudaSuccess;
  if (dim == 0 || !a || !w || !y || !rstd || (kAdd && (!b || !sum_out))) return cudaErrorInvalidValue;
  constexpr int V = kVec<T>;
  const bool vector = dim % V == 0 && aligned16(a) && aligned16(w) && aligned16(y) &&
                      (!kAdd || (aligned16(b) && aligned16(sum_out)));
  with_group(vector ? dim / V : dim, [&](auto g) {
    constexpr int G = decltype(g)::value;
    const unsigned blocks = row_blocks(rows, G);
    if (vector)
      rmsnorm_forward_kernel<T, V, G, kAdd><<<blocks, kThreads, 0, stream>>>(a, b, w, rows, dim, eps, sum_out, y, rstd);
    else
      rmsnorm_forward_kernel<T, 1, G, kAdd><<<blocks, kThreads, 0, stream>>>(a, b, w, rows, dim, eps, sum_out, y, rstd);
  });
  return cudaGetLastError();
}

}  // namespace

template <typename T>
cudaError_t rmsnorm_forward(const T* x, const T* w, size_t rows, size_t dim, float eps, T* y, float* rstd,
                            cudaStream_t stream) {
  return launch_forward<T, false>(x, nullptr, w, rows, dim, eps, nullptr, y, rstd, stream);
}

template <typename T>
cudaError_t add_rmsnorm_forward(const T* a, const T* b, const T* w, size_t rows, size_t dim, float eps, T* sum_out,
                                T* y, float* rstd, cudaStream_t stream) {
  return launch_forward<T, true>(a, b, w, rows, dim, eps, sum_out, y, rstd, stream);
}

size_t rmsnorm_backward_scratch_bytes(size_t rows, size_t dim) { return column_partial_bytes(rows, dim); }

// dw first, then dx: so dx may alias dy (accumulate_dx false) without dw reading an overwritten dy.
template <typename T>
cudaError_t rmsnorm_backward(const T* dy, const T* x, const T* w, const float* rstd, size_t rows, size_t dim, T* dx,
                             bool accumulate_dx, float* dw, void* scratch, cudaStream_t stream) {
  if (rows == 0) return cudaSuccess;
  if (dim == 0 || !dy || !x || !w || !rstd || !dx || (dw && !scratch)) return cudaErrorInvalidValue;
  constexpr int V = kVec<T>;
  const bool vector = dim % V == 0 && aligned16(dy) && aligned16(x) && aligned16(w) && aligned16(dx);
  if (dw) {
    float* partial = static_cast<float*>(scratch);
    const cudaError_t s = vector ? launch_column_sums<V>(RmsnormDwSource<T, V>{dy, x, rstd, dim}, rows, dim, dw,
                                                         partial, stream)
                                 : launch_column_sums<1>(RmsnormDwSource<T, 1>{dy, x, rstd, dim}, rows, dim, dw,
                                                         partial, stream);
    if (s != cudaSuccess) return s;
  }
  with_group(vector ? dim / V : dim, [&](auto g) {
    constexpr int G = decltype(g)::value;
    const unsigned blocks = row_blocks(rows, G);
    if (vector)
      rmsnorm_dx_kernel<T, V, G><<<blocks, kThreads, 0, stream>>>(dy, x, w, rstd, rows, dim, dx, accumulate_dx);
    else
      rmsnorm_dx_kernel<T, 1, G><<<blocks, kThreads, 0, stream>>>(dy, x, w, rstd, rows, dim, dx, accumulate_dx);
  });
  return cudaGetLastError();
}

template cudaError_t rmsnorm_forward<float>(const float*, const float*, size_t, size_t, float, float*, float*,
                                            cudaStream_t);
template cudaError_t rmsnorm_forward<bf16>(const bf16*, const bf16*, size_t, size_t, float, bf16*, float*,
                                           cudaStream_t);
template cudaError_t add_rmsnorm_forward<float>(const float*, const float*, const float*, size_t, size_t, float,
                                                float*, float*, float*, cudaStream_t);
template cudaError_t add_rmsnorm_forward<bf16>(const bf16*, const bf16*, const bf16*, size_t, size_t, float, bf16*,
                                               bf16*, float*, cudaStream_t);
template cudaError_t rmsnorm_backward<float>(const float*, const float*, const float*, const float*, size_t, size_t,
                                             float*, bool, float*, void*, cudaStream_t);
template cudaError_t rmsnorm_backward<bf16>(const bf16*, const bf16*, const bf16*, const float*, size_t, size_t,
                                            bf16*, bool, float*, void*, cudaStream_t);

}  // namespace dapo::cuda::model
