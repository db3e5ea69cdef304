// The row staged in shared memory across a thread-block cluster by bulk asynchronous copies
// (variant 4, sm_90: cp.async.bulk, the TMA unit's one-dimensional copy). One thread of each
// block asks for the block's slice of the row in chunks, each chunk completing on its own
// mbarrier; the copies need no registers and no warps to stay in flight, so an SM holds several
// blocks' slices in flight at once. The block takes each chunk's maximum as it lands, then the
// sum (and entropy) from shared memory, the cluster agrees on the row's statistics through
// distributed shared memory, and the gradient is written from shared memory. The logits are
// read from memory once; in place is safe because every block's copies have landed before the
// cluster barrier after which gradients are written.
//
// Needs each row to start on a 16-byte boundary with a whole number of 16-byte vectors (true
// for the vocabularies of real models, e.g. 32768, 128256, 151936, 262144); the planner
// refuses the rest, which the other variants take.
#include "cuda/row_loss_common.cuh"
#include "cuda/row_loss_variants.cuh"

namespace dapo::cuda::rowloss {
namespace {

constexpr int kBulkThreads = 256;
constexpr int kMaxChunks = 32;
constexpr size_t kMinChunkBytes = 8 << 10;
constexpr size_t kTargetSliceBytes = 40 << 10;  // five blocks' slices per SM

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
__device__ __forceinline__ unsigned smem_addr(const void* p) {
  return static_cast<unsigned>(__cvta_generic_to_shared(p));
}

__device__ __forceinline__ void mbar_init(uint64_t* bar, unsigned count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(smem_addr(bar)), "r"(count) : "memory");
}

// Makes the initialised barriers visible to the async proxy (the copy engine).
__device__ __forceinline__ void fence_barrier_init() {
  asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
  asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
}

__device__ __forceinline__ void mbar_expect_tx(uint64_t* bar, unsigned bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(smem_addr(bar)), "r"(bytes) : "memory");
}

__device__ __forceinline__ void bulk_copy_g2s(void* dst, const void* src, unsigned bytes, uint64_t* bar) {
  asm volatile(
      "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];" ::"r"(smem_addr(dst)),
      "l"(src), "r"(bytes), "r"(smem_addr(bar))
      : "memory");
}

__device__ __forceinline__ void mbar_wait(uint64_t* bar, unsigned phase) {
  unsigned done = 0;
  do {
    asm volatile(
        "{\n"
        ".reg .pred p;\n"
        "mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n"
        "selp.u32 %0, 1, 0, p;\n"
        "}\n"
        : "=r"(done)
        : "r"(smem_addr(bar)), "r"(phase)
        : "memory");
  } while (!done);
}
#endif

// slice_bytes: bytes of the row per block (a multiple of 16); chunk_bytes: bytes per copy.
template <typename T>
__global__ void __launch_bounds__(kBulkThreads) row_loss_bulk(RowLossParams p, unsigned slice_bytes,
                                                              unsigned chunk_bytes) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  constexpr int W = Elem<T>::kPerVec;
  extern __shared__ __align__(128) unsigned char s_slice[];
  __shared__ __align__(8) uint64_t s_bar[kMaxChunks];
  const unsigned cluster = cluster_size(), rank = cluster_rank();
  const RowRef<T> ref = row_ref<T>(p, blockIdx.x / cluster);
  const Temper tz = temper_of(p);
  const size_t v = p.vocab;
  const size_t row_bytes = v * sizeof(T);
  const size_t begin = static_cast<size_t>(rank) * slice_bytes;
  const unsigned bytes = begin >= row_bytes ? 0u
                         : static_cast<unsigned>(row_bytes - begin < slice_bytes ? row_bytes - begin : slice_bytes);
  const unsigned chunks = (bytes + chunk_bytes - 1) / chunk_bytes;

  if (threadIdx.x == 0) {
    for (unsigned c = 0; c < chunks; ++c) mbar_init(&s_bar[c], 1);
    fence_barrier_init();
    const char* src = reinterpret_cast<const char*>(ref.row) + begin;
    for (unsigned c = 0; c < chunks; ++c) {
      const unsigned off = c * chunk_bytes, n = bytes - off < chunk_bytes ? bytes - off : chunk_bytes;
      mbar_expect_tx(&s_bar[c], n);
      bulk_copy_g2s(s_slice + off, src + off, n, &s_bar[c]);
    }
  }
  const bool token_ok = token_in_range(ref.token, v);
  // Read before the cluster barrier after which gradients overwrite the logits (in place).
  float token_z = 0.0f;
  if (threadIdx.x == 0 && token_ok) token_z = token_value<T>(p, ref.row, ref.token);
  __syncthreads();  // the barriers are initialised before anyone waits on them

  const uint4* vecs = reinterpret_cast<const uint4*>(s_slice);
  const size_t e_begin = begin / sizeof(T);
  const unsigned vecs_per_chunk = chunk_bytes / 16;
  int bad = 0;
  float m = -INFINITY;
  for (unsigned c = 0; c < chunks; ++c) {
    mbar_wait(&s_bar[c], 0);
    const unsigned first = c * vecs_per_chunk, last = min((c + 1) * vecs_per_chunk, bytes / 16);
    for (unsigned k = first + threadIdx.x; k < last; k += blockDim.x)
      m = vec_max<T>(vecs[k], e_begin + static_cast<size_t>(k) * W, v, tz, m, &bad);
  }
  Lse mine{m, 0.0f, 0.0f, bad};
  if (m != -INFINITY && !bad) {
    for (unsigned k = threadIdx.x; k < bytes / 16; k += blockDim.x)
      vec_sum<T>(vecs[k], e_begin + static_cast<size_t>(k) * W, v, tz, m, p.entropy, &mine.s, &mine.w);
  }
  const RowTotals row = row_totals(p, ref.token_index, mine, token_z, token_ok, cluster, rank);
  if (!ref.grad_row) return;
  for (unsigned k = threadIdx.x; k < bytes / 16; k += blockDim.x)
    grad_vec<T>(p, ref.grad_row, ref.out_aligned, vecs[k], e_begin + static_cast<size_t>(k) * W, tz, row.lse,
                row.scale, ref.token);
#else
  __trap();  // planned only on sm_90 and newer
#endif
}

const void* bulk_kernel_of(int dtype) {
  return dtype == DAPO_CUDA_F32 ? reinterpret_cast<const void*>(&row_loss_bulk<float>)
                                : reinterpret_cast<const void*>(&row_loss_bulk<uint16_t>);
}

size_t round_up(size_t x, size_t to) { return (x + to - 1) / to * to; }

}  // namespace

bool plan_bulk_cluster(const RowLossParams& p, const DeviceFacts& d, RowLossPlan* plan, const char** why) {
  if (d.major < 9) {
    if (why) *why = "bulk asynchronous copies need sm_90";
    return false;
  }
  const size_t es = p.dtype == DAPO_CUDA_F32 ? 4 : 2;
  const size_t row_bytes = p.vocab * es;
  if ((reinterpret_cast<uintptr_t>(p.logits) & 15) != 0 || (p.ld * es) % 16 != 0 || row_bytes % 16 != 0) {
    if (why) *why = "rows are not whole 16-byte vectors on 16-byte boundaries";
    return false;
  }
  const void* fn = bulk_kernel_of(p.dtype);
  // The smallest cluster whose slices are at most kTargetSliceBytes (several blocks' slices per
  // SM); else the largest cluster that launches with its slices in shared memory.
  auto fits = [&](int cluster, size_t s) {
    return s <= d.smem_optin && (cluster == 1 || cluster_fits(fn, kBulkThreads, cluster, s));
  };
  auto slice_of = [&](int cluster) { return round_up((row_bytes + cluster - 1) / cluster, 16); };
  int chosen = 0;
  for (int cluster = 1; cluster <= max_cluster(d) && chosen == 0; cluster *= 2)
    if (slice_of(cluster) <= kTargetSliceBytes && fits(cluster, slice_of(cluster))) chosen = cluster;
  for (int cluster = max_cluster(d); cluster >= 1 && chosen == 0; cluster /= 2)
    if (fits(cluster, slice_of(cluster))) chosen = cluster;
  const size_t slice = chosen ? slice_of(chosen) : 0;
  if (chosen == 0) {
    if (why) *why = "a row slice does not fit in shared memory at the largest cluster";
    return false;
  }
  *plan = RowLossPlan{};
  plan->variant = kRowBulkCluster;
  plan->resident = true;
  plan->cluster = chosen;
  plan->threads = kBulkThreads;
  plan->blocks = static_cast<unsigned>(p.rows * chosen);
  plan->smem_bytes = slice;
  return true;
}

cudaError_t launch_bulk_cluster(const RowLossParams& p, const RowLossPlan& plan, cudaStream_t stream) {
  unsigned slice = static_cast<unsigned>(plan.smem_bytes);
  unsigned chunk = static_cast<unsigned>(round_up((slice + kMaxChunks - 1) / kMaxChunks, 16));
  if (chunk < kMinChunkBytes) chunk = kMinChunkBytes;
  RowLossParams copy = p;
  void* args[] = {&copy, &slice, &chunk};
  return launch_clustered(bulk_kernel_of(p.dtype), args, plan.blocks, plan.threads, plan.cluster, plan.smem_bytes,
                          stream);
}

}  // namespace dapo::cuda::rowloss
