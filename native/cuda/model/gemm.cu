// The engine's GEMMs through cuBLASLt (opened with dlopen, cuda/cublaslt.h): the twin of
// dapo::sgemm (native/model/gemm.cc) with row-major semantics (ops.cuh).
//
// Row-major D[m, n] = alpha op(A) op(B) + beta C is, read as column-major, D^T[n, m] =
// alpha op(B)^T op(A)^T + beta C^T, and a row-major matrix with leading dimension ld is its
// transpose in column-major with the same ld. So each call is one cuBLASLt matmul of
// m' = n, n' = m, k' = k with B as the first operand (transposed iff trans_b) and A as the
// second (transposed iff trans_a): no copies, no transposes in memory.
//
// Precision: fp32 A / B use CUBLAS_COMPUTE_32F (never _FAST_TF32), so the fp32 mode is true
// fp32 and matches the CPU to rounding; bf16 A / B accumulate in fp32 as well.
//
// Graph safety: run() allocates in one place only, the workspace, on the first call of a Gemm;
// each new shape (and pointer-alignment class) builds its plan once (cuBLASLt descriptors, host
// memory only, and the heuristic's choice of algorithm) and caches it. A later call with a known
// shape only looks the plan up and enqueues cublasLtMatmul on the stream: no allocation, no
// synchronisation, so it can be captured into a CUDA graph. The engine runs each shape once
// before capturing; the first call of a Gemm, or of a shape, made while the stream is capturing
// fails with a message rather than allocate or plan inside the capture.
#include <array>
#include <cstdio>
#include <map>

#include "cuda/api.h"
#include "cuda/cublaslt.h"
#include "cuda/model/ops.cuh"

namespace dapo::cuda::model {
namespace {

constexpr size_t kWorkspaceBytes = 32u << 20;  // cuBLAS's recommendation for Hopper

// The largest power of two up to 16 that divides the address: what the heuristic may assume (no
// cuBLASLt kernel asks for more than 16 bytes, and a coarser class would multiply the plans).
uint32_t alignment_of(const void* p) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  uint32_t align = 16;
  while (align > 1 && (a % align) != 0) align /= 2;
  return align;
}

int cublas_fail(const CublasLt* lt, cublasStatus_t status, const char* what, char* message, size_t message_size) {
  const char* text = lt && lt->status_string ? lt->status_string(status) : nullptr;
  std::snprintf(message, message_size, "cuBLASLt %s failed: status %d%s%s%s", what, status, text ? " (" : "",
                text ? text : "", text ? ")" : "");
  return DAPO_CUDA_ERR_CUBLAS;
}

int args_fail(char* message, size_t message_size, const char* text) {
  std::snprintf(message, message_size, "gemm: %s", text);
  return DAPO_CUDA_ERR_ARGS;
}

int lt_type(int dapo_type) { return dapo_type == DAPO_CUDA_BF16 ? kCudaR16BF : kCudaR32F; }

bool capturing(cudaStream_t stream) {
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  return cudaStreamIsCapturing(stream, &status) == cudaSuccess && status != cudaStreamCaptureStatusNone;
}

}  // namespace

struct Gemm::Impl {
  // Everything that selects descriptors and algorithm.
  using Key = std::array<uint64_t, 16>;
  struct Plan {
    cublasLtMatmulDesc_t op = nullptr;
    cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr, d = nullptr;
    cublasLtMatmulAlgo_t algo{};
  };

  const CublasLt* lt = nullptr;
  void* workspace = nullptr;
  std::map<Key, Plan> plans;

  ~Impl() {
    for (auto& entry : plans) destroy(entry.second);
    if (workspace) cudaFree(workspace);
  }

  void destroy(Plan& p) const {
    if (!lt) return;
    if (p.d) lt->matrix_layout_destroy(p.d);
    if (p.c) lt->matrix_layout_destroy(p.c);
    if (p.b) lt->matrix_layout_destroy(p.b);
    if (p.a) lt->matrix_layout_destroy(p.a);
    if (p.op) lt->matmul_desc_destroy(p.op);
  }

  // The column-major problem of the row-major call (see the top of the file) and its best
  // algorithm. `first` is our B, `second` our A; C's layout is D's when C is absent.
  int build(const GemmCall& g, size_t ldc, Plan& p, char* message, size_t message_size) const {
    cublasStatus_t s;
#define DAPO_LT(call, what) \
  if ((s = (call)) != 0) return cublas_fail(lt, s, what, message, message_size)
    const int trans_first = g.trans_b ? kCublasOpT : kCublasOpN;
    const int trans_second = g.trans_a ? kCublasOpT : kCublasOpN;
    DAPO_LT(lt->matmul_desc_create(&p.op, kCublasComputeType32F, kCudaR32F), "MatmulDescCreate");
    DAPO_LT(lt->matmul_desc_set_attribute(p.op, kMatmulDescTransA, &trans_first, sizeof trans_first),
            "MatmulDescSetAttribute(TRANSA)");
    DAPO_LT(lt->matmul_desc_set_attribute(p.op, kMatmulDescTransB, &trans_second, sizeof trans_second),
            "MatmulDescSetAttribute(TRANSB)");
    const int ab = lt_type(g.ab_type), cd = lt_type(g.cd_type);
    // B stored row-major [k, n] (or [n, k] transposed) is column-major [n, k] (or [k, n]).
    DAPO_LT(lt->matrix_layout_create(&p.a, ab, g.trans_b ? g.k : g.n, g.trans_b ? g.n : g.k,
                                     static_cast<int64_t>(g.ldb)),
            "MatrixLayoutCreate(B)");
    DAPO_LT(lt->matrix_layout_create(&p.b, ab, g.trans_a ? g.m : g.k, g.trans_a ? g.k : g.m,
                                     static_cast<int64_t>(g.lda)),
            "MatrixLayoutCreate(A)");
    DAPO_LT(lt->matrix_layout_create(&p.c, cd, g.n, g.m, static_cast<int64_t>(ldc)), "MatrixLayoutCreate(C)");
    DAPO_LT(lt->matrix_layout_create(&p.d, cd, g.n, g.m, static_cast<int64_t>(g.ldd)), "MatrixLayoutCreate(D)");

    cublasLtMatmulPreference_t pref = nullptr;
    DAPO_LT(lt->preference_create(&pref), "MatmulPreferenceCreate");
    const uint64_t work_bytes = kWorkspaceBytes;
    const uint32_t align[4] = {alignment_of(g.b), alignment_of(g.a), alignment_of(g.c ? g.c : g.d),
                               alignment_of(g.d)};
    const int attrs[4] = {kMatmulPrefMinAlignmentA, kMatmulPrefMinAlignmentB, kMatmulPrefMinAlignmentC,
                          kMatmulPrefMinAlignmentD};
    s = lt->preference_set_attribute(pref, kMatmulPrefMaxWorkspaceBytes, &work_bytes, sizeof work_bytes);
    for (int i = 0; i < 4 && s == 0; ++i) s = lt->preference_set_attribute(pref, attrs[i], &align[i], sizeof align[i]);
    cublasLtMatmulHeuristicResult_t result{};
    int returned = 0;
    if (s == 0) s = lt->algo_get_heuristic(lt->handle, p.op, p.a, p.b, p.c, p.d, pref, 1, &result, &returned);
    lt->preference_destroy(pref);
    if (s != 0) return cublas_fail(lt, s, "MatmulAlgoGetHeuristic", message, message_size);
#undef DAPO_LT
    if (returned == 0) {
      std::snprintf(message, message_size,
                    "cuBLASLt has no algorithm for a %s x %s -> %s GEMM of m %zu, n %zu, k %zu (trans_a %d, trans_b %d)",
                    g.ab_type == DAPO_CUDA_BF16 ? "bf16" : "f32", g.ab_type == DAPO_CUDA_BF16 ? "bf16" : "f32",
                    g.cd_type == DAPO_CUDA_BF16 ? "bf16" : "f32", g.m, g.n, g.k, g.trans_a ? 1 : 0, g.trans_b ? 1 : 0);
      return DAPO_CUDA_ERR_CUBLAS;
    }
    p.algo = result.algo;
    return 0;
  }
};

Gemm::Gemm() : impl_(new Impl) {}
Gemm::~Gemm() { delete impl_; }

namespace {

// The sizes and types run() accepts, each failure naming its field.
int check_call(const GemmCall& g, char* message, size_t message_size) {
  if ((g.ab_type != DAPO_CUDA_F32 && g.ab_type != DAPO_CUDA_BF16) ||
      (g.cd_type != DAPO_CUDA_F32 && g.cd_type != DAPO_CUDA_BF16))
    return args_fail(message, message_size, "ab_type and cd_type must be DAPO_CUDA_F32 or DAPO_CUDA_BF16");
  if (g.ab_type == DAPO_CUDA_F32 && g.cd_type != DAPO_CUDA_F32)
    return args_fail(message, message_size, "f32 inputs need f32 C and D (cuBLASLt has no f32 x f32 -> bf16)");
  if (g.k == 0) return args_fail(message, message_size, "k must be positive");
  if (!g.a || !g.b || !g.d) return args_fail(message, message_size, "a, b and d must be device pointers");
  if (!g.c && g.beta != 0.0f) return args_fail(message, message_size, "c is null but beta is not 0");
  if (g.lda < (g.trans_a ? g.m : g.k)) return args_fail(message, message_size, "lda is below A's stored row length");
  if (g.ldb < (g.trans_b ? g.k : g.n)) return args_fail(message, message_size, "ldb is below B's stored row length");
  if (g.ldd < g.n || (g.c && g.ldc < g.n)) return args_fail(message, message_size, "ldc / ldd is below n");
  if (g.c == g.d && g.ldc != g.ldd) return args_fail(message, message_size, "c is d but ldc differs from ldd");
  const uint64_t limit = 1ull << 62;
  if (g.m > limit || g.n > limit || g.k > limit || g.lda > limit || g.ldb > limit || g.ldc > limit || g.ldd > limit)
    return args_fail(message, message_size, "a size is too large");
  return 0;
}

}  // namespace

int Gemm::run(const GemmCall& g, cudaStream_t stream, char* message, size_t message_size) {
  if (g.m == 0 || g.n == 0) return 0;
  if (int rc = check_call(g, message, message_size)) return rc;
  Impl& im = *impl_;
  if (!im.lt)
    if (int rc = cublaslt_get(&im.lt, message, message_size)) return rc;
  if (!im.workspace) {
    if (capturing(stream))
      return args_fail(message, message_size,
                       "first call made while the stream is being captured; run each GEMM once before capturing");
    const cudaError_t s = cudaMalloc(&im.workspace, kWorkspaceBytes);
    if (s != cudaSuccess) {
      std::snprintf(message, message_size, "gemm: allocating the %zu-byte cuBLASLt workspace: %s", kWorkspaceBytes,
                    cudaGetErrorString(s));
      return static_cast<int>(s);
    }
  }
  const size_t ldc = g.c ? g.ldc : g.ldd;
  const Impl::Key key = {g.trans_a ? 1u : 0u, g.trans_b ? 1u : 0u, g.m, g.n, g.k, g.lda, g.ldb, ldc, g.ldd,
                         static_cast<uint64_t>(g.ab_type), static_cast<uint64_t>(g.cd_type),
                         alignment_of(g.a), alignment_of(g.b), alignment_of(g.c ? g.c : g.d), alignment_of(g.d), 0};
  auto it = im.plans.find(key);
  if (it == im.plans.end()) {
    if (capturing(stream))
      return args_fail(message, message_size,
                       "a new GEMM shape while the stream is being captured; run each shape once before capturing");
    Impl::Plan plan;
    if (int rc = im.build(g, ldc, plan, message, message_size)) {
      im.destroy(plan);
      return rc;
    }
    it = im.plans.emplace(key, plan).first;
  }
  const Impl::Plan& p = it->second;
  const float alpha = g.alpha, beta = g.beta;
  const cublasStatus_t s = im.lt->matmul(im.lt->handle, p.op, &alpha, g.b, p.a, g.a, p.b, &beta, g.c ? g.c : g.d, p.c,
                                         g.d, p.d, &p.algo, im.workspace, kWorkspaceBytes, stream);
  if (s != 0) return cublas_fail(im.lt, s, "Matmul", message, message_size);
  return 0;
}

}  // namespace dapo::cuda::model
