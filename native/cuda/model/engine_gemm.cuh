// The engine's GEMMs in nn.Linear terms (a weight W is stored [out, in], row-major), as calls of
// the cuBLASLt Gemm of ops.cuh: the forward product and the two products of its backward.
#pragma once
#include "cuda/model/ops.cuh"

namespace dapo::cuda::model {

// D[m, n] = op(A) op(B) + beta D (in place when beta != 0), A and B of `type`.
inline GemmCall gemm_call(bool trans_a, bool trans_b, size_t m, size_t n, size_t k, const void* a, size_t lda,
                          const void* b, size_t ldb, void* d, size_t ldd, int type, int d_type, float beta) {
  // GemmCall's fields in order: trans_a, trans_b, m, n, k, a, lda, b, ldb, c, ldc, d, ldd, types, alpha, beta.
  return GemmCall{trans_a, trans_b, m, n, k, a, lda, b, ldb,
                  beta != 0.0f ? d : nullptr, ldd, d, ldd, type, d_type, 1.0f, beta};
}

// y[rows, out] = x[rows, in] W^T + beta y. y in y_type (T, or fp32 logits).
inline GemmCall linear_call(int type, const void* x, size_t rows, size_t in, const void* w, size_t out, void* y,
                            int y_type, float beta = 0.0f) {
  return gemm_call(false, true, rows, out, in, x, in, w, in, y, out, type, y_type, beta);
}

// dx[rows, in] = dy[rows, out] W + beta dx.
inline GemmCall linear_dx_call(int type, const void* dy, size_t rows, size_t out, const void* w, size_t in, void* dx,
                               float beta) {
  return gemm_call(false, false, rows, in, out, dy, out, w, in, dx, in, type, type, beta);
}

// dW[out, in] += dy[rows, out]^T x[rows, in], into the fp32 gradient accumulators.
inline GemmCall linear_dw_call(int type, const void* dy, size_t rows, size_t out, const void* x, size_t in, float* dw) {
  return gemm_call(true, false, out, in, rows, dy, out, x, in, dw, in, type, DAPO_CUDA_F32, 1.0f);
}

// Runs the call; a failure is thrown naming `what` (engine_error.cuh).
void run_gemm(Gemm& gemm, const GemmCall& call, cudaStream_t stream, const char* what);

}  // namespace dapo::cuda::model
