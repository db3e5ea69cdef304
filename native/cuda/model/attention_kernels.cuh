// Private to attention*.cu and checks/attention_check.cu: the two kernel families behind the
// launchers of ops.cuh ("attention.cu" section), and how one of them is chosen.
//
//  - SIMT (attention_simt.cu): fp32 arithmetic on CUDA cores, any even head_dim up to 256, float
//    and bf16. The reference path and the fp32 test mode.
//  - MMA (attention_mma.cu): bf16 tensor cores (mma.sync m16n8k16, fp32 accumulation), head_dim
//    64 and 128, 16-byte aligned rows. What users run.
//
// Both follow flash-attention 2: forward tiles of queries against tiles of keys with an online
// softmax in log2 units; backward recomputes P = exp(S - lse) and runs in two kernels, one per
// key tile for dK / dV (summing the GQA group's query heads in a fixed order) and one per query
// tile for dQ, so no float atomics are used and results are deterministic.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "cuda/model/ops.cuh"

namespace dapo::cuda::model::attn {

enum class Kernel : int { kAuto = 0, kSimt = 1, kMma = 2 };

// The variant the launchers use when none is asked for: DAPO_ATTENTION_KERNEL=simt forces the
// SIMT kernels; unset, "auto" or "mma" picks MMA wherever it applies (read once per process).
Kernel kernel_from_env();

// What the kernels of both families read: the launchers' arguments flattened, strides in
// elements, the softmax scale also in log2 units (scale * log2(e)).
template <typename T>
struct Params {
  const T* q = nullptr;
  const T* k = nullptr;
  const T* v = nullptr;
  T* out = nullptr;          // forward output; the backward reads it (through out_read)
  const T* out_read = nullptr;
  float* lse_out = nullptr;  // forward
  const float* lse = nullptr;
  const T* dout = nullptr;
  T* dq = nullptr;
  T* dk = nullptr;
  T* dv = nullptr;
  const float* delta = nullptr;  // [rows, heads]: rowsum(dout * out), from the backward's first pass
  const int32_t* cu_seqlens = nullptr;
  int64_t ld_q = 0, ld_kv = 0, ld_out = 0;
  int heads = 0, kv_heads = 0, group = 0, head_dim = 0;
  int n_seqs = 0, max_seqlen = 0;
  float scale = 0, scale_log2 = 0;
};

// Largest grid.y the kernels use (query or key tiles of the longest sequence).
constexpr int kMaxGridY = 65535;

// SIMT family (attention_simt.cu), float and bf16.
template <typename T>
cudaError_t simt_forward(const Params<T>& p, cudaStream_t stream);
template <typename T>
cudaError_t simt_backward(const Params<T>& p, cudaStream_t stream);  // dK, dV then dQ; delta given

// MMA family (attention_mma.cu): bf16, head_dim 64 or 128, rows 16-byte aligned, sm_80 or newer
// (mma_applies below says when); cudaErrorInvalidValue for another head_dim.
cudaError_t mma_forward(const Params<bf16>& p, cudaStream_t stream);
cudaError_t mma_backward(const Params<bf16>& p, cudaStream_t stream);

// The launchers of ops.cuh with the variant chosen by the caller (kAuto: kernel_from_env(), then
// MMA where it fits). An explicit kMma that does not fit returns cudaErrorInvalidValue.
template <typename T>
cudaError_t forward_with(const AttentionArgs<T>& a, Kernel kernel, cudaStream_t stream);
template <typename T>
cudaError_t backward_with(const AttentionBackwardArgs<T>& a, void* scratch, Kernel kernel, cudaStream_t stream);
// Whether the MMA family can run these arguments (type, head_dim, alignment, device).
template <typename T>
bool mma_applies(const AttentionArgs<T>& a);

}  // namespace dapo::cuda::model::attn
