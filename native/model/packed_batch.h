// The packed batch both engines read (sequences back to back, no padding) and its check.
#pragma once
#include <cstddef>
#include <cstdint>

#include "model/config.h"

namespace dapo {

// A packed batch. Sequence s is tokens[offsets[s], offsets[s+1]). The targets of s are its
// tokens at positions t >= max(promptLength, 1): each is predicted from the positions before
// it. Per-target arrays (log-probs, advantages, ...) list the targets of all sequences in order.
struct PackedBatch {
  const int32_t* tokens = nullptr;
  size_t n_tokens = 0;
  const int32_t* offsets = nullptr;  // [n_seqs + 1]
  size_t n_seqs = 0;
  const int32_t* prompt_lengths = nullptr;  // [n_seqs] or null (all zero)
};

// Number of targets of a batch for a model of this shape (checks the batch against the
// vocabulary and the context, and throws a range error naming the field). Both engines' bindings
// call it on the main thread before queuing work.
size_t count_targets(const ModelConfig& config, const PackedBatch& batch);

}  // namespace dapo
