// The row-wise pieces of a decoder layer, forward and backward, threaded over rows (or over
// columns where a gradient sums over rows, so sums run in a fixed order).
#pragma once
#include <cstddef>
#include <cstdint>

namespace dapo {

// y[t] = x[t] * rstd[t] * w, rstd = 1 / sqrt(mean(x[t]^2) + eps). rows x dim.
void rmsnorm_forward(const float* x, const float* w, size_t rows, size_t dim, double eps, float* y, float* rstd);
// dx (+)= d/dx; dw += sum_t dy * x * rstd (over all rows; dw may be null).
void rmsnorm_backward(const float* dy, const float* x, const float* w, const float* rstd, size_t rows, size_t dim,
                      float* dx, bool accumulate_dx, float* dw);

// a = silu(g) * u
void swiglu_forward(const float* g, const float* u, size_t n, float* a);
// dg, du from da
void swiglu_backward(const float* da, const float* g, const float* u, size_t n, float* dg, float* du);

// out[j] += sum over rows of x[t * cols + j]
void add_column_sums(const float* x, size_t rows, size_t cols, float* out);
// x[t * cols + j] += b[j]
void add_bias(float* x, size_t rows, size_t cols, const float* b);

// Causal attention for rows that each see `count[r]` keys starting at k_base[r] / v_base[r]
// (rows of kv_dim floats, key heads side by side). q, out: [rows, heads * head_dim];
// lse: [rows, heads] (log-sum-exp of the scaled scores, kept for the backward pass).
struct AttentionRows {
  size_t rows = 0, heads = 0, kv_heads = 0, head_dim = 0;
  const float* q = nullptr;
  const float* const* k_base = nullptr;
  const float* const* v_base = nullptr;
  const uint32_t* count = nullptr;
  size_t kv_stride = 0;  // floats between consecutive keys
  float* out = nullptr;
  float* lse = nullptr;  // may be null
};
void attention_forward(const AttentionRows& a);

// Backward over packed sequences (keys = the sequence's own rows). q, k, v, out, dout, lse as in
// the forward with rows of one packed batch; dq, dk, dv are written (not accumulated).
struct AttentionBackward {
  size_t n_seqs = 0, heads = 0, kv_heads = 0, head_dim = 0;
  const int32_t* offsets = nullptr;
  const float *q = nullptr, *k = nullptr, *v = nullptr, *out = nullptr, *dout = nullptr, *lse = nullptr;
  float *dq = nullptr, *dk = nullptr, *dv = nullptr;
};
void attention_backward(const AttentionBackward& a);

namespace generic {
void attention_forward(const AttentionRows& a);
void attention_backward(const AttentionBackward& a);
}  // namespace generic
namespace avx2 {
void attention_forward(const AttentionRows& a);
void attention_backward(const AttentionBackward& a);
}  // namespace avx2

}  // namespace dapo
