// Block and cluster collectives of the CUDA sampler (sampler.cu; private to it): the per-block
// shared state, the group of blocks that shares a row (a cluster on sm_90+, else one block), and
// reductions in a fixed order, so every result depends on the inputs only.
#pragma once
#include <cooperative_groups.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "cuda/model/sampler_math.cuh"

namespace dapo::cuda::model::sampler_detail {

namespace cg = cooperative_groups;
using sampler_math::kExp2TableSize;

constexpr int kThreads = 512;
constexpr int kWarps = kThreads / 32;
constexpr int kQuad = 4;              // consecutive elements per lane per step (one float4)
constexpr int kStep = 32 * kQuad;     // elements per warp per step
constexpr int kBins = 384;            // distance bins of 1 / kBinsPerNat nat below the max
constexpr int kBinSlots = kBins + 1;  // + one for everything further (weight 0) and -inf
constexpr float kBinsPerNat = 8.0f;
constexpr int kDigits = 256;
constexpr int kMaxCluster = 8;
constexpr int kSlots = 2;  // values a block publishes per exchange
constexpr unsigned kFull = 0xffffffffu;

// Per-block state (static shared memory; the slice of logits is the dynamic part).
struct Shared {
  double exp2[kExp2TableSize];
  uint64_t publish[2][kSlots];            // this block's values for the cluster, alternating
  uint64_t gathered[kMaxCluster][kSlots];  // every rank's values after an exchange
  uint64_t digit_local[2][kDigits];       // this block's radix histogram, alternating by round
  uint64_t digit[kDigits];                // the cluster's
  uint32_t bin_count[kBinSlots], bin_count_all[kBinSlots];
  uint64_t bin_mass[kBinSlots], bin_mass_all[kBinSlots];
  uint64_t warp_u64[kWarps];
  float warp_f32[kWarps];
  uint64_t segment[kWarps];  // per warp segment: weight or tie count, in id order
  uint64_t result[4];        // a search's answer, for the whole block
};

// The blocks of one row: a cluster (sm_90+) or a single block. Every block runs the same
// sequence of sync() calls. Remote shared memory is read only between the sync() that follows
// its writing and the next sync(), and a buffer is rewritten only after a further sync(): so
// buffers alternate (publish, digit_local) and one sync() per exchange suffices.
template <bool kCluster>
struct Group {
  unsigned rank = 0, size = 1;
  __device__ explicit Group(int blocks) {
    if constexpr (kCluster) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
      rank = cg::this_cluster().block_rank();
      size = static_cast<unsigned>(blocks);
#else
      (void)blocks;
#endif
    }
  }
  __device__ void sync() const {
    if constexpr (kCluster) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
      cg::this_cluster().sync();
#else
      __trap();  // clusters are launched on sm_90 and newer only
#endif
    } else {
      __syncthreads();
    }
  }
  template <typename T>
  __device__ T* at(T* p, unsigned q) const {
    if constexpr (kCluster) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
      return cg::this_cluster().map_shared_rank(p, q);
#else
      (void)q;
      __trap();
      return p;
#endif
    } else {
      (void)q;
      return p;
    }
  }
};

// ---- warp and block reductions (fixed order) ---------------------------------------------

struct Add {
  template <typename T>
  __device__ T operator()(T a, T b) const { return a + b; }
};
struct Max {
  template <typename T>
  __device__ T operator()(T a, T b) const { return a > b ? a : b; }
};

template <typename T, typename Op>
__device__ __forceinline__ T warp_reduce(T v, Op op) {
  for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(kFull, v, o));
  return v;
}
__device__ __forceinline__ uint64_t warp_sum(uint64_t v) { return warp_reduce(v, Add{}); }

__device__ __forceinline__ uint64_t warp_inclusive_scan(uint64_t v) {
  const int lane = threadIdx.x % 32;
  for (int o = 1; o < 32; o <<= 1) {
    const uint64_t t = __shfl_up_sync(kFull, v, o);
    if (lane >= o) v += t;
  }
  return v;
}

// Block-wide results reach every thread; warps are combined in warp order through warp_buf.
template <typename T, typename Op>
__device__ T block_reduce(T v, T* warp_buf, Op op) {
  v = warp_reduce(v, op);
  if (threadIdx.x % 32 == 0) warp_buf[threadIdx.x / 32] = v;
  __syncthreads();
  T r = warp_buf[0];
  for (int w = 1; w < kWarps; ++w) r = op(r, warp_buf[w]);
  __syncthreads();
  return r;
}
__device__ inline uint64_t block_sum(uint64_t v, Shared& sh) { return block_reduce(v, sh.warp_u64, Add{}); }
__device__ inline float block_sum(float v, Shared& sh) { return block_reduce(v, sh.warp_f32, Add{}); }
__device__ inline uint64_t block_max(uint64_t v, Shared& sh) { return block_reduce(v, sh.warp_u64, Max{}); }

// ---- cluster exchanges ----------------------------------------------------------------

// Publishes this block's values[0..k) (the same in every thread) and gathers every rank's into
// sh.gathered[rank][i].
template <bool kC>
__device__ void exchange(const Group<kC>& g, Shared& sh, int& parity, const uint64_t* values, int k) {
  if (threadIdx.x == 0)
    for (int i = 0; i < k; ++i) sh.publish[parity][i] = values[i];
  g.sync();
  if (threadIdx.x < g.size * k) {
    const unsigned q = threadIdx.x / k, i = threadIdx.x % k;
    sh.gathered[q][i] = g.at(&sh.publish[parity][0], q)[i];
  }
  __syncthreads();
  parity ^= 1;
}

template <bool kC>
__device__ uint64_t exchange_sum(const Group<kC>& g, Shared& sh, int& parity, uint64_t mine, uint64_t* before) {
  exchange(g, sh, parity, &mine, 1);
  uint64_t total = 0, pre = 0;
  for (unsigned q = 0; q < g.size; ++q) {
    if (q == g.rank) pre = total;
    total += sh.gathered[q][0];
  }
  if (before) *before = pre;
  return total;
}

template <bool kC>
__device__ uint64_t exchange_max(const Group<kC>& g, Shared& sh, int& parity, uint64_t mine) {
  exchange(g, sh, parity, &mine, 1);
  uint64_t m = 0;
  for (unsigned q = 0; q < g.size; ++q) m = sh.gathered[q][0] > m ? sh.gathered[q][0] : m;
  return m;
}

// total[i] = the sum over the cluster's blocks of local[i].
template <bool kC, typename T>
__device__ void cluster_sum(const Group<kC>& g, T* local, T* total, int n) {
  g.sync();
  for (int i = threadIdx.x; i < n; i += kThreads) {
    T s = 0;
    for (unsigned q = 0; q < g.size; ++q) s += g.at(local, q)[i];
    total[i] = s;
  }
  __syncthreads();
}

}  // namespace dapo::cuda::model::sampler_detail
