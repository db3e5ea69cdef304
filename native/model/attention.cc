// Picks the AVX2/FMA or the generic attention kernels once, from the CPU's features.
#include "common/cpu_features.h"
#include "model/layers.h"

namespace dapo {

namespace {
bool use_avx2() {
#if defined(__x86_64__) || defined(_M_X64)
  static const bool yes = cpu_has_avx2_fma();
  return yes;
#else
  return false;
#endif
}
}  // namespace

void attention_forward(const AttentionRows& a) {
  if (use_avx2()) return avx2::attention_forward(a);
  generic::attention_forward(a);
}

void attention_backward(const AttentionBackward& a) {
  if (use_avx2()) return avx2::attention_backward(a);
  generic::attention_backward(a);
}

}  // namespace dapo
