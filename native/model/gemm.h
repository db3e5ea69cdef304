// Single-precision matrix multiply for the engine: C[M,N] (+)= A[M,K] * B[K,N], where A and B
// are read through row/column strides, so the transposed forms (X W^T, dY W, dY^T X) need no
// copies. Blocked and packed, AVX2/FMA when the CPU has it, threaded with parallel_for.
//
// Determinism: every C element is summed over k in the same order (K blocks in sequence, k
// ascending inside a block) whatever M, N or the thread count, so a row of C is bitwise the
// same whether it is computed alone or inside a larger batch. Generation relies on that.
#pragma once
#include <cstddef>
#include <vector>

namespace dapo {

struct GemmArgs {
  size_t m = 0, n = 0, k = 0;
  const float* a = nullptr;
  size_t a_row = 0, a_col = 1;  // A(i, p) = a[i * a_row + p * a_col]
  const float* b = nullptr;
  size_t b_row = 0, b_col = 1;  // B(p, j) = b[p * b_row + j * b_col]
  float* c = nullptr;
  size_t ldc = 0;               // C(i, j) = c[i * ldc + j]
  bool accumulate = false;      // C += A B rather than C = A B
};

void sgemm(const GemmArgs& args);

// B packed once, for a matrix used by many calls (the weights, during generation). The panels
// are the ones sgemm packs on the fly, so results are bitwise the same.
struct PackedB {
  std::vector<float> data;
  size_t n = 0, k = 0;
};
void pack_b(const GemmArgs& args, PackedB& out);      // reads args.b, b_row, b_col, n, k
void sgemm_packed(const GemmArgs& args, const PackedB& b);  // args.b is not read
// PackedB of W [N, K] for x W^T, and C[M,N] (+)= X[M,K] W^T with it.
void pack_nt(size_t n, size_t k, const float* w, PackedB& out);
void gemm_nt_packed(size_t m, const float* x, const PackedB& w, float* c, bool accumulate);
// The same product as three plain loops (k innermost, in double), for tests and the benchmark.
void sgemm_naive(const GemmArgs& args);

// Shorthands for row-major matrices.
// C[M,N] (+)= X[M,K] W[N,K]^T  (a linear layer, W in PyTorch [out, in] layout)
void gemm_nt(size_t m, size_t n, size_t k, const float* x, const float* w, float* c, bool accumulate);
// C[M,N] (+)= X[M,K] W[K,N]
void gemm_nn(size_t m, size_t n, size_t k, const float* x, const float* w, float* c, bool accumulate);
// C[M,N] (+)= X[K,M]^T Y[K,N]  (weight gradients: dW = dY^T X)
void gemm_tn(size_t m, size_t n, size_t k, const float* x, const float* y, float* c, bool accumulate);

namespace generic {
void sgemm(const GemmArgs& args);
void sgemm_packed(const GemmArgs& args, const PackedB& b);
void pack_b(const GemmArgs& args, PackedB& out);
}  // namespace generic
namespace avx2 {
void sgemm(const GemmArgs& args);
void sgemm_packed(const GemmArgs& args, const PackedB& b);
void pack_b(const GemmArgs& args, PackedB& out);
}  // namespace avx2

}  // namespace dapo
