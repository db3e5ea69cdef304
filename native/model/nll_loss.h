// Mean negative log-likelihood over rows of logits (supervised warm-up, memorisation tests):
// loss = sum over counted rows of -log softmax(row)[token] / token_count.
#pragma once
#include <cstddef>
#include <cstdint>

namespace dapo {

struct NllStats {
  double loss = 0;    // this call's share of the loss (already divided by token_count)
  size_t tokens = 0;  // counted rows
};

// grad [n*V] receives d loss / d logits (zero rows where mask is 0); logprobs [n] gets
// log p(token) for every row, entropy [n] (when not null) the entropy of each row's softmax.
// mask may be null (all counted). Throws on ids out of range or non-finite logits.
NllStats nll_loss(const float* logits, size_t n, size_t vocab, const int32_t* tokens, const uint8_t* mask,
                  double token_count, float* grad, float* logprobs, float* entropy = nullptr);

}  // namespace dapo
