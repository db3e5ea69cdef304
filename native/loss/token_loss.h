// The DAPO per-token policy loss (verl's compute_policy_loss, "vanilla"), shared by the CPU
// kernels and the CUDA kernels so the math exists once.
//
//   r  = exp(clamp(logp - old, -20, 20))
//   l  = max(-A r, -A clip(r, 1 - clipLow, 1 + clipHigh))           (Clip-Higher)
//   l  = min(l, -A clipC)   when dual clip is on and A < 0
//
// The derivative is taken the way autograd takes it, except that on exact ties the unclipped
// branch keeps the gradient: it is zero only where a clipped or dual branch is strictly active.
#pragma once
#include <cmath>

#if defined(__CUDACC__)
#define DAPO_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define DAPO_HOST_DEVICE inline
#endif

namespace dapo {

constexpr float kLogRatioClamp = 20.0f;

struct ClipConfig {
  float clip_low;   // eps_low, 0.2 in DAPO
  float clip_high;  // eps_high, 0.28 in DAPO
  float clip_c;     // dual-clip bound (> 1); ignored unless use_dual_clip
  bool use_dual_clip;
};

struct TokenLoss {
  float loss;          // per-token loss l
  float dloss_dlogp;   // d l / d logp
  float neg_log_ratio; // old - logp after the clamp (approx KL term)
  bool clipped_low;    // r < 1 - clipLow and A < 0
  bool clipped_high;   // r > 1 + clipHigh and A > 0
  bool dual_clipped;   // the dual-clip bound is strictly active
};

DAPO_HOST_DEVICE TokenLoss token_loss(float logp, float old_logp, float advantage, const ClipConfig& c) {
  TokenLoss out;
  float log_ratio = logp - old_logp;
  const bool inside_clamp = log_ratio >= -kLogRatioClamp && log_ratio <= kLogRatioClamp;
  log_ratio = fminf(fmaxf(log_ratio, -kLogRatioClamp), kLogRatioClamp);
  const float ratio = expf(log_ratio);
  const float low = 1.0f - c.clip_low, high = 1.0f + c.clip_high;
  const float clipped_ratio = fminf(fmaxf(ratio, low), high);
  const float unclipped_loss = -advantage * ratio;
  const float clipped_loss = -advantage * clipped_ratio;

  float loss = fmaxf(unclipped_loss, clipped_loss);
  // d(-A r)/dlogp = -A r, and r only moves with logp inside the clamp.
  float grad = (clipped_loss > unclipped_loss || !inside_clamp) ? 0.0f : -advantage * ratio;
  bool dual = false;
  if (c.use_dual_clip && advantage < 0.0f) {
    const float dual_bound = -advantage * c.clip_c;
    if (loss > dual_bound) {
      loss = dual_bound;
      grad = 0.0f;
      dual = true;
    }
  }
  out.loss = loss;
  out.dloss_dlogp = grad;
  out.neg_log_ratio = -log_ratio;
  out.clipped_low = ratio < low && advantage < 0.0f;
  out.clipped_high = ratio > high && advantage > 0.0f;
  out.dual_clipped = dual;
  return out;
}

// The optional KL penalty to a frozen reference policy, verl's "low_var_kl" (the k3
// estimator): d = clamp(ref - logp, -20, 20); kl = clamp(exp(d) - d - 1, -10, 10). It is added
// to each token's loss times kl_coef, so it is aggregated exactly like the policy loss.
struct KlTerm {
  float value;
  float dvalue_dlogp;
};

DAPO_HOST_DEVICE KlTerm kl_penalty(float logp, float ref_logp) {
  const float raw = ref_logp - logp;
  const bool inside_clamp = raw >= -kLogRatioClamp && raw <= kLogRatioClamp;
  const float d = fminf(fmaxf(raw, -kLogRatioClamp), kLogRatioClamp);
  const float e = expf(d);
  const float kl = e - d - 1.0f;
  KlTerm out;
  out.value = fminf(fmaxf(kl, -10.0f), 10.0f);
  // d kl / d logp = -(exp(d) - 1), zero where either clamp holds the value.
  out.dvalue_dlogp = (inside_clamp && kl <= 10.0f) ? 1.0f - e : 0.0f;
  return out;
}

}  // namespace dapo
