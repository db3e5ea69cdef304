// Per-token results kept by the loss kernels for the ordered reduction that follows their
// parallel sweeps: the loss value, the approximate-KL term and which clips were active.
#pragma once
#include <cstddef>
#include <cstdint>

#include "loss/dapo_loss.h"

namespace dapo {

struct TokenRecord {
  float loss = 0;          // policy loss plus kl_coef times the KL penalty
  float neg_log_ratio = 0;
  float kl_ref = 0;        // the KL penalty to the reference (before kl_coef)
  uint8_t flags = 0;       // bit 0 low clip, bit 1 high clip, bit 2 dual clip
};

TokenRecord record_of(const TokenLoss& t);

// One token's full loss: the clipped policy loss and, with a reference, kl_coef times the KL
// penalty; the record for the reduction and d loss / d logp.
struct TokenTerms {
  TokenRecord record;
  float dloss_dlogp;
};
TokenTerms token_terms(float logp, float old_logp, float advantage, const float* ref_logp, const LossOptions& options);

// A token's share of the results: the gradient scale of its row (0 for a token outside the loss,
// whose terms may be anything, an infinity times a zero weight included) and whether everything
// it adds is finite. Finite inputs can still overflow float32 (an advantage of 3e38 times a
// ratio above 1); the kernels then throw ERR_DAPO_NONFINITE.
struct Contribution {
  float scale;
  bool finite;
};
Contribution contribution(const TokenTerms& t, float weight, float logp);

// loss = sum of weights[i] * loss over counted tokens, stats as means over counted tokens;
// sequential in double, so the result does not depend on the thread count.
LossStats reduce_records(const uint8_t* mask, const float* weights, const TokenRecord* records, size_t n);

}  // namespace dapo
