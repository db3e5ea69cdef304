#include "loss/aggregation.h"

#include <algorithm>

namespace dapo {

void aggregation_weights(const uint8_t* mask, const int32_t* seq_ids, size_t n,
                         const AggregationConfig& config, float* weights) {
  if (config.mode == Aggregation::TokenMean) {
    size_t counted = 0;
    for (size_t i = 0; i < n; ++i) counted += mask[i] ? 1 : 0;
    const double divisor = config.token_count >= 0 ? config.token_count : static_cast<double>(counted);
    const float w = divisor > 0 ? static_cast<float>(1.0 / divisor) : 0.0f;
    for (size_t i = 0; i < n; ++i) weights[i] = mask[i] ? w : 0.0f;
    return;
  }
  // Sequence ids are bounded by n (checked by the caller), so a dense table suffices.
  int32_t max_id = -1;
  for (size_t i = 0; i < n; ++i) max_id = std::max(max_id, seq_ids[i]);
  std::vector<double> seq_tokens(static_cast<size_t>(max_id + 1), 0.0);
  for (size_t i = 0; i < n; ++i)
    if (mask[i]) seq_tokens[static_cast<size_t>(seq_ids[i])] += 1.0;
  size_t sequences_with_tokens = 0;
  for (double t : seq_tokens) sequences_with_tokens += t > 0 ? 1 : 0;
  const double seqs = config.seq_count >= 0 ? config.seq_count : static_cast<double>(sequences_with_tokens);
  for (size_t i = 0; i < n; ++i) {
    if (!mask[i] || seqs <= 0) {
      weights[i] = 0.0f;
      continue;
    }
    const double per_seq = config.mode == Aggregation::SeqMeanTokenMean ? seq_tokens[static_cast<size_t>(seq_ids[i])] : 1.0;
    weights[i] = static_cast<float>(1.0 / (per_seq * seqs));
  }
}

}  // namespace dapo
