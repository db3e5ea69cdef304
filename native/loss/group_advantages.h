// Group-normalised advantages (GRPO / DAPO): one advantage per response, from the rewards of
// the G responses sampled for the same prompt.
#pragma once
#include <cstddef>

namespace dapo {

// rewards[n], n a multiple of group_size. With use_std: (R - mean) / (std + eps), std the
// unbiased standard deviation; without: R - mean (Dr. GRPO). A group of one has mean 0, std 1.
void group_advantages(const float* rewards, size_t n, size_t group_size, bool use_std, double eps, float* out);

}  // namespace dapo
