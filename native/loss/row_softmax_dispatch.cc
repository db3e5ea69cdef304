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
};

const RowKernels& kernels() {
#if defined(__x86_64__) || defined(_M_X64)
  static const RowKernels chosen = cpu_has_avx2_fma()
      ? RowKernels{avx2::row_stats_f32, avx2::row_stats_bf16, avx2::row_logp_grad_f32, avx2::row_logp_grad_bf16}
      : RowKernels{generic::row_stats_f32, generic::row_stats_bf16, generic::row_logp_grad_f32,
                   generic::row_logp_grad_bf16};
#else
  static const RowKernels chosen{generic::row_stats_f32, generic::row_stats_bf16, generic::row_logp_grad_f32,
                                 generic::row_logp_grad_bf16};
#endif
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

}  // namespace dapo
