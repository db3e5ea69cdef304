// Device building blocks shared by the row-sweep variants (row_loss_*.cu): the online
// log-sum-exp state and its fixed-order reductions (warp, block, cluster), element access to
// f32 / bf16 rows as 16-byte vectors, the tempered value z = x / T, the row's finish (log-prob,
// loss term, records) and the gradient of one vector.
//
// Reductions use a fixed order for a given launch shape (butterfly within warps, warps in order,
// cluster ranks in order), so results do not depend on timing.
#pragma once
#include <cooperative_groups.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "cuda/row_loss.cuh"
#include "cuda/row_loss_terms.cuh"

namespace dapo::cuda::rowloss {

namespace cg = cooperative_groups;

// Online log-sum-exp state of a set of values z: max m, s = sum exp(z - m),
// w = sum exp(z - m) (z - m) (for the entropy log s - w / s), and a non-finite flag.
struct Lse {
  float m, s, w;
  int bad;
};

__device__ __forceinline__ Lse lse_identity() { return Lse{-INFINITY, 0.0f, 0.0f, 0}; }

__device__ __forceinline__ Lse lse_merge(const Lse& a, const Lse& b) {
  Lse r;
  r.bad = a.bad | b.bad;
  if (a.m == -INFINITY) {
    r.m = b.m, r.s = b.s, r.w = b.w;
    return r;
  }
  if (b.m == -INFINITY) {
    r.m = a.m, r.s = a.s, r.w = a.w;
    return r;
  }
  const float m = fmaxf(a.m, b.m);
  const float da = a.m - m, db = b.m - m;
  const float ea = __expf(da), eb = __expf(db);
  r.m = m;
  r.s = a.s * ea + b.s * eb;
  r.w = ea * (a.w + a.s * da) + eb * (b.w + b.s * db);
  return r;
}

__device__ __forceinline__ Lse shfl_xor(const Lse& v, int offset) {
  Lse r;
  r.m = __shfl_xor_sync(0xffffffffu, v.m, offset);
  r.s = __shfl_xor_sync(0xffffffffu, v.s, offset);
  r.w = __shfl_xor_sync(0xffffffffu, v.w, offset);
  r.bad = __shfl_xor_sync(0xffffffffu, v.bad, offset);
  return r;
}

__device__ __forceinline__ Lse warp_reduce(Lse v) {
  for (int offset = 16; offset > 0; offset /= 2) v = lse_merge(v, shfl_xor(v, offset));
  return v;
}

constexpr int kMaxBlockThreads = 1024;

// Every thread of the block gets the block's state. blockDim.x is a multiple of 32. Ends with
// a barrier, so the shared slots may be reused by the next call.
__device__ __forceinline__ Lse block_reduce(Lse v) {
  __shared__ Lse s_warp[kMaxBlockThreads / 32];
  __shared__ Lse s_result;
  v = warp_reduce(v);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, warps = blockDim.x / 32;
  if (lane == 0) s_warp[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < warps ? s_warp[lane] : lse_identity();
    v = warp_reduce(v);
    if (lane == 0) s_result = v;
  }
  __syncthreads();
  const Lse out = s_result;
  __syncthreads();
  return out;
}

// The cluster's state from each block's, merged in rank order by every block. Only launched
// with clusters on sm_90 and newer.
__device__ __forceinline__ Lse cluster_reduce(Lse v) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  __shared__ Lse s_part, s_result;
  cg::cluster_group cluster = cg::this_cluster();
  const unsigned blocks = cluster.num_blocks();
  if (threadIdx.x == 0) s_part = v;
  cluster.sync();
  if (threadIdx.x == 0) {
    Lse acc = lse_identity();
    for (unsigned q = 0; q < blocks; ++q) acc = lse_merge(acc, *cluster.map_shared_rank(&s_part, q));
    s_result = acc;
  }
  cluster.sync();  // no block leaves (or rewrites s_part) while another still reads its shared memory
  return s_result;
#else
  __trap();
  return v;
#endif
}

__device__ __forceinline__ unsigned cluster_rank() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  return cg::this_cluster().block_rank();
#else
  return 0;
#endif
}

__device__ __forceinline__ unsigned cluster_size() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  return cg::this_cluster().num_blocks();
#else
  return 1;
#endif
}

// Element access: a 16-byte vector holds 4 f32 or 8 bf16 values.
template <typename T>
struct Elem;
template <>
struct Elem<float> {
  static constexpr int kPerVec = 4;
  __device__ __forceinline__ static float get(const uint4& v, int j) {
    return __uint_as_float(j == 0 ? v.x : j == 1 ? v.y : j == 2 ? v.z : v.w);
  }
  __device__ __forceinline__ static float scalar(const float* p) { return *p; }
};
template <>
struct Elem<uint16_t> {
  static constexpr int kPerVec = 8;
  __device__ __forceinline__ static float get(const uint4& v, int j) {
    const int q = j >> 1;
    const unsigned word = q == 0 ? v.x : q == 1 ? v.y : q == 2 ? v.z : v.w;
    return __uint_as_float((j & 1) ? (word & 0xffff0000u) : (word << 16));
  }
  __device__ __forceinline__ static float scalar(const uint16_t* p) {
    return __uint_as_float(static_cast<unsigned>(*p) << 16);
  }
};

// The value the loss sees: z = x / T, correctly rounded like the CPU's float division.
struct Temper {
  float t;
  bool on;
  __device__ __forceinline__ float operator()(float x) const { return on ? __fdiv_rn(x, t) : x; }
};

__device__ __forceinline__ Temper temper_of(const RowLossParams& p) {
  return Temper{p.temperature, p.temperature != 1.0f};
}

// Vector of a row holding elements [e0, e0 + W): a 16-byte load when the row is aligned and
// the vector whole, else element by element with zeros past the end (callers skip them by
// index). `stream`: an evict-first load, for data not read again; else a plain coherent load
// (never the non-coherent read-only path: in place, the kernel writes the logits it reads).
template <typename T>
__device__ __forceinline__ uint4 load_vec(const T* row, size_t e0, size_t v, bool aligned, bool stream = true) {
  constexpr int W = Elem<T>::kPerVec;
  if (aligned && e0 + W <= v) {
    const uint4* src = reinterpret_cast<const uint4*>(row + e0);
    return stream ? __ldcs(src) : *src;
  }
  unsigned words[4] = {0, 0, 0, 0};
  for (int j = 0; j < W; ++j) {
    if (e0 + j >= v) break;
    if constexpr (sizeof(T) == 4) words[j] = __float_as_uint(reinterpret_cast<const float*>(row)[e0 + j]);
    else words[j >> 1] |= static_cast<unsigned>(reinterpret_cast<const uint16_t*>(row)[e0 + j]) << ((j & 1) * 16);
  }
  return make_uint4(words[0], words[1], words[2], words[3]);
}

__device__ __forceinline__ uint16_t to_bf16(float f) {
  unsigned bits = __float_as_uint(f);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40);
  return static_cast<uint16_t>((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
}

// Writes vals[0..W) at elements [e0, e0 + W) of a gradient row of f32 or bf16, with
// evict-first stores: nothing in this sweep reads the gradient back.
template <int W>
__device__ __forceinline__ void store_vec(void* dst_row, int dtype, size_t e0, size_t v, bool aligned, const float* vals) {
  if (dtype == DAPO_CUDA_F32) {
    float* dst = static_cast<float*>(dst_row) + e0;
    if (aligned && e0 + W <= v) {
#pragma unroll
      for (int c = 0; c < W; c += 4)
        __stcs(reinterpret_cast<float4*>(dst + c), make_float4(vals[c], vals[c + 1], vals[c + 2], vals[c + 3]));
    } else {
      for (int j = 0; j < W && e0 + j < v; ++j) dst[j] = vals[j];
    }
  } else {
    uint16_t* dst = static_cast<uint16_t*>(dst_row) + e0;
    if (aligned && e0 + W <= v) {
      unsigned words[W / 2];
#pragma unroll
      for (int c = 0; c < W / 2; ++c) words[c] = to_bf16(vals[2 * c]) | (static_cast<unsigned>(to_bf16(vals[2 * c + 1])) << 16);
      if constexpr (W == 8) __stcs(reinterpret_cast<uint4*>(dst), make_uint4(words[0], words[1], words[2], words[3]));
      else __stcs(reinterpret_cast<uint2*>(dst), make_uint2(words[0], words[1]));
    } else {
      for (int j = 0; j < W && e0 + j < v; ++j) dst[j] = to_bf16(vals[j]);
    }
  }
}

// Max of the tempered values of a vector (elements past v skipped); sets *bad on a non-finite one.
template <typename T>
__device__ __forceinline__ float vec_max(const uint4& raw, size_t e0, size_t v, Temper tz, float m, int* bad) {
#pragma unroll
  for (int j = 0; j < Elem<T>::kPerVec; ++j) {
    if (e0 + j < v) {
      const float z = tz(Elem<T>::get(raw, j));
      *bad |= !isfinite(z);
      m = fmaxf(m, z);
    }
  }
  return m;
}

// sum exp(z - m) (and sum exp(z - m) (z - m) with entropy) over a vector, into s and w.
template <typename T>
__device__ __forceinline__ void vec_sum(const uint4& raw, size_t e0, size_t v, Temper tz, float m, bool entropy,
                                        float* s, float* w) {
#pragma unroll
  for (int j = 0; j < Elem<T>::kPerVec; ++j) {
    if (e0 + j < v) {
      const float d = tz(Elem<T>::get(raw, j)) - m;
      const float e = __expf(d);
      *s += e;
      if (entropy) *w += e * d;
    }
  }
}

// The state of one vector on its own (one max, then one exp per element).
template <typename T>
__device__ __forceinline__ Lse vec_lse(const uint4& raw, size_t e0, size_t v, Temper tz, bool entropy) {
  int bad = 0;
  const float m = vec_max<T>(raw, e0, v, tz, -INFINITY, &bad);
  Lse r{m, 0.0f, 0.0f, bad};
  if (bad) return Lse{-INFINITY, 0.0f, 0.0f, 1};
  if (m != -INFINITY) vec_sum<T>(raw, e0, v, tz, m, entropy, &r.s, &r.w);
  return r;
}

// The token's tempered logit, read from global memory. In place, every block of a row must
// call this before the row's first barrier (after which gradients overwrite the logits).
template <typename T>
__device__ __forceinline__ float token_value(const RowLossParams& p, const T* row, int32_t token) {
  return temper_of(p)(Elem<T>::scalar(row + token));
}

// Runs once per row, in one thread of each block, after the row's state is known: log-prob,
// entropy, the loss term and its records (by the writer only). Returns the gradient scale of
// the row in logits space (weight * d loss / d logp / T; 0 for masked, non-finite rows and
// sweeps without a gradient).
__device__ __forceinline__ float finish_row(const RowLossParams& p, size_t i, const Lse& row, float token_z,
                                            bool writer) {
  const TokenArrays& a = p.tokens;
  if (row.bad) {
    if (writer && a.bad_row) atomicMin(a.bad_row, static_cast<unsigned long long>(i));
    return 0.0f;
  }
  const float log_s = __logf(row.s);
  const float logp = token_z - (row.m + log_s);
  if (!writer) {
    if (!p.grad) return 0.0f;
    // Every block needs the scale; only the writer records. Recompute it without side effects.
    TokenArrays quiet = a;
    quiet.rec_loss = nullptr;
    quiet.nonfinite_row = nullptr;
    const float scale = token_terms_device(quiet, i, logp, p.term, p.clip, p.kl_coef);
    const float scaled = p.temperature != 1.0f ? __fdiv_rn(scale, p.temperature) : scale;
    return isfinite(scaled) ? scaled : 0.0f;
  }
  if (a.logprobs_out) a.logprobs_out[i] = logp;
  if (p.entropy && a.entropy_out) a.entropy_out[i] = log_s - row.w / row.s;
  const float scale = token_terms_device(a, i, logp, p.term, p.clip, p.kl_coef);
  if (!p.grad) return 0.0f;
  const float scaled = p.temperature != 1.0f ? __fdiv_rn(scale, p.temperature) : scale;
  if (!isfinite(scaled)) {
    if (a.nonfinite_row) atomicMin(a.nonfinite_row, static_cast<unsigned long long>(i));
    return 0.0f;
  }
  return scaled;
}

// The row's statistics and gradient scale, in every thread of every block of the row's
// cluster: block, then cluster reduction; thread 0 of each block finishes the row (the block of
// rank 0 writes the outputs and records).
struct RowTotals {
  Lse total;
  float scale;  // gradient scale in logits space; 0: the row's gradient is zero
  float lse;    // log-sum-exp of the tempered row
};

__device__ __forceinline__ RowTotals row_totals(const RowLossParams& p, size_t token_index, const Lse& mine,
                                                float token_z, bool token_ok, unsigned cluster, unsigned rank) {
  __shared__ float s_scale;
  Lse total = block_reduce(mine);
  if (cluster > 1) total = cluster_reduce(total);
  if (threadIdx.x == 0) {
    const float scale = finish_row(p, token_index, total, token_z, rank == 0);
    s_scale = token_ok ? scale : 0.0f;
  }
  __syncthreads();
  return RowTotals{total, s_scale, total.m + __logf(total.s)};
}

// The gradient of the W elements of one vector: scale * ([j == token] - exp(z_j - lse)).
template <typename T>
__device__ __forceinline__ void grad_vec(const RowLossParams& p, void* dst, bool out_aligned, const uint4& raw,
                                         size_t e0, Temper tz, float lse, float scale, int32_t token) {
  constexpr int W = Elem<T>::kPerVec;
  float vals[W];
#pragma unroll
  for (int j = 0; j < W; ++j) {
    float g = 0.0f;
    if (scale != 0.0f) {
      g = -scale * __expf(tz(Elem<T>::get(raw, j)) - lse);
      if (e0 + j == static_cast<size_t>(token)) g += scale;
    }
    vals[j] = g;
  }
  store_vec<W>(dst, p.grad_dtype, e0, p.vocab, out_aligned, vals);
}

// Row r of the sweep: where its logits and gradient are, and its token.
template <typename T>
struct RowRef {
  const T* row;
  void* grad_row;  // null without a gradient
  size_t token_index;
  int32_t token;
  bool aligned, out_aligned;
};

template <typename T>
__device__ __forceinline__ RowRef<T> row_ref(const RowLossParams& p, size_t r) {
  RowRef<T> ref;
  ref.row = static_cast<const T*>(p.logits) + r * p.ld;
  ref.grad_row = p.grad ? static_cast<char*>(p.grad) + r * p.grad_ld * (p.grad_dtype == DAPO_CUDA_F32 ? 4 : 2) : nullptr;
  ref.token_index = p.row0 + r;
  ref.token = p.tokens.tokens[ref.token_index];
  ref.aligned = (reinterpret_cast<uintptr_t>(ref.row) & 15) == 0;
  ref.out_aligned = (reinterpret_cast<uintptr_t>(ref.grad_row) & 15) == 0;
  return ref;
}

__device__ __forceinline__ bool token_in_range(int32_t token, size_t v) {
  return token >= 0 && static_cast<size_t>(token) < v;
}

}  // namespace dapo::cuda::rowloss
