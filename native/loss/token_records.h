// Per-token results kept by the loss kernels for the ordered reduction that follows their
// parallel sweeps: the loss value, the approximate-KL term and which clips were active.
#pragma once
#include <cstddef>
#include <cstdint>

#include "loss/dapo_loss.h"

namespace dapo {

struct TokenRecord {
  float loss = 0;
  float neg_log_ratio = 0;
  uint8_t flags = 0;  // bit 0 low clip, bit 1 high clip, bit 2 dual clip
};

TokenRecord record_of(const TokenLoss& t);

// loss = sum of weights[i] * loss over counted tokens, stats as means over counted tokens;
// sequential in double, so the result does not depend on the thread count.
LossStats reduce_records(const uint8_t* mask, const float* weights, const TokenRecord* records, size_t n);

}  // namespace dapo
