// sample_rows: the twin of sample_token (native/model/sampler.cc) on the GPU, one row of fp32
// logits per live sequence, with the CPU's Philox stream (native/model/philox.h) and its choice:
// greedy (argmax, lowest id on ties) when temperature <= 0; else u = philox_uniform(seed,
// prompt id, sample, position) picks by inverse CDF, in id order when nothing is filtered, else
// over the top-k then top-p kept set in order of decreasing probability, ties by id.
//
// No sort of the vocabulary. Probabilities are fixed-point weights (sampler_math.cuh: exact
// integer sums, so the choice is the same whatever the order of the additions, and equal to the
// CPU's except within ~1e-12 of a boundary; the precision argument is there). Thresholds are
// found by selection:
//  - distance bins: while the weights are summed, each element is also counted (and its weight
//    added) in the bin of its distance below the max, 1/8 nat wide (384 bins cover 48 nats, past
//    every weight's cutoff; one more bin holds the rest). The bins are ranges of the logit in
//    decreasing order, so a prefix sum over them finds the bin where a count (top-k) or a mass
//    (top-p, the sampled point) is crossed, exactly;
//  - inside that bin, radix selection over the order-preserving integer key of the logits (four
//    rounds of 8 bits, histograms of counts or weights of the bin's elements only), then, among
//    elements with the very key found, the n-th by id.
//
// Layout: a row is split over a cluster of blocks (sm_90+, up to 8), each holding its slice in
// shared memory, so the row is read from global memory once; blocks agree on sums and
// histograms through distributed shared memory and all take the same decisions. Without
// clusters (sm_80) one block holds a row that fits its shared memory, else reads the row from
// global memory (and L2) on each pass. Per row, over the block's slice:
//    1. load, with the max and its lowest id and the non-finite check      (global memory)
//    2. weights (fixed point), the fp32 log-sum-exp, per-segment sums, bins (shared memory)
//    3. unfiltered: the block, warp segment and element where u * S falls  (one segment)
//       filtered: per threshold (top-k, top-p, the draw), 4 radix rounds, 1-2 tie passes
// So the main case (no filter) costs one read of the logits from memory and one pass over shared
// memory: at V = 151936, 256 rows are 156 MB of fp32 logits, 52 us at 3 TB/s, which bounds the
// sampler; the double-precision exp of step 2 (~10 FP64 operations per logit) is of the same
// order on an H100 and overlaps with the loads of the other block on the SM.
// Launch shape depends on (rows, vocab) only; no host synchronisation, no allocation, so a
// decode step can be captured into a CUDA graph.
#include <cmath>
#include <cstdint>
#include <map>
#include <mutex>
#include <utility>

#include "cuda/model/ops.cuh"
#include "cuda/model/sampler_collectives.cuh"
#include "cuda/model/sampler_launch.cuh"
#include "cuda/model/sampler_math.cuh"
#include "cuda/model/sampler_select.cuh"
#include "model/philox.h"

namespace dapo::cuda::model {
namespace {

using namespace sampler_detail;

struct Params {
  const float* logits;
  size_t ld;
  uint32_t vocab, slice;  // slice: elements per block (a multiple of 4)
  int cluster;            // blocks per row
  bool greedy, filtered, use_top_p;
  float tf;               // (float) temperature: the log-prob divides the logits by it
  bool divide;            // tf != 1
  double inv_t;           // 1 / temperature, for the weights
  float bin_scale;        // kBinsPerNat / temperature
  int wbits;              // s of the fixed-point weights
  double cutoff;          // weight_cutoff(wbits)
  uint32_t top_k;         // 0: no top-k (also when >= vocab)
  double top_p;
  uint64_t seed;
  const uint64_t* prompt_id;
  const uint32_t* sample;
  const uint32_t* position;
  int32_t* token;
  float* logprob;
  int32_t* bad_row;
};

// (key, id) packed so that the larger key wins, then the lower id.
__device__ __forceinline__ uint64_t pack_best(uint32_t key, uint32_t id) {
  return (static_cast<uint64_t>(key) << 32) | (0xffffffffu - id);
}
__device__ __forceinline__ uint32_t best_id(uint64_t packed) { return 0xffffffffu - static_cast<uint32_t>(packed); }

// Step 1: the slice's largest key (lowest id first) and whether it holds a NaN or +inf; copies
// the slice to `copy` when resident. Four steps of loads in flight per lane.
template <bool kResident>
__device__ void pass_stats(const RowView& g, float* copy, uint64_t& best, bool& bad) {
  const uint32_t begin = segment_begin(g), end = segment_end(g), lane = threadIdx.x % 32;
  constexpr int kAhead = 4;
  for (uint32_t base = begin; base < end; base += kAhead * kStep) {
    float z[kAhead][kQuad];
#pragma unroll
    for (int u = 0; u < kAhead; ++u) {
      const uint32_t j = base + u * kStep + kQuad * lane;
      if (j < end) load_quad<kResident>(g.src, g.vec, j, end, z[u]);
    }
#pragma unroll
    for (int u = 0; u < kAhead; ++u) {
      const uint32_t j = base + u * kStep + kQuad * lane;
      if (j >= end) continue;
      if constexpr (kResident) *reinterpret_cast<float4*>(copy + j) = make_float4(z[u][0], z[u][1], z[u][2], z[u][3]);
#pragma unroll
      for (int c = 0; c < kQuad; ++c) {
        if (j + c >= end) continue;
        const float x = z[u][c];
        if (isnan(x) || x == INFINITY) {
          bad = true;
        } else {
          const uint64_t cand = pack_best(float_key(x), g.lo + j + c);
          best = cand > best ? cand : best;
        }
      }
    }
  }
}

// Where the row's answer goes. lse: of the logits as the log-prob sees them.
__device__ __forceinline__ void write_row(const Params& p, size_t row, uint32_t id, float logit_seen, float lse) {
  p.token[row] = static_cast<int32_t>(id);
  p.logprob[row] = logit_seen - lse;
}

// The log-prob's view of a logit: divided by the temperature (a float division, as training).
__device__ __forceinline__ float seen(const Params& p, float z) { return p.divide ? __fdiv_rn(z, p.tf) : z; }

// A kept set: the elements inside `cut`, whose weights per bin are `bins`, `total` in all.
struct Kept {
  Cut cut;
  KeptBins bins;
  uint64_t total;
};

// top-k: the bin of the k-th largest logit (the counts sum to the vocabulary, which exceeds k),
// the key inside it, then the tie by id. When nothing past that bin has weight, the cut changes
// no mass (and never the draw): the kept set stays whole.
template <bool kC>
__device__ void keep_top_k(RowCtx<kC>& x, uint32_t k, Kept& kept) {
  Shared& sh = x.sh;
  int b;
  uint64_t before, above;
  block_find_crossing(sh, [&](int i) -> uint64_t { return sh.bin_count_all[i]; }, kBinSlots, k, b, before);
  uint64_t mass_before = 0;
  for (int i = 0; i < b; ++i) mass_before += sh.bin_mass_all[i];
  if (kept.total <= mass_before) return;
  const uint64_t rank = k - before;
  const uint32_t tau = radix_select(x, b, Cut{}, false, rank, &above);
  uint32_t id;
  float z;
  select_tie(x, tau, rank - above, true, id, z);
  kept.cut = Cut{tau, id};
  const uint64_t in_bin = bin_weight_in_cut(x, b, kept.cut);
  kept.bins = KeptBins{sh.bin_mass_all, b, in_bin};
  kept.total = mass_before + in_bin;
}

// top-p: the smallest prefix, by decreasing probability, of the kept set whose weight reaches
// top_p of it: the crossing bin, the key, then as many elements of that key (by id) as it takes.
template <bool kC>
__device__ void keep_top_p(RowCtx<kC>& x, double top_p, Kept& kept) {
  uint64_t need = scale_ceil(top_p, kept.total);
  if (need < 1) need = 1;
  int b;
  uint64_t before, above;
  block_find_crossing(x.sh, kept.bins, kBinSlots, need, b, before);
  const uint32_t tau = radix_select(x, b, kept.cut, true, need - before, &above);
  uint64_t w_tau = weight_of(key_float(tau), x.rm);
  if (w_tau == 0) w_tau = 1;  // cannot happen: the crossing element has weight
  const uint64_t ties = (need - before - above + w_tau - 1) / w_tau;
  uint32_t id;
  float z;
  select_tie(x, tau, ties, true, id, z);
  kept.cut = Cut{tau, id};
  const uint64_t in_bin = above + ties * w_tau;
  kept.bins = KeptBins{x.sh.bin_mass_all, b, in_bin};
  kept.total = before + in_bin;
}

// The filtered draw over a row of weight `total`: top-k, then top-p over what it kept, then u
// over what is left (the transformers order): the first element, by decreasing probability,
// whose running weight exceeds u times the kept weight.
template <bool kC>
__device__ void sample_filtered(const Params& p, size_t row, RowCtx<kC>& x, uint64_t total, double u, float lse) {
  Shared& sh = x.sh;
  cluster_sum(x.g, sh.bin_count, sh.bin_count_all, kBinSlots);
  cluster_sum(x.g, sh.bin_mass, sh.bin_mass_all, kBinSlots);
  Kept kept{Cut{}, KeptBins{sh.bin_mass_all, -1, 0}, total};
  if (p.top_k > 0) keep_top_k(x, p.top_k, kept);
  if (p.use_top_p) keep_top_p(x, p.top_p, kept);
  const uint64_t t = scale_floor(u, kept.total);
  int b;
  uint64_t before, above;
  block_find_crossing(sh, kept.bins, kBinSlots, t + 1, b, before);
  const uint32_t tau = radix_select(x, b, kept.cut, true, t + 1 - before, &above);
  uint64_t w_tau = weight_of(key_float(tau), x.rm);
  if (w_tau == 0) w_tau = 1;
  uint32_t id;
  float z;
  if (select_tie(x, tau, (t - before - above) / w_tau + 1, false, id, z)) write_row(p, row, id, seen(p, z), lse);
}

// Unfiltered: the first element in id order whose running weight exceeds u S: the block, then
// the warp segment (sums kept from the weight pass), then the element.
template <bool kC>
__device__ void sample_in_id_order(const Params& p, size_t row, RowCtx<kC>& x, uint64_t total, uint64_t block_before,
                                   uint64_t block_total, double u, float lse) {
  const uint64_t t = scale_floor(u, total);
  if (t < block_before || t >= block_before + block_total) return;
  uint32_t index;
  float z;
  const RowMath& rm = x.rm;
  if (block_find(x.v, x.sh, t - block_before + 1, [&](float zz, uint32_t) { return weight_of(zz, rm); }, index, z))
    write_row(p, row, x.v.lo + index, seen(p, z), lse);
}

// Greedy: the argmax (lowest id on ties), with its untempered log-prob.
template <bool kC>
__device__ void sample_greedy(const Params& p, size_t row, RowCtx<kC>& x, uint32_t argmax) {
  const float m = x.rm.m;
  float s = 0.0f;
  for_each_step(x.v, [&](const float* z, uint32_t j, uint32_t end) {
#pragma unroll
    for (int c = 0; c < kQuad; ++c)
      if (j + c < end) s += __expf(z[c] - m);
  });
  const uint64_t mine = float_bits(block_sum(s, x.sh));
  exchange(x.g, x.sh, x.xparity, &mine, 1);
  float sum = 0.0f;
  for (unsigned q = 0; q < x.g.size; ++q) sum += bits_float(static_cast<uint32_t>(x.sh.gathered[q][0]));
  if (x.g.rank == 0 && threadIdx.x == 0) write_row(p, row, argmax, p.logits[row * p.ld + argmax], m + __logf(sum));
}

// Step 1 over the row: its largest key with the lowest id (packed), and whether any logit is NaN
// or +inf. The resident kernel leaves its slice in shared memory and points the view there.
template <bool kC, bool kResident>
__device__ uint64_t find_max(RowCtx<kC>& x, float* slice, bool& bad) {
  uint64_t best = 0;
  bad = false;
  pass_stats<kResident>(x.v, slice, best, bad);
  if constexpr (kResident) {
    x.v.src = slice;
    x.v.vec = true;
  }
  const uint64_t block_stats[2] = {block_max(best, x.sh), block_max(bad ? 1 : 0, x.sh)};
  exchange(x.g, x.sh, x.xparity, block_stats, 2);
  best = 0;
  for (unsigned q = 0; q < x.g.size; ++q) {
    best = x.sh.gathered[q][0] > best ? x.sh.gathered[q][0] : best;
    bad |= x.sh.gathered[q][1] != 0;
  }
  return best;
}

// The row's weights, summed per warp segment (left in sh.segment), per block and in all, and
// per distance bin when filtering; and the log-sum-exp of the logits as the log-prob sees them.
struct RowSums {
  uint64_t total, block_before, block_total;
  float lse;
};

template <bool kC>
__device__ RowSums weigh_row(const Params& p, RowCtx<kC>& x) {
  Shared& sh = x.sh;
  const float ms = seen(p, x.rm.m);  // the max of the divided logits: division is monotone
  float s = 0.0f;
  uint64_t lane_w = 0;
  for_each_step(x.v, [&](const float* z, uint32_t j, uint32_t end) {
#pragma unroll
    for (int c = 0; c < kQuad; ++c) {
      uint64_t w = 0;
      int slot = -1;
      if (j + c < end) {
        s += __expf(seen(p, z[c]) - ms);
        w = weight_of(z[c], x.rm);
        if (p.filtered) slot = bin_of(z[c], x.rm);
      }
      if (p.filtered) warp_add(sh.bin_mass, sh.bin_count, slot, w);
      lane_w += w;
    }
  });
  const uint64_t segment_w = warp_sum(lane_w);
  if (threadIdx.x % 32 == 0) sh.segment[threadIdx.x / 32] = segment_w;
  s = block_sum(s, sh);  // its barrier also publishes sh.segment
  RowSums r{0, 0, 0, 0.0f};
  for (int w = 0; w < kWarps; ++w) r.block_total += sh.segment[w];
  const uint64_t sums[2] = {r.block_total, float_bits(s)};
  exchange(x.g, sh, x.xparity, sums, 2);
  float fsum = 0.0f;
  for (unsigned q = 0; q < x.g.size; ++q) {
    if (q == x.g.rank) r.block_before = r.total;
    r.total += sh.gathered[q][0];
    fsum += bits_float(static_cast<uint32_t>(sh.gathered[q][1]));
  }
  r.lse = ms + __logf(fsum);
  return r;
}

// One row, by one block or by each block of its cluster (all take the same decisions).
template <bool kC, bool kResident>
__device__ void sample_row(const Params& p, const Group<kC>& g, Shared& sh, float* slice, size_t row) {
  const float* logits = p.logits + row * p.ld;
  const uint32_t lo = min(p.vocab, g.rank * p.slice);
  const uint32_t n = min(p.slice, p.vocab - lo);
  const uint32_t per_warp = (n + kWarps - 1) / kWarps;
  const RowView v{logits + lo, lo, n, (per_warp + kStep - 1) / kStep * kStep,
                  (reinterpret_cast<uintptr_t>(logits + lo) & 15) == 0};
  RowCtx<kC> x{g, sh, v, RowMath{}};

  bool bad;
  const uint64_t best = find_max<kC, kResident>(x, slice, bad);
  const uint32_t best_key = static_cast<uint32_t>(best >> 32);
  if (bad || best_key <= float_key(-INFINITY)) {  // a NaN or +inf, or nothing but -inf
    if (g.rank == 0 && threadIdx.x == 0) {
      p.token[row] = 0;
      p.logprob[row] = NAN;
      if (p.bad_row) *p.bad_row = 1;
    }
    return;
  }
  const float m = key_float(best_key);
  x.rm = RowMath{m, static_cast<double>(m), p.inv_t, p.wbits, p.cutoff, p.bin_scale, sh.exp2};
  if (p.greedy) {
    sample_greedy(p, row, x, best_id(best));
    return;
  }
  // Overwritten by the draw (after at least one more barrier, so the draw's write lands last);
  // should a search ever come back empty, the token still indexes the vocabulary and the NaN
  // log-prob says something went wrong.
  if (g.rank == 0 && threadIdx.x == 0) {
    p.token[row] = static_cast<int32_t>(best_id(best));
    p.logprob[row] = NAN;
  }
  const RowSums sums = weigh_row(p, x);
  const double u = philox_uniform(p.seed, p.prompt_id[row], p.sample[row], p.position[row]);
  if (p.filtered) sample_filtered(p, row, x, sums.total, u, sums.lse);
  else sample_in_id_order(p, row, x, sums.total, sums.block_before, sums.block_total, u, sums.lse);
}

template <bool kCluster, bool kResident>
__global__ void __launch_bounds__(kThreads, 2) sample_kernel(const Params p) {
  extern __shared__ float4 dynamic_smem[];  // the resident slice
  __shared__ Shared sh;
  const Group<kCluster> g(p.cluster);
  const size_t row = blockIdx.x / static_cast<unsigned>(p.cluster);
  if (threadIdx.x < kExp2TableSize) sh.exp2[threadIdx.x] = kExp2Table[threadIdx.x];
  if (p.filtered)
    for (int i = threadIdx.x; i < kBinSlots; i += kThreads) sh.bin_count[i] = 0, sh.bin_mass[i] = 0;
  __syncthreads();
  sample_row<kCluster, kResident>(p, g, sh, reinterpret_cast<float*>(dynamic_smem), row);
  g.sync();  // no block leaves while another may still read its shared memory
}

// ---- host: layout and launch ------------------------------------------------------------

struct Plan {
  int cluster = 1;
  bool resident = false;
  uint32_t slice = 0;  // elements per block
  size_t smem = 0;     // dynamic shared memory per block
};

using KernelFn = void (*)(Params);
KernelFn kernel_for(const Plan& plan) {
  if (plan.cluster > 1) return sample_kernel<true, true>;
  return plan.resident ? sample_kernel<false, true> : sample_kernel<false, false>;
}

size_t round_up(size_t a, size_t b) { return (a + b - 1) / b * b; }

struct DeviceLimits {
  int major = 0;
  size_t smem_optin = 0, smem_per_sm = 0;
};

cudaError_t device_limits(DeviceLimits& d, int& device) {
  cudaError_t st = cudaGetDevice(&device);
  int major = 0, optin = 0, per_sm = 0;
  if (st == cudaSuccess) st = cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device);
  if (st == cudaSuccess) st = cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device);
  if (st == cudaSuccess) st = cudaDeviceGetAttribute(&per_sm, cudaDevAttrMaxSharedMemoryPerMultiprocessor, device);
  d = DeviceLimits{major, static_cast<size_t>(optin), static_cast<size_t>(per_sm)};
  return st;
}

// Dynamic shared memory per block such that `blocks` blocks fit on one SM.
size_t dynamic_budget(const DeviceLimits& d, int blocks) {
  const size_t fixed = sizeof(Shared) + 1024;  // + the runtime's reserve per block
  const size_t share = d.smem_per_sm / blocks;
  const size_t fit = share > fixed ? share - fixed : 0;
  const size_t cap = d.smem_optin > sizeof(Shared) ? d.smem_optin - sizeof(Shared) : 0;
  return fit < cap ? fit : cap;
}

// A launch of `blocks` blocks in clusters of plan.cluster; `attr` must outlive the config.
cudaLaunchConfig_t launch_config(const Plan& plan, size_t blocks, cudaStream_t stream, cudaLaunchAttribute& attr) {
  cudaLaunchConfig_t cfg{};
  cfg.gridDim = dim3(static_cast<unsigned>(blocks));
  cfg.blockDim = dim3(kThreads);
  cfg.dynamicSmemBytes = plan.smem;
  cfg.stream = stream;
  if (plan.cluster > 1) {
    attr.id = cudaLaunchAttributeClusterDimension;
    attr.val.clusterDim.x = static_cast<unsigned>(plan.cluster);
    attr.val.clusterDim.y = 1;
    attr.val.clusterDim.z = 1;
    cfg.attrs = &attr;
    cfg.numAttrs = 1;
  }
  return cfg;
}

// Lets the plan's kernel use up to `budget` bytes of dynamic shared memory (the largest any plan
// asks on this device), and checks a cluster of that shape can be resident.
cudaError_t prepare(const Plan& plan, size_t budget, bool& fits) {
  fits = true;
  if (!plan.resident) return cudaSuccess;
  const KernelFn kernel = kernel_for(plan);
  cudaError_t st = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(budget));
  if (st != cudaSuccess || plan.cluster == 1) return st;
  cudaLaunchAttribute attr{};
  const cudaLaunchConfig_t cfg = launch_config(plan, static_cast<size_t>(plan.cluster), nullptr, attr);
  int clusters = 0;
  st = cudaOccupancyMaxActiveClusters(&clusters, kernel, &cfg);
  if (st != cudaSuccess) {
    (void)cudaGetLastError();  // not resident: fall back, and leave no sticky error behind
    fits = false;
    return cudaSuccess;
  }
  fits = clusters > 0;
  return cudaSuccess;
}

cudaError_t make_plan(size_t vocab, SampleLayout layout, Plan& plan) {
  DeviceLimits d;
  int device = 0;
  cudaError_t st = device_limits(d, device);
  if (st != cudaSuccess) return st;
  const size_t one = dynamic_budget(d, 1), two = dynamic_budget(d, 2);
  auto slice_for = [&](int c) { return round_up((vocab + c - 1) / c, kQuad); };
  plan = Plan{1, false, static_cast<uint32_t>(slice_for(1)), 0};
  if (layout == SampleLayout::kStreamed) return cudaSuccess;
  bool fits = false;
  if (layout == SampleLayout::kSingleResident) {
    const Plan single{1, true, static_cast<uint32_t>(slice_for(1)), slice_for(1) * sizeof(float)};
    if (single.smem > one) return cudaErrorInvalidValue;
    st = prepare(single, one, fits);
    if (st == cudaSuccess) plan = single;
    return st;
  }
  // The smallest cluster whose slices fit two blocks per SM (one block computes while the other
  // loads), else one block per SM; else stream from global memory.
  const int max_cluster = d.major >= 9 ? kMaxCluster : 1;
  for (const size_t budget : {two, one}) {
    for (int c = 1; c <= max_cluster; ++c) {
      const size_t bytes = slice_for(c) * sizeof(float);
      if (bytes > budget) continue;
      const Plan candidate{c, true, static_cast<uint32_t>(slice_for(c)), bytes};
      st = prepare(candidate, one, fits);
      if (st != cudaSuccess) return st;
      if (fits) {
        plan = candidate;
        return cudaSuccess;
      }
      break;
    }
  }
  return cudaSuccess;
}

// kAuto plans, made once per (device, vocabulary): later calls (and graph captures) only launch.
cudaError_t cached_plan(size_t vocab, Plan& plan) {
  static std::mutex mutex;
  static std::map<std::pair<int, size_t>, Plan> plans;
  int device = 0;
  cudaError_t st = cudaGetDevice(&device);
  if (st != cudaSuccess) return st;
  std::lock_guard<std::mutex> lock(mutex);
  const auto key = std::make_pair(device, vocab);
  const auto it = plans.find(key);
  if (it != plans.end()) {
    plan = it->second;
    return cudaSuccess;
  }
  st = make_plan(vocab, SampleLayout::kAuto, plan);
  if (st == cudaSuccess) plans.emplace(key, plan);
  return st;
}

}  // namespace

size_t sample_scratch_bytes(size_t, size_t) { return 0; }  // blocks share through (distributed) shared memory

cudaError_t sample_rows_layout(const SampleArgs& a, void*, cudaStream_t stream, SampleLayout layout) {
  if (a.rows == 0) return cudaSuccess;
  const bool greedy = a.temperature <= 0;
  if (a.vocab == 0 || a.vocab > 0x7fffffffu || a.ld < a.vocab || !a.logits || !a.token || !a.logprob ||
      std::isnan(a.temperature) || std::isinf(a.temperature))
    return cudaErrorInvalidValue;
  const float tf = static_cast<float>(a.temperature);
  if (!greedy && (!a.prompt_id || !a.sample || !a.position || !(tf > 0.0f) || std::isinf(tf)))
    return cudaErrorInvalidValue;
  Plan plan;
  cudaError_t st = layout == SampleLayout::kAuto ? cached_plan(a.vocab, plan) : make_plan(a.vocab, layout, plan);
  if (st != cudaSuccess) return st;
  if (a.rows > 0x7fffffffu / static_cast<size_t>(plan.cluster)) return cudaErrorInvalidValue;

  Params p{};
  p.logits = a.logits;
  p.ld = a.ld;
  p.vocab = static_cast<uint32_t>(a.vocab);
  p.slice = plan.slice;
  p.cluster = plan.cluster;
  p.greedy = greedy;
  p.top_k = !greedy && a.top_k > 0 && a.top_k < a.vocab ? static_cast<uint32_t>(a.top_k) : 0;
  p.use_top_p = !greedy && a.top_p < 1.0;
  p.filtered = p.top_k > 0 || p.use_top_p;
  p.tf = greedy ? 1.0f : tf;
  p.divide = p.tf != 1.0f;
  p.inv_t = greedy ? 1.0 : 1.0 / a.temperature;
  const double bins = greedy ? 0.0 : kBinsPerNat / a.temperature;
  p.bin_scale = static_cast<float>(bins < 3.0e38 ? bins : 3.0e38);
  p.wbits = weight_bits(a.vocab);
  p.cutoff = weight_cutoff(p.wbits);
  p.top_p = a.top_p;
  p.seed = a.seed;
  p.prompt_id = a.prompt_id;
  p.sample = a.sample;
  p.position = a.position;
  p.token = a.token;
  p.logprob = a.logprob;
  p.bad_row = a.bad_row;

  cudaLaunchAttribute attr{};
  const cudaLaunchConfig_t cfg = launch_config(plan, a.rows * plan.cluster, stream, attr);
  st = cudaLaunchKernelEx(&cfg, kernel_for(plan), p);
  if (st != cudaSuccess) return st;
  return cudaGetLastError();
}

cudaError_t sample_rows(const SampleArgs& a, void* scratch, cudaStream_t stream) {
  return sample_rows_layout(a, scratch, stream, SampleLayout::kAuto);
}

}  // namespace dapo::cuda::model
