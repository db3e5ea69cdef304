// The handful of cuBLASLt types and entry points the LM-head loss and the engine's GEMMs
// (model/gemm.cu) use, declared here so the
// module builds without cuBLAS headers; the library is opened with dlopen at first use
// (cublaslt_loader.cc). Values are those of cublasLt.h / cublas_api.h / library_types.h (CUDA
// 12 and 13). No CUDA header is needed here: data types are their enum values, a stream is
// its handle (a pointer).
#pragma once
#include <cstddef>
#include <cstdint>

namespace dapo::cuda {

typedef int cublasStatus_t;  // CUBLAS_STATUS_SUCCESS = 0
typedef struct cublasLtContext* cublasLtHandle_t;
typedef struct cublasLtMatmulDescOpaque_t* cublasLtMatmulDesc_t;
typedef struct cublasLtMatrixLayoutOpaque_t* cublasLtMatrixLayout_t;
typedef struct cublasLtMatmulPreferenceOpaque_t* cublasLtMatmulPreference_t;

struct cublasLtMatmulAlgo_t {
  uint64_t data[8];
};
struct cublasLtMatmulHeuristicResult_t {
  cublasLtMatmulAlgo_t algo;
  size_t workspaceSize;
  cublasStatus_t state;
  float wavesCount;
  int reserved[4];
};
static_assert(sizeof(cublasLtMatmulHeuristicResult_t) == 96, "cublasLtMatmulHeuristicResult_t layout");

enum : int { kCudaR32F = 0, kCudaR16BF = 14 };           // cudaDataType_t
enum : int { kCublasComputeType32F = 68 };              // CUBLAS_COMPUTE_32F
enum : int { kCublasOpN = 0, kCublasOpT = 1 };          // cublasOperation_t
enum : int { kMatmulDescTransA = 3, kMatmulDescTransB = 4 };  // cublasLtMatmulDescAttributes_t
enum : int { kMatmulPrefMaxWorkspaceBytes = 1 };        // cublasLtMatmulPreferenceAttributes_t
// CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_{A,B,C,D}_BYTES: the alignment every later call's pointers
// keep, so the heuristic may pick kernels that need it.
enum : int {
  kMatmulPrefMinAlignmentA = 5,
  kMatmulPrefMinAlignmentB = 6,
  kMatmulPrefMinAlignmentC = 7,
  kMatmulPrefMinAlignmentD = 8
};

struct CublasLt {
  cublasStatus_t (*create)(cublasLtHandle_t*);
  cublasStatus_t (*destroy)(cublasLtHandle_t);
  cublasStatus_t (*matmul_desc_create)(cublasLtMatmulDesc_t*, int compute_type, int scale_type);
  cublasStatus_t (*matmul_desc_destroy)(cublasLtMatmulDesc_t);
  cublasStatus_t (*matmul_desc_set_attribute)(cublasLtMatmulDesc_t, int attr, const void* buf, size_t size);
  cublasStatus_t (*matrix_layout_create)(cublasLtMatrixLayout_t*, int type, uint64_t rows, uint64_t cols,
                                         int64_t ld);
  cublasStatus_t (*matrix_layout_destroy)(cublasLtMatrixLayout_t);
  cublasStatus_t (*preference_create)(cublasLtMatmulPreference_t*);
  cublasStatus_t (*preference_destroy)(cublasLtMatmulPreference_t);
  cublasStatus_t (*preference_set_attribute)(cublasLtMatmulPreference_t, int attr, const void* buf, size_t size);
  cublasStatus_t (*algo_get_heuristic)(cublasLtHandle_t, cublasLtMatmulDesc_t, cublasLtMatrixLayout_t a,
                                       cublasLtMatrixLayout_t b, cublasLtMatrixLayout_t c, cublasLtMatrixLayout_t d,
                                       cublasLtMatmulPreference_t, int requested, cublasLtMatmulHeuristicResult_t* results,
                                       int* returned);
  cublasStatus_t (*matmul)(cublasLtHandle_t, cublasLtMatmulDesc_t, const void* alpha, const void* a,
                           cublasLtMatrixLayout_t a_desc, const void* b, cublasLtMatrixLayout_t b_desc, const void* beta,
                           const void* c, cublasLtMatrixLayout_t c_desc, void* d, cublasLtMatrixLayout_t d_desc,
                           const cublasLtMatmulAlgo_t* algo, void* workspace, size_t workspace_size, void* stream);
  const char* (*status_string)(cublasStatus_t);  // may be null on old versions
  cublasLtHandle_t handle;
  char library[256];
};

// Opens cuBLASLt once (DAPO_CUBLASLT_PATH, then libcublasLt.so.13 / .12 / libcublasLt.so on the
// loader path and under /usr/local/cuda) and creates a handle. Returns 0, or
// DAPO_CUDA_ERR_CUBLAS with the reason in message.
int cublaslt_get(const CublasLt** out, char* message, size_t message_size);

}  // namespace dapo::cuda
