#include "model/nll_loss.h"

#include <atomic>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/thread_pool.h"
#include "loss/row_softmax.h"

namespace dapo {

NllStats nll_loss(const float* logits, size_t n, size_t v, const int32_t* tokens, const uint8_t* mask,
                  double token_count, float* grad, float* logprobs, float* entropy) {
  for (size_t i = 0; i < n; ++i)
    if (tokens[i] < 0 || static_cast<size_t>(tokens[i]) >= v)
      throw_range("tokens[" + std::to_string(i) + "] = " + std::to_string(tokens[i]) + " is outside [0, vocabSize)");
  const float scale = token_count > 0 ? static_cast<float>(-1.0 / token_count) : 0.0f;
  std::atomic<bool> bad{false}, overflow{false};
  parallel_for(n, 1 + 16384 / v, [&](size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i) {
      const float* row = logits + i * v;
      const RowStats st = row_stats_f32(row, v, entropy != nullptr);
      if (!st.finite) {
        bad = true;
        if (grad) std::memset(grad + i * v, 0, v * sizeof(float));
        continue;
      }
      logprobs[i] = row[tokens[i]] - st.lse;
      if (entropy) entropy[i] = st.entropy;
      if (!std::isfinite(logprobs[i])) overflow = true;  // finite logits too far apart for float32
      if (!grad) continue;
      if ((mask && !mask[i]) || scale == 0.0f) {
        std::memset(grad + i * v, 0, v * sizeof(float));
      } else {
        row_logp_grad_f32(row, v, st.lse, tokens[i], scale, grad + i * v, false);
      }
    }
  });
  if (bad) throw_nonfinite("logits hold a non-finite value (the model's weights or activations overflowed)");
  if (overflow) throw_nonfinite("a log-prob is not finite: the logits overflowed (the weights or activations are too large)");
  NllStats s;
  for (size_t i = 0; i < n; ++i) {  // in order, so the sum does not depend on threads
    if (mask && !mask[i]) continue;
    s.loss -= static_cast<double>(logprobs[i]);
    ++s.tokens;
  }
  if (token_count > 0) s.loss /= token_count;
  else s.loss = 0;
  return s;
}

}  // namespace dapo
