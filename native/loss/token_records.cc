#include "loss/token_records.h"

#include <cmath>

namespace dapo {

TokenRecord record_of(const TokenLoss& t) {
  return TokenRecord{t.loss, t.neg_log_ratio, 0.0f,
                     static_cast<uint8_t>((t.clipped_low ? 1 : 0) | (t.clipped_high ? 2 : 0) | (t.dual_clipped ? 4 : 0))};
}

TokenTerms token_terms(float logp, float old_logp, float advantage, const float* ref_logp, const LossOptions& options) {
  const TokenLoss t = token_loss(logp, old_logp, advantage, options.clip);
  TokenTerms out{record_of(t), t.dloss_dlogp};
  if (ref_logp && options.kl_coef > 0) {
    const KlTerm kl = kl_penalty(logp, *ref_logp);
    out.record.kl_ref = kl.value;
    out.record.loss += options.kl_coef * kl.value;
    out.dloss_dlogp += options.kl_coef * kl.dvalue_dlogp;
  }
  return out;
}

Contribution contribution(const TokenTerms& t, float weight, float logp) {
  if (weight == 0.0f) return {0.0f, std::isfinite(logp)};
  const float scale = weight * t.dloss_dlogp;
  return {scale, std::isfinite(scale) && std::isfinite(t.record.loss) && std::isfinite(logp)};
}

LossStats reduce_records(const uint8_t* mask, const float* weights, const TokenRecord* records, size_t n) {
  LossStats s;
  double low = 0, high = 0, dual = 0, kl = 0, kl_ref = 0;
  for (size_t i = 0; i < n; ++i) {
    if (!mask[i]) continue;
    const TokenRecord& r = records[i];
    s.loss += static_cast<double>(weights[i]) * r.loss;
    kl += r.neg_log_ratio;
    kl_ref += r.kl_ref;
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
    s.kl_ref = kl_ref / count;
  }
  return s;
}

}  // namespace dapo
