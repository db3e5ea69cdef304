// Picks the AVX2 or the generic row sweeps once, from the CPU's features.
#include "common/cpu_features.h"
#include "loss/row_softmax.h"

namespace dapo {
namespace {

struct RowKernels {
  decltype(&generic::row_stats_f32) stats_f32;
  decltype(&generic::row_stats_bf16) stats_bf16;
  decltype(&generic::row_logp_grad_f32) grad_f32;
  decltype(&generic::row_logp_grad_bf16) grad_bf16;
  decltype(&generic::row_stats_exps_f32) stats_exps_f32;
  decltype(&generic::row_stats_exps_bf16) stats_exps_bf16;
  decltype(&generic::row_grad_from_exps) grad_from_exps;
};

#define DAPO_ROW_KERNELS(ns)                                                                         \
  RowKernels {                                                                                       \
    ns::row_stats_f32, ns::row_stats_bf16, ns::row_logp_grad_f32, ns::row_logp_grad_bf16,           \
        ns::row_stats_exps_f32, ns::row_stats_exps_bf16, ns::row_grad_from_exps                      \
  }

const RowKernels& kernels() {
  static const RowKernels chosen = cpu_has_avx2_fma() ? DAPO_ROW_KERNELS(avx2) : DAPO_ROW_KERNELS(generic);
  return chosen;
}

}  // namespace

RowStats row_stats_f32(const float* row, size_t v, bool e) { return kernels().stats_f32(row, v, e); }
RowStats row_stats_bf16(const uint16_t* row, size_t v, bool e) { return kernels().stats_bf16(row, v, e); }
void row_logp_grad_f32(const float* row, size_t v, float lse, int32_t token, float scale, float* grad, bool stream) {
  kernels().grad_f32(row, v, lse, token, scale, grad, stream);
}
void row_logp_grad_bf16(const uint16_t* row, size_t v, float lse, int32_t token, float scale, float* grad, bool stream) {
  kernels().grad_bf16(row, v, lse, token, scale, grad, stream);
}

RowStats row_stats_exps_f32(const float* row, size_t v, float* exps, float* shifts) {
  return kernels().stats_exps_f32(row, v, exps, shifts);
}
RowStats row_stats_exps_bf16(const uint16_t* row, size_t v, float* exps, float* shifts) {
  return kernels().stats_exps_bf16(row, v, exps, shifts);
}
void row_grad_from_exps(const float* exps, const float* shifts, size_t v, float lse, int32_t token, float scale, float* grad,
                        bool stream) {
  kernels().grad_from_exps(exps, shifts, v, lse, token, scale, grad, stream);
}

}  // namespace dapo
