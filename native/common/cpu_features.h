#pragma once

namespace dapo {
// True when the CPU and OS support AVX2 and FMA, so the *_avx2.cc kernels may run.
bool cpu_has_avx2_fma();
}  // namespace dapo
