// Per-row softmax sweeps over a logits row of V values (fp32, or bf16 bits as uint16).
// Two builds of the same source: generic, and AVX2/FMA chosen at run time.
#pragma once
#include <cstddef>
#include <cstdint>

namespace dapo {

struct RowStats {
  float max;       // row maximum
  float lse;       // log-sum-exp of the row
  float entropy;   // -sum p log p (only when asked)
  bool finite;     // false if any value is NaN or infinite
};

// One read of the row from memory: blocks of it are swept twice while they sit in L1
// (block max, then exp-sum against a running max that is rescaled when it grows).
RowStats row_stats_f32(const float* row, size_t v, bool want_entropy);
RowStats row_stats_bf16(const uint16_t* row, size_t v, bool want_entropy);

// grad[j] = scale * ((j == token) - exp(row[j] - lse)): the gradient of scale * logp[token].
// `stream` writes around the cache, for gradients too large to be read again while cached.
void row_logp_grad_f32(const float* row, size_t v, float lse, int32_t token, float scale, float* grad, bool stream);
void row_logp_grad_bf16(const uint16_t* row, size_t v, float lse, int32_t token, float scale, float* grad, bool stream);

// The one-exp path: row_stats_exps_* sweeps like row_stats (entropy included) and keeps
// exp(row[j] - shifts[b]) in exps[v] (shifts: one per 1024-value block, row_exps_blocks(v));
// row_grad_from_exps then writes the gradient from them without a second exp.
inline size_t row_exps_blocks(size_t v) { return (v + 1023) / 1024; }
RowStats row_stats_exps_f32(const float* row, size_t v, float* exps, float* shifts);
RowStats row_stats_exps_bf16(const uint16_t* row, size_t v, float* exps, float* shifts);
void row_grad_from_exps(const float* exps, const float* shifts, size_t v, float lse, int32_t token, float scale, float* grad, bool stream);

namespace generic {
RowStats row_stats_f32(const float* row, size_t v, bool want_entropy);
RowStats row_stats_exps_f32(const float* row, size_t v, float* exps, float* shifts);
RowStats row_stats_exps_bf16(const uint16_t* row, size_t v, float* exps, float* shifts);
void row_grad_from_exps(const float* exps, const float* shifts, size_t v, float lse, int32_t token, float scale, float* grad, bool stream);
RowStats row_stats_bf16(const uint16_t* row, size_t v, bool want_entropy);
void row_logp_grad_f32(const float* row, size_t v, float lse, int32_t token, float scale, float* grad, bool stream);
void row_logp_grad_bf16(const uint16_t* row, size_t v, float lse, int32_t token, float scale, float* grad, bool stream);
}  // namespace generic
namespace avx2 {
RowStats row_stats_f32(const float* row, size_t v, bool want_entropy);
RowStats row_stats_exps_f32(const float* row, size_t v, float* exps, float* shifts);
RowStats row_stats_exps_bf16(const uint16_t* row, size_t v, float* exps, float* shifts);
void row_grad_from_exps(const float* exps, const float* shifts, size_t v, float lse, int32_t token, float scale, float* grad, bool stream);
RowStats row_stats_bf16(const uint16_t* row, size_t v, bool want_entropy);
void row_logp_grad_f32(const float* row, size_t v, float lse, int32_t token, float scale, float* grad, bool stream);
void row_logp_grad_bf16(const uint16_t* row, size_t v, float lse, int32_t token, float scale, float* grad, bool stream);
}  // namespace avx2

}  // namespace dapo
