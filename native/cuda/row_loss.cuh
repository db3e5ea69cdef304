// The fused per-row sweep over logits: log-sum-exp, the token's log-prob, the DAPO token loss,
// entropy, and the gradient row, written by the same kernel. Shared by the loss from logits
// and the LM-head variant (which runs it over a chunk of rows of GEMM-made logits).
#pragma once
#include <cuda_runtime.h>

#include <cstddef>

#include "cuda/loss_prep.cuh"

namespace dapo::cuda {

struct RowLossParams {
  const void* logits = nullptr;  // rows of `ld` elements, `vocab` of them used
  int dtype = DAPO_CUDA_F32;
  size_t vocab = 0, ld = 0;
  size_t rows = 0;
  size_t row0 = 0;               // row r of this sweep is token row0 + r of `tokens`
  void* grad = nullptr;          // rows of `grad_ld` elements; may alias logits (same dtype and ld)
  int grad_dtype = DAPO_CUDA_F32;
  size_t grad_ld = 0;
  TokenArrays tokens;
  ClipConfig clip{};
  bool entropy = false;
};

// How a sweep will run, for reports: "resident" kernels keep the row in registers across a
// cluster of `cluster` blocks and read the logits once; "streaming" reads each row twice.
struct RowLossPlan {
  bool resident = false;
  int cluster = 1, vectors_per_thread = 0, threads = 0;
};

RowLossPlan plan_row_loss(const RowLossParams& p);
cudaError_t launch_row_loss(const RowLossParams& p);

}  // namespace dapo::cuda
