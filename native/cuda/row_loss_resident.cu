// The register-resident row sweeps: a row is split over a cluster of blocks (sm_90) or one
// block, each thread holding its slice in registers as 16-byte vectors. The row is read from
// memory once; after the cluster has agreed on max / sum / entropy through distributed shared
// memory, the gradient is written from registers.
//  - wide (variant 1): up to 16 vectors a thread, clusters up to 8: the kernel of 2026-11-27.
//    Nsight Compute showed why it is slow at V = 151936: 128 registers a thread (with spills),
//    one 320-thread block per SM, too few loads in flight.
//  - lean (variant 2): at most 6 vectors a thread under __launch_bounds__(512, 2) (<= 64
//    registers), clusters up to 16, so two blocks share an SM and twice the warps issue loads.
#include "cuda/row_loss_common.cuh"
#include "cuda/row_loss_variants.cuh"

namespace dapo::cuda::rowloss {
namespace {

constexpr int kMaxThreads = 512;

template <typename T, int VPT, int MIN_BLOCKS>
__global__ void __launch_bounds__(kMaxThreads, MIN_BLOCKS) row_loss_resident(RowLossParams p) {
  constexpr int W = Elem<T>::kPerVec;
  const unsigned cluster = cluster_size(), rank = cluster_rank();
  const RowRef<T> ref = row_ref<T>(p, blockIdx.x / cluster);
  const Temper tz = temper_of(p);
  const size_t v = p.vocab;
  const bool token_ok = token_in_range(ref.token, v);
  // Read before any block of the cluster may write the row (in place).
  float token_z = 0.0f;
  if (threadIdx.x == 0 && token_ok) token_z = token_value<T>(p, ref.row, ref.token);

  const size_t stride = static_cast<size_t>(cluster) * blockDim.x;
  const size_t g = static_cast<size_t>(rank) * blockDim.x + threadIdx.x;
  uint4 raw[VPT];
#pragma unroll
  for (int k = 0; k < VPT; ++k) raw[k] = load_vec<T>(ref.row, (k * stride + g) * W, v, ref.aligned, true);

  int bad = 0;
  float m = -INFINITY;
#pragma unroll
  for (int k = 0; k < VPT; ++k) m = vec_max<T>(raw[k], (k * stride + g) * W, v, tz, m, &bad);
  Lse mine{m, 0.0f, 0.0f, bad};
  if (m != -INFINITY && !bad) {
#pragma unroll
    for (int k = 0; k < VPT; ++k) vec_sum<T>(raw[k], (k * stride + g) * W, v, tz, m, p.entropy, &mine.s, &mine.w);
  }
  const RowTotals row = row_totals(p, ref.token_index, mine, token_z, token_ok, cluster, rank);
  if (!ref.grad_row) return;
#pragma unroll
  for (int k = 0; k < VPT; ++k) {
    const size_t e0 = (k * stride + g) * W;
    if (e0 < v) grad_vec<T>(p, ref.grad_row, ref.out_aligned, raw[k], e0, tz, row.lse, row.scale, ref.token);
  }
}

// The kernel for (dtype, vectors a thread, lean), as a pointer for launch_clustered.
template <typename T>
const void* resident_kernel(int vpt, bool lean) {
  if (lean) {
    switch (vpt) {
      case 2: return reinterpret_cast<const void*>(&row_loss_resident<T, 2, 2>);
      case 4: return reinterpret_cast<const void*>(&row_loss_resident<T, 4, 2>);
      default: return reinterpret_cast<const void*>(&row_loss_resident<T, 6, 2>);
    }
  }
  switch (vpt) {
    case 4: return reinterpret_cast<const void*>(&row_loss_resident<T, 4, 1>);
    case 8: return reinterpret_cast<const void*>(&row_loss_resident<T, 8, 1>);
    default: return reinterpret_cast<const void*>(&row_loss_resident<T, 16, 1>);
  }
}

const void* resident_kernel_of(int dtype, int vpt, bool lean) {
  return dtype == DAPO_CUDA_F32 ? resident_kernel<float>(vpt, lean) : resident_kernel<uint16_t>(vpt, lean);
}

}  // namespace

bool plan_resident(const RowLossParams& p, const DeviceFacts& d, bool lean, RowLossPlan* plan, const char** why) {
  static const int kWide[] = {4, 8, 16};
  static const int kLean[] = {2, 4, 6};
  const int* vpts = lean ? kLean : kWide;
  const int largest_cluster = lean ? max_cluster(d) : (max_cluster(d) < 8 ? max_cluster(d) : 8);
  const size_t w = p.dtype == DAPO_CUDA_F32 ? 4 : 8;
  const size_t vectors = (p.vocab + w - 1) / w;
  // Smallest cluster first (fewer cluster barriers), then the fewest vectors a thread.
  for (int cluster = 1; cluster <= largest_cluster; cluster *= 2) {
    for (int i = 0; i < 3; ++i) {
      const size_t per_block = (vectors + static_cast<size_t>(cluster) * vpts[i] - 1) / (static_cast<size_t>(cluster) * vpts[i]);
      size_t threads = (per_block + 31) / 32 * 32;
      if (threads < 32) threads = 32;
      if (threads > static_cast<size_t>(kMaxThreads)) continue;
      const void* fn = resident_kernel_of(p.dtype, vpts[i], lean);
      if (cluster > 1 && !cluster_fits(fn, static_cast<int>(threads), cluster, 0)) continue;
      *plan = RowLossPlan{};
      plan->variant = lean ? kRowResidentLean : kRowResidentWide;
      plan->resident = true;
      plan->cluster = cluster;
      plan->vectors_per_thread = vpts[i];
      plan->threads = static_cast<int>(threads);
      plan->blocks = static_cast<unsigned>(p.rows * cluster);
      return true;
    }
  }
  if (why) *why = "the row does not fit in the registers of the largest cluster";
  return false;
}

cudaError_t launch_resident(const RowLossParams& p, const RowLossPlan& plan, cudaStream_t stream) {
  const void* fn = resident_kernel_of(p.dtype, plan.vectors_per_thread, plan.variant == kRowResidentLean);
  RowLossParams copy = p;
  void* args[] = {&copy};
  return launch_clustered(fn, args, plan.blocks, plan.threads, plan.cluster, 0, stream);
}

}  // namespace dapo::cuda::rowloss
