// The fused per-row sweep over logits: log-sum-exp, the token's log-prob, the token's loss term
// (DAPO with the optional KL penalty, or NLL), entropy, and the gradient row, written by the same
// kernel. Shared by the loss from logits and the LM-head loss (which runs it over a chunk of
// rows of GEMM-made logits).
//
// Several designs of the sweep exist side by side (RowLossVariant); a plan table picks one by
// vocabulary size, element type and whether the gradient overwrites the logits, and
// benchmarks/kernels/row-loss.cu (the kernel lab) times every variant on the same inputs.
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
  // Rows of `grad_ld` elements; may alias logits (same dtype and ld). Null: log-probs (and
  // entropy) only, no gradient is written.
  void* grad = nullptr;
  int grad_dtype = DAPO_CUDA_F32;
  size_t grad_ld = 0;
  TokenArrays tokens;
  ClipConfig clip{};
  bool entropy = false;
  // The sweep sees z = logits / temperature (a float division, as the CPU engine's
  // divide_by_temperature), and writes d loss / d logits (the gradient in z, divided by it).
  float temperature = 1.0f;
  int term = kTermDapo;  // LossTerm
  float kl_coef = 0.0f;  // kTermDapo with tokens.ref_logprobs: + kl_coef * kl_penalty (loss/token_loss.h)
};

// The designs of the sweep. Every variant computes the same thing; they differ in how the row
// gets from memory to the arithmetic.
enum RowLossVariant : int {
  kRowAuto = -1,         // the plan table's choice
  kRowStreaming = 0,     // one block per row, reads the row twice; any vocabulary, any GPU
  kRowResidentWide = 1,  // the row in registers across a cluster, up to 16 vectors a thread (the 2026-11-27 kernel)
  kRowResidentLean = 2,  // the row in registers, at most 6 vectors a thread (<= 64 registers), 2 blocks per SM
  kRowL2TwoPass = 3,     // persistent blocks, rows in flight sized to L2 so that the second read hits it
  kRowBulkCluster = 4,   // sm_90: the row staged in shared memory across a cluster by bulk async copies (TMA)
  kRowVariants = 5,
};

const char* row_loss_variant_name(int variant);

// How a sweep will run. `resident`: the logits are read from memory once.
struct RowLossPlan {
  bool resident = false;
  int cluster = 1, vectors_per_thread = 0, threads = 0;
  int variant = kRowStreaming;
  unsigned blocks = 0;     // grid size in blocks
  size_t smem_bytes = 0;   // dynamic shared memory per block
};

// The plan table: the first rule whose vocabulary bound, dtype and in-place setting match, and
// whose variant can run the sweep on this device, is taken; the streaming kernel otherwise.
struct RowLossRule {
  size_t vocab_max;  // rule applies when vocab <= vocab_max
  int dtype;         // DAPO_CUDA_F32 / DAPO_CUDA_BF16 of the logits, 0: any
  int in_place;      // 1: grad aliases logits, 0: it does not, -1: either
  int variant;
};
const RowLossRule* row_loss_rules(size_t* count);

// The plan table's choice for p on the current device.
RowLossPlan plan_row_loss(const RowLossParams& p);
// The configuration of `variant` for p; false when it cannot run p on the current device, with
// the reason in *why (a static string).
bool plan_row_loss_variant(const RowLossParams& p, int variant, RowLossPlan* plan, const char** why = nullptr);

cudaError_t launch_row_loss(const RowLossParams& p, cudaStream_t stream = 0);
cudaError_t launch_row_loss_plan(const RowLossParams& p, const RowLossPlan& plan, cudaStream_t stream = 0);

}  // namespace dapo::cuda
