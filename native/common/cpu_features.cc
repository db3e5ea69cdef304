#include "common/cpu_features.h"

#include <cstdlib>

namespace dapo {

bool cpu_has_avx2_fma() {
#if defined(__x86_64__) || defined(_M_X64)
  // Decided once per process. DAPO_NO_AVX2=1 forces the generic kernels (tests compare both).
  static const bool has = [] {
    const char* env = std::getenv("DAPO_NO_AVX2");
    if (env && env[0] == '1') return false;
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }();
  return has;
#else
  return false;
#endif
}

}  // namespace dapo
