// One token's loss term from its log-prob, on the device: the DAPO token loss (with the
// optional KL penalty) or the NLL, its records for the reduction, and the gradient scale
// weight * d loss / d logp. Shared by the logits sweeps (row_loss_*.cu) and the log-probs mode
// (dapo_loss_logits.cu), the device twin of native/loss/token_records.cc's token_terms.
#pragma once
#include <cuda_runtime.h>

#include "cuda/loss_prep.cuh"
#include "loss/token_loss.h"

namespace dapo::cuda {

// Returns weight * d loss / d logp (0 for masked tokens). A counted token whose loss or scale
// is not finite (finite inputs that overflow float, e.g. advantages of 3e38) is recorded in
// a.nonfinite_row and contributes no gradient.
__device__ __forceinline__ float token_terms_device(const TokenArrays& a, size_t i, float logp, int term,
                                                    const ClipConfig& clip, float kl_coef) {
  if (!a.weights && !a.rec_loss) return 0.0f;  // a log-probs-only sweep
  float loss, dl, nkl = 0.0f, kl_ref = 0.0f;
  uint8_t flags = 0;
  if (term == kTermNll) {
    loss = -logp;
    dl = -1.0f;
  } else {
    const TokenLoss t = token_loss(logp, a.old_logprobs[i], a.advantages[i], clip);
    loss = t.loss;
    dl = t.dloss_dlogp;
    nkl = t.neg_log_ratio;
    flags = static_cast<uint8_t>((t.clipped_low ? 1 : 0) | (t.clipped_high ? 2 : 0) | (t.dual_clipped ? 4 : 0));
    if (kl_coef > 0.0f && a.ref_logprobs) {
      const KlTerm kl = kl_penalty(logp, a.ref_logprobs[i]);
      kl_ref = kl.value;
      loss += kl_coef * kl.value;
      dl += kl_coef * kl.dvalue_dlogp;
    }
  }
  if (a.rec_loss) {
    a.rec_loss[i] = loss;
    a.rec_nkl[i] = nkl;
    if (a.rec_kl_ref) a.rec_kl_ref[i] = kl_ref;
    a.rec_flags[i] = flags;
  }
  const float w = a.weights ? a.weights[i] : 0.0f;
  const float scale = w != 0.0f ? w * dl : 0.0f;
  const bool counted = !a.mask || a.mask[i];
  if (counted && !(isfinite(loss) && isfinite(scale))) {
    if (a.nonfinite_row) atomicMin(a.nonfinite_row, static_cast<unsigned long long>(i));
    return 0.0f;
  }
  return scale;
}

}  // namespace dapo::cuda
