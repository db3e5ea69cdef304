#include "model/gemm.h"

#include "common/cpu_features.h"

namespace dapo {

void sgemm(const GemmArgs& args) {
  if (cpu_has_avx2_fma()) return avx2::sgemm(args);
  generic::sgemm(args);
}

void sgemm_packed(const GemmArgs& args, const PackedB& b) {
  if (cpu_has_avx2_fma()) return avx2::sgemm_packed(args, b);
  generic::sgemm_packed(args, b);
}

void pack_b(const GemmArgs& args, PackedB& out) {
  if (cpu_has_avx2_fma()) return avx2::pack_b(args, out);
  generic::pack_b(args, out);
}

void pack_nt(size_t n, size_t k, const float* w, PackedB& out) {
  GemmArgs g;
  g.n = n; g.k = k;
  g.b = w; g.b_row = 1; g.b_col = k;
  pack_b(g, out);
}

void gemm_nt_packed(size_t m, const float* x, const PackedB& w, float* c, bool accumulate) {
  GemmArgs g;
  g.m = m; g.n = w.n; g.k = w.k;
  g.a = x; g.a_row = w.k; g.a_col = 1;
  g.c = c; g.ldc = w.n; g.accumulate = accumulate;
  sgemm_packed(g, w);
}

void sgemm_naive(const GemmArgs& g) {
  for (size_t i = 0; i < g.m; ++i)
    for (size_t j = 0; j < g.n; ++j) {
      double s = g.accumulate ? g.c[i * g.ldc + j] : 0.0;
      for (size_t p = 0; p < g.k; ++p)
        s += static_cast<double>(g.a[i * g.a_row + p * g.a_col]) * g.b[p * g.b_row + j * g.b_col];
      g.c[i * g.ldc + j] = static_cast<float>(s);
    }
}

void gemm_nt(size_t m, size_t n, size_t k, const float* x, const float* w, float* c, bool accumulate) {
  GemmArgs g;
  g.m = m; g.n = n; g.k = k;
  g.a = x; g.a_row = k; g.a_col = 1;
  g.b = w; g.b_row = 1; g.b_col = k;
  g.c = c; g.ldc = n; g.accumulate = accumulate;
  sgemm(g);
}

void gemm_nn(size_t m, size_t n, size_t k, const float* x, const float* w, float* c, bool accumulate) {
  GemmArgs g;
  g.m = m; g.n = n; g.k = k;
  g.a = x; g.a_row = k; g.a_col = 1;
  g.b = w; g.b_row = n; g.b_col = 1;
  g.c = c; g.ldc = n; g.accumulate = accumulate;
  sgemm(g);
}

void gemm_tn(size_t m, size_t n, size_t k, const float* x, const float* y, float* c, bool accumulate) {
  GemmArgs g;
  g.m = m; g.n = n; g.k = k;
  g.a = x; g.a_row = 1; g.a_col = m;
  g.b = y; g.b_row = n; g.b_col = 1;
  g.c = c; g.ldc = n; g.accumulate = accumulate;
  sgemm(g);
}

}  // namespace dapo
