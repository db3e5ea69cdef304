// AdamW over all parameters (ops.cuh), twin of global_norm and AdamW::step (native/optim/adamw.cc).
//
// grad_norm_squared: sum of g^2 in double, two stages in a fixed order: block b sums the fixed
// chunk [b * kNormChunk, (b + 1) * kNormChunk) (each thread a strided subset, then a shared-memory
// tree), then one block sums the chunk sums. Reads 4 n bytes.
//
// adamw_update: the CPU's per-element formula with its float / double split: the scalars (bias
// corrections, step size, decay factor) are computed on the host in double and rounded to float
// exactly as adamw.cc does, and every float operation is rounded one by one (__fmul_rn,
// __fadd_rn, __fdiv_rn, __fsqrt_rn: no FMA contraction, no fast-math division or square root), so
// given the same clip scale the fp32 result matches the CPU bitwise. Reads w, g, m, v and writes
// them back (g zeroed) plus the compute copy: (32 + sizeof(T)) bytes per parameter.
#include <cmath>

#include "cuda/model/ops.cuh"
#include "cuda/model/vector_io.cuh"

namespace dapo::cuda::model {
namespace {

constexpr size_t kNormChunk = 1 << 16;
constexpr unsigned kNormThreads = 256;

// Tree sum of one double per thread over the block (blockDim.x == kNormThreads), fixed order.
__device__ double block_sum(double v) {
  __shared__ double shared[kNormThreads];
  shared[threadIdx.x] = v;
  __syncthreads();
  for (unsigned half = kNormThreads / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) shared[threadIdx.x] += shared[threadIdx.x + half];
    __syncthreads();
  }
  return shared[0];
}

template <bool kVector>
__global__ void __launch_bounds__(kNormThreads) norm_partial_kernel(const float* __restrict__ g, size_t n,
                                                                    double* __restrict__ partial) {
  const size_t begin = static_cast<size_t>(blockIdx.x) * kNormChunk;
  const size_t end = begin + kNormChunk < n ? begin + kNormChunk : n;
  double s = 0;
  if (kVector && end - begin == kNormChunk) {  // a whole chunk: float4 loads (begin is a multiple of 4)
    for (size_t i = begin + 4 * threadIdx.x; i < end; i += 4 * kNormThreads) {
      const float4 v = *reinterpret_cast<const float4*>(g + i);
      s += static_cast<double>(v.x) * v.x;
      s += static_cast<double>(v.y) * v.y;
      s += static_cast<double>(v.z) * v.z;
      s += static_cast<double>(v.w) * v.w;
    }
  } else {
    for (size_t i = begin + threadIdx.x; i < end; i += kNormThreads) s += static_cast<double>(g[i]) * g[i];
  }
  s = block_sum(s);
  if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

__global__ void __launch_bounds__(kNormThreads) norm_total_kernel(const double* __restrict__ partial, size_t chunks,
                                                                  double* __restrict__ out) {
  double s = 0;
  for (size_t c = threadIdx.x; c < chunks; c += kNormThreads) s += partial[c];
  s = block_sum(s);
  if (threadIdx.x == 0) *out = s;
}

// The float scalars of one step, as adamw.cc rounds them.
struct StepScalars {
  float b1, one_minus_b1, b2, one_minus_b2, step_size, bc2_sqrt, eps, decay_factor;
  double clip;
};

// The span holding i, searched from span s onwards (spans sorted by begin); -1 when i is in none.
__device__ __forceinline__ int decay_of(const AdamWSpanDevice* spans, size_t n_spans, size_t& s, uint64_t i) {
  while (s + 1 < n_spans && spans[s + 1].begin <= i) ++s;
  if (spans[s].begin > i || i >= spans[s].end) return -1;
  return spans[s].decay;
}

// The first span that could hold i: the last with begin <= i (binary search), or 0.
__device__ __forceinline__ size_t first_span(const AdamWSpanDevice* spans, size_t n_spans, uint64_t i) {
  size_t lo = 0, hi = n_spans;  // answer in [lo, hi)
  while (hi - lo > 1) {
    const size_t mid = (lo + hi) / 2;
    if (spans[mid].begin <= i) lo = mid;
    else hi = mid;
  }
  return lo;
}

// One parameter: the CPU's loop body, operation for operation.
__device__ __forceinline__ void update_one(float& w, float& g, float& m, float& v, const StepScalars& k, float gscale,
                                           bool decay) {
  const float gi = __fmul_rn(g, gscale);
  g = 0.0f;
  if (decay) w = __fmul_rn(w, k.decay_factor);
  m = __fadd_rn(__fmul_rn(k.b1, m), __fmul_rn(k.one_minus_b1, gi));
  v = __fadd_rn(__fmul_rn(k.b2, v), __fmul_rn(__fmul_rn(k.one_minus_b2, gi), gi));
  const float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(v), k.bc2_sqrt), k.eps);
  w = __fsub_rn(w, __fdiv_rn(__fmul_rn(k.step_size, m), denom));
}

// torch's clip_grad_norm_ factor, from the squared norm on the device.
__device__ __forceinline__ float clip_scale(const double* norm_squared, double clip) {
  const double norm = sqrt(*norm_squared);
  return static_cast<float>(clip > 0 && norm > clip ? clip / (norm + 1e-6) : 1.0);
}

// kVector: 4 parameters a thread-step (float4 accesses of w, g, m, v; 4 values of the compute
// copy in one store); the tail n % 4 one a thread. An element outside every span is untouched.
template <typename T, bool kVector>
__global__ void adamw_kernel(float* __restrict__ w, float* __restrict__ g, float* __restrict__ m,
                             float* __restrict__ v, size_t n, const AdamWSpanDevice* __restrict__ spans,
                             size_t n_spans, StepScalars k, const double* __restrict__ norm_squared,
                             T* __restrict__ w_compute) {
  const float gscale = clip_scale(norm_squared, k.clip);
  const size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
  const size_t first = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  size_t done = 0;
  if constexpr (kVector) {
    const size_t vectors = n / 4;
    for (size_t q = first; q < vectors; q += stride) {
      const size_t i = 4 * q;
      float4 wv = *reinterpret_cast<const float4*>(w + i), gv = *reinterpret_cast<const float4*>(g + i);
      float4 mv = *reinterpret_cast<const float4*>(m + i), vv = *reinterpret_cast<const float4*>(v + i);
      float* wp = &wv.x;
      float* gp = &gv.x;
      float* mp = &mv.x;
      float* vp = &vv.x;
      size_t s = first_span(spans, n_spans, i);
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int decay = decay_of(spans, n_spans, s, i + e);
        if (decay >= 0) update_one(wp[e], gp[e], mp[e], vp[e], k, gscale, decay != 0);
      }
      *reinterpret_cast<float4*>(w + i) = wv;
      *reinterpret_cast<float4*>(g + i) = gv;
      *reinterpret_cast<float4*>(m + i) = mv;
      *reinterpret_cast<float4*>(v + i) = vv;
      if (w_compute) {
        float c[4] = {wv.x, wv.y, wv.z, wv.w};
        if constexpr (sizeof(T) == 2) {
          uint2 raw;
          __nv_bfloat162* h = reinterpret_cast<__nv_bfloat162*>(&raw);
          h[0] = __floats2bfloat162_rn(c[0], c[1]);
          h[1] = __floats2bfloat162_rn(c[2], c[3]);
          *reinterpret_cast<uint2*>(w_compute + i) = raw;
        } else {
          store_vec<4>(w_compute + i, c);
        }
      }
    }
    done = vectors * 4;
  }
  for (size_t i = done + first; i < n; i += stride) {
    size_t s = first_span(spans, n_spans, i);
    const int decay = decay_of(spans, n_spans, s, i);
    if (decay < 0) continue;
    update_one(w[i], g[i], m[i], v[i], k, gscale, decay != 0);
    if (w_compute) w_compute[i] = from_float<T>(w[i]);
  }
}

}  // namespace

size_t grad_norm_scratch_bytes(size_t n) {
  const size_t chunks = (n + kNormChunk - 1) / kNormChunk;
  return (chunks > 0 ? chunks : 1) * sizeof(double);
}

cudaError_t grad_norm_squared(const float* g, size_t n, double* out, void* scratch, cudaStream_t stream) {
  if (!out || !scratch || (n > 0 && !g)) return cudaErrorInvalidValue;
  const size_t chunks = (n + kNormChunk - 1) / kNormChunk;
  if (chunks > 0x7fffffffu) return cudaErrorInvalidValue;
  double* partial = static_cast<double*>(scratch);
  if (chunks > 0) {
    if (aligned16(g))
      norm_partial_kernel<true><<<static_cast<unsigned>(chunks), kNormThreads, 0, stream>>>(g, n, partial);
    else
      norm_partial_kernel<false><<<static_cast<unsigned>(chunks), kNormThreads, 0, stream>>>(g, n, partial);
    const cudaError_t s = cudaGetLastError();
    if (s != cudaSuccess) return s;
  }
  norm_total_kernel<<<1, kNormThreads, 0, stream>>>(partial, chunks, out);
  return cudaGetLastError();
}

template <typename T>
cudaError_t adamw_update(float* w, float* g, float* m, float* v, size_t n, const AdamWSpanDevice* spans,
                         size_t n_spans, const AdamWScalars& s, const double* norm_squared, T* w_compute,
                         cudaStream_t stream) {
  if (n == 0 || n_spans == 0) return cudaSuccess;
  if (!w || !g || !m || !v || !spans || !norm_squared || s.t == 0) return cudaErrorInvalidValue;
  // As adamw.cc: the bias corrections in double, the per-element scalars rounded to float.
  StepScalars k;
  k.b1 = static_cast<float>(s.beta1);
  k.b2 = static_cast<float>(s.beta2);
  k.one_minus_b1 = 1.0f - k.b1;
  k.one_minus_b2 = 1.0f - k.b2;
  const double bc1 = 1.0 - std::pow(s.beta1, static_cast<double>(s.t));
  const double bc2 = 1.0 - std::pow(s.beta2, static_cast<double>(s.t));
  k.step_size = static_cast<float>(s.lr / bc1);
  k.bc2_sqrt = static_cast<float>(std::sqrt(bc2));
  k.eps = static_cast<float>(s.eps);
  k.decay_factor = static_cast<float>(1.0 - s.lr * s.weight_decay);
  k.clip = s.clip_grad_norm;
  const uintptr_t compute_align = 4 * sizeof(T);
  const bool vector = aligned16(w) && aligned16(g) && aligned16(m) && aligned16(v) &&
                      (reinterpret_cast<uintptr_t>(w_compute) % compute_align) == 0;
  if (vector)
    adamw_kernel<T, true><<<flat_blocks(n / 4 + 1), 256, 0, stream>>>(w, g, m, v, n, spans, n_spans, k, norm_squared,
                                                                       w_compute);
  else
    adamw_kernel<T, false><<<flat_blocks(n), 256, 0, stream>>>(w, g, m, v, n, spans, n_spans, k, norm_squared,
                                                                w_compute);
  return cudaGetLastError();
}

template cudaError_t adamw_update<float>(float*, float*, float*, float*, size_t, const AdamWSpanDevice*, size_t,
                                         const AdamWScalars&, const double*, float*, cudaStream_t);
template cudaError_t adamw_update<bf16>(float*, float*, float*, float*, size_t, const AdamWSpanDevice*, size_t,
                                        const AdamWScalars&, const double*, bf16*, cudaStream_t);

}  // namespace dapo::cuda::model
