// dapo_cuda_dapo_loss_hidden: the DAPO loss from hidden states and the LM-head weight, with
// gradients for both, never holding the [N x V] logits. Chunks run over tokens, so each
// chunk's rows are whole and the log-sum-exp is exact within the chunk; per chunk of R rows:
//   L  [R x V] f32   = X_c W^T                      (cuBLASLt, bf16 in, f32 out)
//   G  [R x V] bf16  = scale_i (onehot - softmax(L)) (row_loss.cu, the fused row sweep)
//   dX [R x H] f32   = G W                           (cuBLASLt)
//   dW [V x H] f32  += G^T X_c                       (cuBLASLt, beta 1 after the first chunk)
// That is 6 N H V flops with no recomputation; the extra memory is one chunk, R V 6 bytes.
#include <mutex>

#include "cuda/api.h"
#include "cuda/buffers.cuh"
#include "cuda/check.cuh"
#include "cuda/cublaslt.h"
#include "cuda/loss_prep.cuh"
#include "cuda/row_loss.cuh"

namespace dapo::cuda {
namespace {

constexpr size_t kWorkspaceBytes = 32u << 20;
constexpr size_t kDefaultChunkBytes = 768u << 20;
// cublasLtMatmulPreferenceAttributes_t: CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_{A,B,C,D}_BYTES.
constexpr int kPrefMinAlignmentA = 5, kPrefMinAlignmentB = 6, kPrefMinAlignmentC = 7, kPrefMinAlignmentD = 8;

void* g_workspace = nullptr;
std::mutex g_workspace_mutex;

cudaError_t workspace(void** out) {
  std::lock_guard<std::mutex> lock(g_workspace_mutex);
  if (!g_workspace) {
    cudaError_t s = cudaMalloc(&g_workspace, kWorkspaceBytes);
    if (s != cudaSuccess) return s;
  }
  *out = g_workspace;
  return cudaSuccess;
}

uint32_t alignment_of(const void* p) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  uint32_t align = 256;
  while (align > 1 && (a % align) != 0) align /= 2;
  return align;
}

// Frees cuBLASLt descriptors on every path.
struct GemmDescs {
  const CublasLt* lt;
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
  cublasLtMatmulPreference_t pref = nullptr;
  ~GemmDescs() {
    if (pref) lt->preference_destroy(pref);
    if (d) lt->matrix_layout_destroy(d);
    if (b) lt->matrix_layout_destroy(b);
    if (a) lt->matrix_layout_destroy(a);
    if (op) lt->matmul_desc_destroy(op);
  }
};

int cublas_fail(const CublasLt* lt, cublasStatus_t status, const char* what, char* message, size_t message_size) {
  const char* text = lt->status_string ? lt->status_string(status) : nullptr;
  std::snprintf(message, message_size, "cuBLASLt %s failed: status %d%s%s%s", what, status, text ? " (" : "",
                text ? text : "", text ? ")" : "");
  return DAPO_CUDA_ERR_CUBLAS;
}

// Column-major D[m x n] (f32, ld ldd) = op(A) op(B) + beta D, A and B bf16 as stored (before op).
int gemm(const CublasLt* lt, int trans_a, int trans_b, uint64_t m, uint64_t n, uint64_t k, const void* a, int64_t lda,
         const void* b, int64_t ldb, float beta, float* d, int64_t ldd, void* work, char* message, size_t message_size) {
  GemmDescs g{lt};
  cublasStatus_t s;
#define DAPO_LT(call, what)                                                     \
  if ((s = (call)) != 0) return cublas_fail(lt, s, what, message, message_size)
  DAPO_LT(lt->matmul_desc_create(&g.op, kCublasComputeType32F, kCudaR32F), "MatmulDescCreate");
  DAPO_LT(lt->matmul_desc_set_attribute(g.op, kMatmulDescTransA, &trans_a, sizeof trans_a), "MatmulDescSetAttribute");
  DAPO_LT(lt->matmul_desc_set_attribute(g.op, kMatmulDescTransB, &trans_b, sizeof trans_b), "MatmulDescSetAttribute");
  DAPO_LT(lt->matrix_layout_create(&g.a, kCudaR16BF, trans_a == kCublasOpN ? m : k, trans_a == kCublasOpN ? k : m, lda),
          "MatrixLayoutCreate");
  DAPO_LT(lt->matrix_layout_create(&g.b, kCudaR16BF, trans_b == kCublasOpN ? k : n, trans_b == kCublasOpN ? n : k, ldb),
          "MatrixLayoutCreate");
  DAPO_LT(lt->matrix_layout_create(&g.d, kCudaR32F, m, n, ldd), "MatrixLayoutCreate");
  DAPO_LT(lt->preference_create(&g.pref), "MatmulPreferenceCreate");
  const uint64_t work_bytes = kWorkspaceBytes;
  DAPO_LT(lt->preference_set_attribute(g.pref, kMatmulPrefMaxWorkspaceBytes, &work_bytes, sizeof work_bytes),
          "MatmulPreferenceSetAttribute");
  const uint32_t align_a = alignment_of(a), align_b = alignment_of(b), align_d = alignment_of(d);
  DAPO_LT(lt->preference_set_attribute(g.pref, kPrefMinAlignmentA, &align_a, sizeof align_a), "MatmulPreferenceSetAttribute");
  DAPO_LT(lt->preference_set_attribute(g.pref, kPrefMinAlignmentB, &align_b, sizeof align_b), "MatmulPreferenceSetAttribute");
  DAPO_LT(lt->preference_set_attribute(g.pref, kPrefMinAlignmentC, &align_d, sizeof align_d), "MatmulPreferenceSetAttribute");
  DAPO_LT(lt->preference_set_attribute(g.pref, kPrefMinAlignmentD, &align_d, sizeof align_d), "MatmulPreferenceSetAttribute");
  cublasLtMatmulHeuristicResult_t result{};
  int returned = 0;
  DAPO_LT(lt->algo_get_heuristic(lt->handle, g.op, g.a, g.b, g.d, g.d, g.pref, 1, &result, &returned),
          "MatmulAlgoGetHeuristic");
  if (returned == 0) {
    std::snprintf(message, message_size, "cuBLASLt has no algorithm for a bf16 x bf16 -> f32 GEMM of %llu x %llu x %llu",
                  static_cast<unsigned long long>(m), static_cast<unsigned long long>(n), static_cast<unsigned long long>(k));
    return DAPO_CUDA_ERR_CUBLAS;
  }
  const float alpha = 1.0f;
  DAPO_LT(lt->matmul(lt->handle, g.op, &alpha, a, g.a, b, g.b, &beta, d, g.d, d, g.d, &result.algo, work,
                     kWorkspaceBytes, nullptr),
          "Matmul");
#undef DAPO_LT
  return 0;
}

int run(const dapo_cuda_hidden_args& args, dapo_cuda_loss_stats* stats, char* message, size_t message_size) {
  const dapo_cuda_loss_common& c = args.common;
  const size_t n = c.n, h = args.hidden, v = args.vocab;
  if (h == 0 || v == 0) return fail(DAPO_CUDA_ERR_ARGS, message, message_size, "hidden size and vocab must be positive");
  const CublasLt* lt = nullptr;
  if (int rc = cublaslt_get(&lt, message, message_size)) return rc;
  void* work = nullptr;
  DAPO_CUDA_TRY(workspace(&work), message, message_size);

  keep_pool_memory();
  Scratch scratch;
  StagedCommon common;
  DAPO_CUDA_TRY(stage_common(scratch, c, v, &common), message, message_size);
  const void* x = nullptr;
  const void* w = nullptr;
  DAPO_CUDA_TRY(stage_in(scratch, args.hidden_states, n * h * 2, &x), message, message_size);
  DAPO_CUDA_TRY(stage_in(scratch, args.weight, v * h * 2, &w), message, message_size);
  StagedOut grad_x, grad_w;
  DAPO_CUDA_TRY(stage_out(scratch, args.grad_hidden, n * h * 4, &grad_x), message, message_size);
  DAPO_CUDA_TRY(stage_out(scratch, args.grad_weight, v * h * 4, &grad_w), message, message_size);
  const size_t staged_bytes = scratch.peak();

  size_t rows = args.chunk_rows;
  if (rows == 0) {
    const size_t budget = args.max_chunk_bytes ? args.max_chunk_bytes : kDefaultChunkBytes;
    rows = budget / (v * 6);
    if (rows >= 64) rows = rows / 64 * 64;  // GEMM-friendly
    if (rows == 0) rows = 1;
  }
  if (rows > n) rows = n > 0 ? n : 1;
  float* logits = nullptr;
  uint16_t* g = nullptr;
  DAPO_CUDA_TRY(scratch.alloc_n(&logits, rows * v), message, message_size);
  DAPO_CUDA_TRY(scratch.alloc_n(&g, rows * v), message, message_size);

  EventTimer timer;
  DAPO_CUDA_TRY(timer.start(), message, message_size);
  TokenArrays arrays;
  DeviceStatus* status = nullptr;
  DAPO_CUDA_TRY(prepare_loss(scratch, common.prep, &arrays, &status), message, message_size);
  arrays.logprobs_out = static_cast<float*>(common.logprobs.device);
  arrays.entropy_out = c.entropy ? static_cast<float*>(common.entropy.device) : nullptr;
  if (n == 0) DAPO_CUDA_TRY(cudaMemsetAsync(grad_w.device, 0, v * h * 4, 0), message, message_size);

  const uint16_t* xs = static_cast<const uint16_t*>(x);
  float* dx = static_cast<float*>(grad_x.device);
  float* dw = static_cast<float*>(grad_w.device);
  for (size_t r0 = 0; r0 < n; r0 += rows) {
    const size_t r = n - r0 < rows ? n - r0 : rows;
    const uint16_t* xc = xs + r0 * h;
    if (int rc = gemm(lt, kCublasOpT, kCublasOpN, v, r, h, w, h, xc, h, 0.0f, logits, v, work, message, message_size))
      return rc;
    RowLossParams p;
    p.logits = logits;
    p.dtype = DAPO_CUDA_F32;
    p.vocab = p.ld = v;
    p.rows = r;
    p.row0 = r0;
    p.grad = g;
    p.grad_dtype = DAPO_CUDA_BF16;
    p.grad_ld = v;
    p.tokens = arrays;
    p.clip = clip_of(c);
    p.entropy = c.entropy != 0;
    DAPO_CUDA_TRY(launch_row_loss(p), message, message_size);
    if (int rc = gemm(lt, kCublasOpN, kCublasOpN, h, r, v, w, h, g, v, 0.0f, dx + r0 * h, h, work, message, message_size))
      return rc;
    if (int rc = gemm(lt, kCublasOpN, kCublasOpT, h, v, r, xc, h, g, v, r0 == 0 ? 0.0f : 1.0f, dw, h, work, message,
                      message_size))
      return rc;
  }
  DAPO_CUDA_TRY(reduce_loss(n, arrays, status), message, message_size);
  DAPO_CUDA_TRY(timer.stop(), message, message_size);
  DAPO_CUDA_TRY(copy_back(grad_x), message, message_size);
  DAPO_CUDA_TRY(copy_back(grad_w), message, message_size);
  DAPO_CUDA_TRY(copy_back(common.logprobs), message, message_size);
  if (c.entropy) DAPO_CUDA_TRY(copy_back(common.entropy), message, message_size);
  const int rc = finish_loss(status, common.prep, stats, message, message_size);
  if (rc != 0) return rc;
  DAPO_CUDA_TRY(cudaGetLastError(), message, message_size);
  stats->kernel_ms = timer.elapsed();
  // Scratch beyond the staged inputs and outputs, plus the GEMM workspace.
  stats->peak_extra_bytes = scratch.peak() - staged_bytes + kWorkspaceBytes;
  return 0;
}

}  // namespace
}  // namespace dapo::cuda

extern "C" int dapo_cuda_dapo_loss_hidden(const dapo_cuda_hidden_args* args, dapo_cuda_loss_stats* stats, char* message,
                                          size_t message_size) {
  *stats = dapo_cuda_loss_stats{};
  return dapo::cuda::run(*args, stats, message, message_size);
}
