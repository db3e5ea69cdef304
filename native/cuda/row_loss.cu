// The fused row sweep (see row_loss.cuh). Two kernels:
//  - resident: a row is split over a cluster of up to 8 blocks (sm_90) or one block, each
//    thread holding its slice in registers as 16-byte vectors. The row is read from memory
//    once; after the cluster has agreed on max / sum / entropy through distributed shared
//    memory, the gradient is written from registers. Logits bytes read + gradient bytes
//    written is the whole traffic.
//  - streaming: one block per row, any V, any architecture; reads the row twice.
// Reductions use a fixed order for a given V (butterfly within warps, warps in order, cluster
// ranks in order), so results do not depend on timing.
#include <cooperative_groups.h>

#include <cstdint>

#include "cuda/row_loss.cuh"

namespace cg = cooperative_groups;

namespace dapo::cuda {
namespace {

constexpr int kMaxThreads = 512;

// Online log-sum-exp state of a set of values: max m, s = sum exp(x - m),
// w = sum exp(x - m) (x - m) (for the entropy log s - w / s), and a non-finite flag.
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

// Every thread of the block gets the block's state. blockDim.x is a multiple of 32.
__device__ Lse block_reduce(Lse v) {
  __shared__ Lse s_warp[kMaxThreads / 32];
  __shared__ Lse s_result;
  for (int offset = 16; offset > 0; offset /= 2) v = lse_merge(v, shfl_xor(v, offset));
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, warps = blockDim.x / 32;
  if (lane == 0) s_warp[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < warps ? s_warp[lane] : lse_identity();
    for (int offset = 16; offset > 0; offset /= 2) v = lse_merge(v, shfl_xor(v, offset));
    if (lane == 0) s_result = v;
  }
  __syncthreads();
  return s_result;
}

template <int CLUSTER>
__device__ Lse cluster_reduce(Lse v) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  __shared__ Lse s_part, s_result;
  cg::cluster_group cluster = cg::this_cluster();
  if (threadIdx.x == 0) s_part = v;
  cluster.sync();
  if (threadIdx.x == 0) {
    Lse acc = lse_identity();
    for (int q = 0; q < CLUSTER; ++q) acc = lse_merge(acc, *cluster.map_shared_rank(&s_part, q));
    s_result = acc;
  }
  cluster.sync();  // no block leaves while another still reads its shared memory
  return s_result;
#else
  __trap();  // clusters are only launched on sm_90 and newer
  return v;
#endif
}

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

// Vector v of a row: elements [e0, e0 + W). Past the end of the row the lanes are left zero
// (callers skip them by index).
template <typename T>
__device__ __forceinline__ uint4 load_vec(const T* row, size_t e0, size_t v, bool aligned) {
  constexpr int W = Elem<T>::kPerVec;
  if (aligned && e0 + W <= v) return __ldcs(reinterpret_cast<const uint4*>(row + e0));
  uint4 out = make_uint4(0, 0, 0, 0);
  unsigned words[4] = {0, 0, 0, 0};
  for (int j = 0; j < W; ++j) {
    if (e0 + j >= v) break;
    unsigned bits;
    if constexpr (sizeof(T) == 4) bits = __float_as_uint(Elem<float>::scalar(reinterpret_cast<const float*>(row) + e0 + j));
    else bits = reinterpret_cast<const uint16_t*>(row)[e0 + j];
    if constexpr (sizeof(T) == 4) words[j] = bits;
    else words[j >> 1] |= (j & 1) ? (bits << 16) : bits;
  }
  out.x = words[0], out.y = words[1], out.z = words[2], out.w = words[3];
  return out;
}

__device__ __forceinline__ uint16_t to_bf16(float f) {
  unsigned bits = __float_as_uint(f);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40);
  return static_cast<uint16_t>((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
}

// Writes vals[0..W) at elements [e0, e0 + W) of a gradient row of f32 or bf16.
template <int W>
__device__ __forceinline__ void store_vec(void* dst_row, int dtype, size_t e0, size_t v, bool aligned, const float* vals) {
  if (dtype == DAPO_CUDA_F32) {
    float* dst = static_cast<float*>(dst_row) + e0;
    if (aligned && e0 + W <= v) {
#pragma unroll
      for (int c = 0; c < W; c += 4)
        *reinterpret_cast<float4*>(dst + c) = make_float4(vals[c], vals[c + 1], vals[c + 2], vals[c + 3]);
    } else {
      for (int j = 0; j < W && e0 + j < v; ++j) dst[j] = vals[j];
    }
  } else {
    uint16_t* dst = static_cast<uint16_t*>(dst_row) + e0;
    if (aligned && e0 + W <= v) {
      unsigned words[W / 2];
#pragma unroll
      for (int c = 0; c < W / 2; ++c) words[c] = to_bf16(vals[2 * c]) | (static_cast<unsigned>(to_bf16(vals[2 * c + 1])) << 16);
      if constexpr (W == 8) *reinterpret_cast<uint4*>(dst) = make_uint4(words[0], words[1], words[2], words[3]);
      else *reinterpret_cast<uint2*>(dst) = make_uint2(words[0], words[1]);
    } else {
      for (int j = 0; j < W && e0 + j < v; ++j) dst[j] = to_bf16(vals[j]);
    }
  }
}

template <typename T>
__device__ __forceinline__ Lse vec_lse(const uint4& raw, size_t e0, size_t v, float m, bool entropy) {
  Lse r{m, 0.0f, 0.0f, 0};
#pragma unroll
  for (int j = 0; j < Elem<T>::kPerVec; ++j) {
    if (e0 + j < v) {
      const float d = Elem<T>::get(raw, j) - m;
      const float e = __expf(d);
      r.s += e;
      if (entropy) r.w += e * d;
    }
  }
  return r;
}

template <typename T>
__device__ __forceinline__ float vec_max(const uint4& raw, size_t e0, size_t v, float m, int* bad) {
#pragma unroll
  for (int j = 0; j < Elem<T>::kPerVec; ++j) {
    if (e0 + j < v) {
      const float x = Elem<T>::get(raw, j);
      *bad |= !isfinite(x);
      m = fmaxf(m, x);
    }
  }
  return m;
}

// Thread 0's part after the row's state is known: log-prob, token loss, records; returns the
// gradient scale of the row (0 for masked, clipped and non-finite rows).
__device__ float finish_row(const RowLossParams& p, size_t i, const Lse& row, float token_logit, bool token_ok,
                            bool writer) {
  const TokenArrays& a = p.tokens;
  if (row.bad) {
    if (writer) atomicMin(a.bad_row, static_cast<unsigned long long>(i));
    return 0.0f;
  }
  const float log_s = __logf(row.s);
  const float logp = token_logit - (row.m + log_s);
  const TokenLoss t = token_loss(logp, a.old_logprobs[i], a.advantages[i], p.clip);
  if (writer) {
    a.logprobs_out[i] = logp;
    if (p.entropy && a.entropy_out) a.entropy_out[i] = log_s - row.w / row.s;
    a.rec_loss[i] = t.loss;
    a.rec_nkl[i] = t.neg_log_ratio;
    a.rec_flags[i] = static_cast<uint8_t>((t.clipped_low ? 1 : 0) | (t.clipped_high ? 2 : 0) | (t.dual_clipped ? 4 : 0));
  }
  return token_ok ? a.weights[i] * t.dloss_dlogp : 0.0f;
}

template <typename T>
__device__ __forceinline__ void grad_vec(const RowLossParams& p, void* dst, bool out_aligned, const uint4& raw,
                                         size_t e0, float lse, float scale, int32_t token) {
  constexpr int W = Elem<T>::kPerVec;
  float vals[W];
#pragma unroll
  for (int j = 0; j < W; ++j) {
    float g = 0.0f;
    if (scale != 0.0f) {
      g = -scale * __expf(Elem<T>::get(raw, j) - lse);
      if (e0 + j == static_cast<size_t>(token)) g += scale;
    }
    vals[j] = g;
  }
  store_vec<W>(dst, p.grad_dtype, e0, p.vocab, out_aligned, vals);
}

template <typename T, int VPT, int CLUSTER>
__global__ void __launch_bounds__(kMaxThreads) row_loss_resident(RowLossParams p) {
  constexpr int W = Elem<T>::kPerVec;
  unsigned rank = 0;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  if constexpr (CLUSTER > 1) rank = cg::this_cluster().block_rank();
#endif
  const size_t r = blockIdx.x / CLUSTER;
  const size_t i = p.row0 + r;
  const size_t v = p.vocab;
  const T* row = static_cast<const T*>(p.logits) + r * p.ld;
  const int32_t token = p.tokens.tokens[i];
  const bool token_ok = token >= 0 && static_cast<size_t>(token) < v;
  // Read before any block of the cluster may write the row (in place).
  float token_logit = 0.0f;
  if (threadIdx.x == 0 && token_ok) token_logit = Elem<T>::scalar(row + token);

  const size_t stride = static_cast<size_t>(CLUSTER) * blockDim.x;
  const size_t g = static_cast<size_t>(rank) * blockDim.x + threadIdx.x;
  const bool aligned = (reinterpret_cast<uintptr_t>(row) & 15) == 0;
  uint4 raw[VPT];
#pragma unroll
  for (int k = 0; k < VPT; ++k) raw[k] = load_vec<T>(row, (k * stride + g) * W, v, aligned);

  int bad = 0;
  float m = -INFINITY;
#pragma unroll
  for (int k = 0; k < VPT; ++k) m = vec_max<T>(raw[k], (k * stride + g) * W, v, m, &bad);
  Lse mine{m, 0.0f, 0.0f, bad};
  if (m != -INFINITY && !bad) {
#pragma unroll
    for (int k = 0; k < VPT; ++k) {
      const Lse part = vec_lse<T>(raw[k], (k * stride + g) * W, v, m, p.entropy);
      mine.s += part.s;
      mine.w += part.w;
    }
  }
  Lse total = block_reduce(mine);
  if constexpr (CLUSTER > 1) total = cluster_reduce<CLUSTER>(total);

  __shared__ float s_scale;
  if (threadIdx.x == 0) s_scale = finish_row(p, i, total, token_logit, token_ok, rank == 0);
  __syncthreads();
  const float scale = s_scale;
  const float lse = total.m + __logf(total.s);
  void* dst = static_cast<char*>(p.grad) + r * p.grad_ld * (p.grad_dtype == DAPO_CUDA_F32 ? 4 : 2);
  const bool out_aligned = (reinterpret_cast<uintptr_t>(dst) & 15) == 0;
#pragma unroll
  for (int k = 0; k < VPT; ++k) {
    const size_t e0 = (k * stride + g) * W;
    if (e0 < v) grad_vec<T>(p, dst, out_aligned, raw[k], e0, lse, scale, token);
  }
}

template <typename T>
__global__ void __launch_bounds__(kMaxThreads) row_loss_streaming(RowLossParams p) {
  constexpr int W = Elem<T>::kPerVec;
  const size_t r = blockIdx.x;
  const size_t i = p.row0 + r;
  const size_t v = p.vocab;
  const T* row = static_cast<const T*>(p.logits) + r * p.ld;
  const int32_t token = p.tokens.tokens[i];
  const bool token_ok = token >= 0 && static_cast<size_t>(token) < v;
  float token_logit = 0.0f;
  if (threadIdx.x == 0 && token_ok) token_logit = Elem<T>::scalar(row + token);
  const bool aligned = (reinterpret_cast<uintptr_t>(row) & 15) == 0;

  Lse mine = lse_identity();
  for (size_t e0 = static_cast<size_t>(threadIdx.x) * W; e0 < v; e0 += static_cast<size_t>(blockDim.x) * W) {
    const uint4 raw = load_vec<T>(row, e0, v, aligned);
    int bad = 0;
    const float m = vec_max<T>(raw, e0, v, -INFINITY, &bad);
    Lse part = bad ? Lse{-INFINITY, 0.0f, 0.0f, 1} : vec_lse<T>(raw, e0, v, m, p.entropy);
    mine = lse_merge(mine, part);
  }
  const Lse total = block_reduce(mine);

  __shared__ float s_scale;
  if (threadIdx.x == 0) s_scale = finish_row(p, i, total, token_logit, token_ok, true);
  __syncthreads();
  const float scale = s_scale;
  const float lse = total.m + __logf(total.s);
  void* dst = static_cast<char*>(p.grad) + r * p.grad_ld * (p.grad_dtype == DAPO_CUDA_F32 ? 4 : 2);
  const bool out_aligned = (reinterpret_cast<uintptr_t>(dst) & 15) == 0;
  for (size_t e0 = static_cast<size_t>(threadIdx.x) * W; e0 < v; e0 += static_cast<size_t>(blockDim.x) * W) {
    const uint4 raw = scale != 0.0f ? load_vec<T>(row, e0, v, aligned) : make_uint4(0, 0, 0, 0);
    grad_vec<T>(p, dst, out_aligned, raw, e0, lse, scale, token);
  }
}

int device_major() {
  static int major = -1;
  if (major < 0) {
    int device = 0;
    if (cudaGetDevice(&device) != cudaSuccess || cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess)
      major = 0;
  }
  return major;
}

template <typename T, int VPT, int CLUSTER>
cudaError_t launch_resident(const RowLossParams& p, int threads) {
  cudaLaunchConfig_t config = {};
  config.gridDim = dim3(static_cast<unsigned>(p.rows * CLUSTER));
  config.blockDim = dim3(threads);
  config.stream = 0;
  cudaLaunchAttribute attribute[1];
  if (CLUSTER > 1) {
    attribute[0].id = cudaLaunchAttributeClusterDimension;
    attribute[0].val.clusterDim.x = CLUSTER;
    attribute[0].val.clusterDim.y = 1;
    attribute[0].val.clusterDim.z = 1;
    config.attrs = attribute;
    config.numAttrs = 1;
  }
  return cudaLaunchKernelEx(&config, row_loss_resident<T, VPT, CLUSTER>, p);
}

template <typename T>
cudaError_t launch_typed(const RowLossParams& p, const RowLossPlan& plan) {
  if (!plan.resident) {
    row_loss_streaming<T><<<static_cast<unsigned>(p.rows), plan.threads>>>(p);
    return cudaGetLastError();
  }
#define DAPO_RESIDENT(C)                                                            \
  switch (plan.vectors_per_thread) {                                                \
    case 4: return launch_resident<T, 4, C>(p, plan.threads);                       \
    case 8: return launch_resident<T, 8, C>(p, plan.threads);                       \
    default: return launch_resident<T, 16, C>(p, plan.threads);                     \
  }
  switch (plan.cluster) {
    case 1: DAPO_RESIDENT(1)
    case 2: DAPO_RESIDENT(2)
    case 4: DAPO_RESIDENT(4)
    default: DAPO_RESIDENT(8)
  }
#undef DAPO_RESIDENT
}

}  // namespace

RowLossPlan plan_row_loss(const RowLossParams& p) {
  const size_t w = p.dtype == DAPO_CUDA_F32 ? 4 : 8;
  const size_t vectors = (p.vocab + w - 1) / w;
  const int max_cluster = device_major() >= 9 ? 8 : 1;
  for (int cluster = 1; cluster <= max_cluster; cluster *= 2) {
    for (int vpt : {4, 8, 16}) {
      const size_t per_block = (vectors + static_cast<size_t>(cluster) * vpt - 1) / (static_cast<size_t>(cluster) * vpt);
      const size_t threads = (per_block + 31) / 32 * 32;
      if (threads <= static_cast<size_t>(kMaxThreads))
        return RowLossPlan{true, cluster, vpt, static_cast<int>(threads < 32 ? 32 : threads)};
    }
  }
  return RowLossPlan{false, 1, 0, kMaxThreads};
}

cudaError_t launch_row_loss(const RowLossParams& p) {
  if (p.rows == 0) return cudaSuccess;
  const RowLossPlan plan = plan_row_loss(p);
  return p.dtype == DAPO_CUDA_F32 ? launch_typed<float>(p, plan) : launch_typed<uint16_t>(p, plan);
}

}  // namespace dapo::cuda
