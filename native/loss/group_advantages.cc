#include "loss/group_advantages.h"

#include <cmath>

#include "common/error.h"

namespace dapo {

void group_advantages(const float* rewards, size_t n, size_t group_size, bool use_std, double eps, float* out) {
  for (size_t i = 0; i < n; ++i)
    if (!std::isfinite(rewards[i])) throw_range("rewards[" + std::to_string(i) + "] is not finite");
  for (size_t g = 0; g < n; g += group_size) {
    const float* r = rewards + g;
    double mean = 0, std = 1;
    if (group_size > 1) {
      for (size_t i = 0; i < group_size; ++i) mean += r[i];
      mean /= static_cast<double>(group_size);
      double squares = 0;
      for (size_t i = 0; i < group_size; ++i) squares += (r[i] - mean) * (r[i] - mean);
      std = std::sqrt(squares / static_cast<double>(group_size - 1));
    }
    for (size_t i = 0; i < group_size; ++i)
      out[g + i] = static_cast<float>(use_std ? (r[i] - mean) / (std + eps) : r[i] - mean);
  }
}

}  // namespace dapo
