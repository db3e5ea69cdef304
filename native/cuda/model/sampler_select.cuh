// The selections of the CUDA sampler (sampler.cu; private to it): how a block walks its slice of
// the row, the fixed-point weight and distance bin of a logit, and the searches that find a
// threshold exactly: the bin where a running count or weight crosses a target, the key inside it
// (radix selection), and the n-th element of that key by id.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "cuda/model/sampler_collectives.cuh"
#include "cuda/model/sampler_math.cuh"

namespace dapo::cuda::model::sampler_detail {

using namespace sampler_math;

// ---- the block's slice of the row -----------------------------------------------------

// Warp w owns the segment [w seg, (w + 1) seg) of the slice and walks it in steps of kStep, lane
// l taking the kQuad elements at step + 4 l: every pass visits elements in the same layout, and
// a segment's elements are consecutive ids, so id order is (block, warp, step, lane, element).
struct RowView {
  const float* src;  // element 0 of the slice: shared memory when resident, else global memory
  uint32_t lo, n;    // id of element 0, number of elements
  uint32_t seg;      // elements per warp segment, a multiple of kStep
  bool vec;          // 16-byte loads allowed (src + 4 j is 16-byte aligned)
};

__device__ __forceinline__ uint32_t segment_begin(const RowView& v) { return (threadIdx.x / 32) * v.seg; }
__device__ __forceinline__ uint32_t segment_end(const RowView& v) {
  const uint32_t b = segment_begin(v);
  return b + v.seg < v.n ? b + v.seg : v.n;
}

// Elements j..j+3; those at or past `end` read as -inf (callers also test j + c < end).
template <bool kStreamLoad = false>
__device__ __forceinline__ void load_quad(const float* src, bool vec, uint32_t j, uint32_t end, float z[kQuad]) {
  if (vec && j + kQuad <= end) {
    const float4 q = kStreamLoad ? __ldcs(reinterpret_cast<const float4*>(src + j))
                                 : *reinterpret_cast<const float4*>(src + j);
    z[0] = q.x, z[1] = q.y, z[2] = q.z, z[3] = q.w;
  } else {
#pragma unroll
    for (int c = 0; c < kQuad; ++c) z[c] = j + c < end ? src[j + c] : -INFINITY;
  }
}

// f(z, j, end) for each step of this warp's segment; element c of the step is valid when
// j + c < end. All lanes of the warp make the same calls, so f may use warp collectives.
template <typename F>
__device__ __forceinline__ void for_each_step(const RowView& v, F&& f) {
  const uint32_t begin = segment_begin(v), end = segment_end(v);
  for (uint32_t base = begin; base < end; base += kStep) {
    const uint32_t j = base + kQuad * (threadIdx.x % 32);
    float z[kQuad];
    load_quad(v.src, v.vec, j, end, z);
    f(z, j, end);
  }
}


// ---- the row's arithmetic -------------------------------------------------------------

struct RowMath {
  float m;          // the row's max logit
  double md;        // (double) m
  double inv_t;
  int wbits;
  double cutoff;
  float bin_scale;
  const double* table;
};

__device__ __forceinline__ uint64_t weight_of(float z, const RowMath& r) {
  return fixed_weight((static_cast<double>(z) - r.md) * r.inv_t, r.wbits, r.cutoff, r.table);
}

// The distance bin of z <= m: floor((m - z) * 8 / T) in float arithmetic, kBins past the last
// bin. Non-increasing in z (each rounding is monotone), so bins are ranges of decreasing logits.
__device__ __forceinline__ int bin_of(float z, const RowMath& r) {
  const float d = (r.m - z) * r.bin_scale;
  return d < static_cast<float>(kBins) ? static_cast<int>(d) : kBins;
}

// Adds weight w to hist[slot] for every lane with slot >= 0; when all such lanes share a slot
// (flat rows, all-equal rows), one atomic from the warp instead of 32 on one address.
__device__ __forceinline__ void warp_add(uint64_t* hist, uint32_t* count, int slot, uint64_t w) {
  const unsigned active = __ballot_sync(kFull, slot >= 0);
  if (active == 0) return;
  const int lead = __ffs(active) - 1;
  const int lead_slot = __shfl_sync(kFull, slot, lead);
  if (__all_sync(kFull, slot < 0 || slot == lead_slot)) {
    const uint64_t total = warp_sum(slot >= 0 ? w : 0);
    if (static_cast<int>(threadIdx.x % 32) == lead) {
      if (total) atomicAdd(reinterpret_cast<unsigned long long*>(&hist[lead_slot]), total);
      if (count) atomicAdd(&count[lead_slot], static_cast<uint32_t>(__popc(active)));
    }
  } else if (slot >= 0) {
    if (w) atomicAdd(reinterpret_cast<unsigned long long*>(&hist[slot]), w);
    if (count) atomicAdd(&count[slot], 1u);
  }
}

// Elements with key > cut.key, or key == cut.key and id <= cut.id (the kept set of a threshold).
struct Cut {
  uint32_t key = 0, id = 0xffffffffu;  // the default keeps everything: every key is > 0
};
__device__ __forceinline__ bool in_cut(uint32_t key, uint32_t id, const Cut& c) {
  return key > c.key || (key == c.key && id <= c.id);
}

// Called by all lanes of one warp: the first index i in [0, n) at which the running sum of
// get(0..i) reaches target (>= 1), and the sum before it; n and the total when it never does.
template <typename Get>
__device__ void find_crossing(Get get, int n, uint64_t target, int& index, uint64_t& before) {
  const int lane = threadIdx.x % 32, per = (n + 31) / 32, first = lane * per;
  const int last = first + per < n ? first + per : n;
  uint64_t mine = 0;
  for (int i = first; i < last; ++i) mine += get(i);
  const uint64_t incl = warp_inclusive_scan(mine), excl = incl - mine;
  const unsigned hit = __ballot_sync(kFull, excl < target && target <= incl);
  if (hit == 0) {
    index = n;
    before = __shfl_sync(kFull, incl, 31);
    return;
  }
  const int owner = __ffs(hit) - 1;
  int idx = last;
  uint64_t acc = excl;
  if (lane == owner) {
    for (int i = first; i < last; ++i) {
      const uint64_t x = get(i);
      if (acc + x >= target) {
        idx = i;
        break;
      }
      acc += x;
    }
  }
  index = __shfl_sync(kFull, idx, owner);
  before = __shfl_sync(kFull, acc, owner);
}

// Warp 0 runs find_crossing; every thread of the block gets the answer.
template <typename Get>
__device__ void block_find_crossing(Shared& sh, Get get, int n, uint64_t target, int& index, uint64_t& before) {
  if (threadIdx.x < 32) {
    int i;
    uint64_t b;
    find_crossing(get, n, target, i, b);
    if (threadIdx.x == 0) sh.result[0] = static_cast<uint64_t>(i), sh.result[1] = b;
  }
  __syncthreads();
  index = static_cast<int>(sh.result[0]);
  before = sh.result[1];
  __syncthreads();
}

// In this warp's segment, in id order: the element at which the running weight first reaches
// target (>= 1). True in the lane holding it, with its slice index and value.
template <typename Weigh>
__device__ bool warp_find(const RowView& v, uint64_t target, Weigh weigh, uint32_t& index, float& value) {
  const uint32_t begin = segment_begin(v), end = segment_end(v), lane = threadIdx.x % 32;
  uint64_t before = 0;
  for (uint32_t base = begin; base < end; base += kStep) {
    const uint32_t j = base + kQuad * lane;
    float z[kQuad];
    load_quad(v.src, v.vec, j, end, z);
    uint64_t w[kQuad], mine = 0;
#pragma unroll
    for (int c = 0; c < kQuad; ++c) {
      w[c] = j + c < end ? weigh(z[c], j + c) : 0;
      mine += w[c];
    }
    const uint64_t incl = warp_inclusive_scan(mine);
    const uint64_t total = __shfl_sync(kFull, incl, 31);
    if (before + total >= target) {
      uint64_t acc = before + incl - mine;
      if (acc < target && before + incl >= target) {
#pragma unroll
        for (int c = 0; c < kQuad; ++c) {
          acc += w[c];
          if (acc >= target) {
            index = j + c;
            value = z[c];
            return true;
          }
        }
      }
      return false;
    }
    before += total;
  }
  return false;
}

// In this block (which holds it; every thread calls): the element at which the running weight,
// in id order, reaches target, given the per-warp-segment weights in sh.segment.
template <typename Weigh>
__device__ bool block_find(const RowView& v, Shared& sh, uint64_t target, Weigh weigh, uint32_t& index, float& value) {
  if (threadIdx.x == 0) {
    uint64_t acc = 0;
    int w = 0;
    for (; w < kWarps - 1; ++w) {
      if (acc + sh.segment[w] >= target) break;
      acc += sh.segment[w];
    }
    sh.result[2] = static_cast<uint64_t>(w);
    sh.result[3] = target - acc;
  }
  __syncthreads();
  const int warp = static_cast<int>(sh.result[2]);
  const uint64_t t = sh.result[3];
  __syncthreads();
  if (static_cast<int>(threadIdx.x / 32) != warp) return false;
  return warp_find(v, t, weigh, index, value);
}

// Where the row's answer goes. lse: of the logits as the log-prob sees them (divided by the

// ---- the selections -------------------------------------------------------------------

// What a block needs to walk its slice and take the row's decisions with the other blocks.
template <bool kC>
struct RowCtx {
  const Group<kC>& g;
  Shared& sh;
  RowView v;
  RowMath rm;
  int xparity = 0;  // alternating buffer of exchange()
  int dparity = 0;  // alternating buffer of the radix histograms
};

// Within bin b and the cut: the key tau at which the running count or weight, by decreasing
// key, first reaches target (>= 1): total(> tau) < target <= total(>= tau). *above = total(> tau).
template <bool kC>
__device__ uint32_t radix_select(RowCtx<kC>& x, int b, const Cut& cut, bool by_weight, uint64_t target,
                                 uint64_t* above_out) {
  Shared& sh = x.sh;
  uint32_t prefix = 0;
  uint64_t above = 0;
  for (int round = 0; round < 4; ++round) {
    const int shift = 24 - 8 * round;
    const uint32_t high = round == 0 ? 0u : ~0u << (shift + 8);
    uint64_t* local = sh.digit_local[x.dparity];
    for (int i = threadIdx.x; i < kDigits; i += kThreads) local[i] = 0;
    __syncthreads();
    for_each_step(x.v, [&](const float* z, uint32_t j, uint32_t end) {
#pragma unroll
      for (int c = 0; c < kQuad; ++c) {
        int digit = -1;
        uint64_t w = 0;
        if (j + c < end) {
          const uint32_t key = float_key(z[c]);
          if (((key ^ prefix) & high) == 0 && bin_of(z[c], x.rm) == b && in_cut(key, x.v.lo + j + c, cut)) {
            digit = static_cast<int>((key >> shift) & 0xffu);
            w = by_weight ? weight_of(z[c], x.rm) : 1;
          }
        }
        warp_add(local, nullptr, digit, w);
      }
    });
    cluster_sum(x.g, local, sh.digit, kDigits);
    x.dparity ^= 1;
    int index;
    uint64_t before;
    block_find_crossing(sh, [&](int i) { return sh.digit[kDigits - 1 - i]; }, kDigits, target - above, index, before);
    prefix |= static_cast<uint32_t>(kDigits - 1 - index) << shift;
    above += before;
  }
  *above_out = above;
  return prefix;
}

// The id of the nth (>= 1) element in id order whose key is `key`. The block holding it gets
// true, with the element's id and value; with `share`, every block gets its id.
template <bool kC>
__device__ bool select_tie(RowCtx<kC>& x, uint32_t key, uint64_t nth, bool share, uint32_t& id, float& value) {
  Shared& sh = x.sh;
  uint64_t mine = 0;
  for_each_step(x.v, [&](const float* z, uint32_t j, uint32_t end) {
#pragma unroll
    for (int c = 0; c < kQuad; ++c) mine += (j + c < end && float_key(z[c]) == key) ? 1 : 0;
  });
  mine = warp_sum(mine);
  if (threadIdx.x % 32 == 0) sh.segment[threadIdx.x / 32] = mine;
  __syncthreads();
  uint64_t block_total = 0;
  for (int w = 0; w < kWarps; ++w) block_total += sh.segment[w];
  uint64_t before;
  exchange_sum(x.g, sh, x.xparity, block_total, &before);
  bool found = false;
  uint32_t index = 0;
  if (before < nth && nth <= before + block_total)  // the same in every thread of the block
    found = block_find(x.v, sh, nth - before,
                       [&](float z, uint32_t) -> uint64_t { return float_key(z) == key ? 1 : 0; }, index, value);
  if (found) id = x.v.lo + index;
  if (share) {
    __syncthreads();
    if (threadIdx.x == 0) sh.result[0] = 0;
    __syncthreads();
    if (found) sh.result[0] = static_cast<uint64_t>(id) + 1;
    __syncthreads();
    const uint64_t published = sh.result[0];
    id = static_cast<uint32_t>(exchange_max(x.g, sh, x.xparity, published) - 1);
  }
  return found;
}

// The weight of the elements of bin b inside the cut, over the row.
template <bool kC>
__device__ uint64_t bin_weight_in_cut(RowCtx<kC>& x, int b, const Cut& cut) {
  uint64_t mine = 0;
  for_each_step(x.v, [&](const float* z, uint32_t j, uint32_t end) {
#pragma unroll
    for (int c = 0; c < kQuad; ++c)
      if (j + c < end && bin_of(z[c], x.rm) == b && in_cut(float_key(z[c]), x.v.lo + j + c, cut))
        mine += weight_of(z[c], x.rm);
  });
  return exchange_sum(x.g, x.sh, x.xparity, block_sum(mine, x.sh), nullptr);
}

// Bin masses of a kept set: bins before `last` whole, `last` with last_mass, none after
// (last < 0: every bin whole).
struct KeptBins {
  const uint64_t* mass;
  int last;
  uint64_t last_mass;
  __device__ uint64_t operator()(int b) const { return last < 0 || b < last ? mass[b] : b == last ? last_mass : 0; }
};

}  // namespace dapo::cuda::model::sampler_detail
