#include "loss/token_records.h"

namespace dapo {

TokenRecord record_of(const TokenLoss& t) {
  return TokenRecord{t.loss, t.neg_log_ratio,
                     static_cast<uint8_t>((t.clipped_low ? 1 : 0) | (t.clipped_high ? 2 : 0) | (t.dual_clipped ? 4 : 0))};
}

LossStats reduce_records(const uint8_t* mask, const float* weights, const TokenRecord* records, size_t n) {
  LossStats s;
  double low = 0, high = 0, dual = 0, kl = 0;
  for (size_t i = 0; i < n; ++i) {
    if (!mask[i]) continue;
    const TokenRecord& r = records[i];
    s.loss += static_cast<double>(weights[i]) * r.loss;
    kl += r.neg_log_ratio;
    low += r.flags & 1;
    high += (r.flags >> 1) & 1;
    dual += (r.flags >> 2) & 1;
    ++s.tokens;
  }
  if (s.tokens > 0) {
    const double count = static_cast<double>(s.tokens);
    s.clip_frac_low = low / count;
    s.clip_frac_high = high / count;
    s.clip_frac_dual = dual / count;
    s.approx_kl = kl / count;
  }
  return s;
}

}  // namespace dapo
