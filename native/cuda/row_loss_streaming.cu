// The row sweeps that read each row twice (statistics, then gradient):
//  - streaming (variant 0): one block per row, any vocabulary, any GPU. The fallback.
//  - L2 two-pass (variant 3): persistent blocks, each walking rows in turn. The first pass
//    runs from the end of the row to the start and the second from the start, so the second
//    read finds the most recently read data first; the number of blocks (rows in flight) is
//    sized so that the rows being read fit in a share of L2, as Liger's grpo_loss and llm.c's
//    fused classifier rely on for their second read.
#include "cuda/row_loss_common.cuh"
#include "cuda/row_loss_variants.cuh"

namespace dapo::cuda::rowloss {
namespace {

constexpr int kStreamingThreads = 512;
constexpr int kL2Threads = 512;
constexpr int kL2Batch = 4;  // vectors loaded before any is used, so loads overlap

// The gradient pass of a row whose statistics are known (shared by both kernels).
template <typename T>
__device__ __forceinline__ void write_row_grad(const RowLossParams& p, const RowRef<T>& ref, Temper tz,
                                               const RowTotals& row) {
  constexpr int W = Elem<T>::kPerVec;
  const size_t v = p.vocab;
  for (size_t e0 = static_cast<size_t>(threadIdx.x) * W; e0 < v; e0 += static_cast<size_t>(blockDim.x) * W) {
    const uint4 raw = row.scale != 0.0f ? load_vec<T>(ref.row, e0, v, ref.aligned, true) : make_uint4(0, 0, 0, 0);
    grad_vec<T>(p, ref.grad_row, ref.out_aligned, raw, e0, tz, row.lse, row.scale, ref.token);
  }
}

template <typename T>
__global__ void __launch_bounds__(kStreamingThreads) row_loss_streaming(RowLossParams p) {
  constexpr int W = Elem<T>::kPerVec;
  const RowRef<T> ref = row_ref<T>(p, blockIdx.x);
  const Temper tz = temper_of(p);
  const size_t v = p.vocab;
  const bool token_ok = token_in_range(ref.token, v);
  float token_z = 0.0f;
  if (threadIdx.x == 0 && token_ok) token_z = token_value<T>(p, ref.row, ref.token);

  Lse mine = lse_identity();
  for (size_t e0 = static_cast<size_t>(threadIdx.x) * W; e0 < v; e0 += static_cast<size_t>(blockDim.x) * W)
    mine = lse_merge(mine, vec_lse<T>(load_vec<T>(ref.row, e0, v, ref.aligned, false), e0, v, tz, p.entropy));
  const RowTotals row = row_totals(p, ref.token_index, mine, token_z, token_ok, 1, 0);
  if (ref.grad_row) write_row_grad<T>(p, ref, tz, row);
}

template <typename T>
__global__ void __launch_bounds__(kL2Threads, 2) row_loss_l2_two_pass(RowLossParams p) {
  constexpr int W = Elem<T>::kPerVec;
  const Temper tz = temper_of(p);
  const size_t v = p.vocab;
  const long long vectors = static_cast<long long>((v + W - 1) / W);
  for (size_t r = blockIdx.x; r < p.rows; r += gridDim.x) {
    const RowRef<T> ref = row_ref<T>(p, r);
    const bool token_ok = token_in_range(ref.token, v);
    float token_z = 0.0f;
    if (threadIdx.x == 0 && token_ok) token_z = token_value<T>(p, ref.row, ref.token);

    // First pass, backwards, kL2Batch vectors in flight per thread.
    Lse mine = lse_identity();
    for (long long k0 = vectors - 1 - threadIdx.x; k0 >= 0; k0 -= static_cast<long long>(blockDim.x) * kL2Batch) {
      uint4 raw[kL2Batch];
#pragma unroll
      for (int b = 0; b < kL2Batch; ++b) {
        const long long k = k0 - static_cast<long long>(b) * blockDim.x;
        raw[b] = k >= 0 ? load_vec<T>(ref.row, static_cast<size_t>(k) * W, v, ref.aligned, false) : make_uint4(0, 0, 0, 0);
      }
#pragma unroll
      for (int b = 0; b < kL2Batch; ++b) {
        const long long k = k0 - static_cast<long long>(b) * blockDim.x;
        if (k >= 0) mine = lse_merge(mine, vec_lse<T>(raw[b], static_cast<size_t>(k) * W, v, tz, p.entropy));
      }
    }
    const RowTotals row = row_totals(p, ref.token_index, mine, token_z, token_ok, 1, 0);
    // Second pass, forwards: the start of the row was read last.
    if (ref.grad_row) write_row_grad<T>(p, ref, tz, row);
  }
}

template <typename T>
cudaError_t launch_streaming_typed(const RowLossParams& p, const RowLossPlan& plan, cudaStream_t stream) {
  row_loss_streaming<T><<<plan.blocks, plan.threads, 0, stream>>>(p);
  return cudaGetLastError();
}

template <typename T>
cudaError_t launch_l2_typed(const RowLossParams& p, const RowLossPlan& plan, cudaStream_t stream) {
  row_loss_l2_two_pass<T><<<plan.blocks, plan.threads, 0, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace

bool plan_streaming(const RowLossParams& p, const DeviceFacts&, RowLossPlan* plan, const char**) {
  *plan = RowLossPlan{};
  plan->variant = kRowStreaming;
  plan->threads = kStreamingThreads;
  plan->blocks = static_cast<unsigned>(p.rows);
  return true;
}

bool plan_l2_two_pass(const RowLossParams& p, const DeviceFacts& d, RowLossPlan* plan, const char**) {
  *plan = RowLossPlan{};
  plan->variant = kRowL2TwoPass;
  plan->threads = kL2Threads;
  // Rows in flight: what fits in 60% of L2 (the rest holds the gradient lines being written
  // and everything else), at least one per multiprocessor, at most two blocks per one.
  const size_t row_bytes = p.vocab * (p.dtype == DAPO_CUDA_F32 ? 4 : 2);
  const size_t budget = d.l2_bytes ? d.l2_bytes * 6 / 10 : (24u << 20);
  size_t blocks = budget / (row_bytes ? row_bytes : 1);
  if (blocks < static_cast<size_t>(d.sms)) blocks = d.sms;
  if (blocks > static_cast<size_t>(2 * d.sms)) blocks = 2 * d.sms;
  if (blocks > p.rows) blocks = p.rows;
  plan->blocks = static_cast<unsigned>(blocks);
  return true;
}

cudaError_t launch_streaming(const RowLossParams& p, const RowLossPlan& plan, cudaStream_t stream) {
  return p.dtype == DAPO_CUDA_F32 ? launch_streaming_typed<float>(p, plan, stream)
                                  : launch_streaming_typed<uint16_t>(p, plan, stream);
}

cudaError_t launch_l2_two_pass(const RowLossParams& p, const RowLossPlan& plan, cudaStream_t stream) {
  return p.dtype == DAPO_CUDA_F32 ? launch_l2_typed<float>(p, plan, stream) : launch_l2_typed<uint16_t>(p, plan, stream);
}

}  // namespace dapo::cuda::rowloss
