// Picks the AVX2/FMA or the generic attention kernels once, from the CPU's features.
#include "common/cpu_features.h"
#include "model/layers.h"

namespace dapo {

void attention_forward(const AttentionRows& a) {
  if (cpu_has_avx2_fma()) return avx2::attention_forward(a);
  generic::attention_forward(a);
}

void attention_backward(const AttentionBackward& a) {
  if (cpu_has_avx2_fma()) return avx2::attention_backward(a);
  generic::attention_backward(a);
}

}  // namespace dapo
