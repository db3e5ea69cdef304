#include "model/packed_batch.h"

#include <algorithm>
#include <string>

#include "common/error.h"

namespace dapo {

size_t count_targets(const ModelConfig& config, const PackedBatch& batch) {
  if (batch.n_seqs == 0) throw_range("offsets must hold at least two entries (one sequence)");
  if (batch.offsets[0] != 0) throw_range("offsets[0] must be 0, got " + std::to_string(batch.offsets[0]));
  if (static_cast<size_t>(batch.offsets[batch.n_seqs]) != batch.n_tokens)
    throw_range("offsets[" + std::to_string(batch.n_seqs) + "] = " + std::to_string(batch.offsets[batch.n_seqs]) +
                " must equal tokens.length = " + std::to_string(batch.n_tokens));
  size_t targets = 0;
  for (size_t s = 0; s < batch.n_seqs; ++s) {
    const int64_t len = static_cast<int64_t>(batch.offsets[s + 1]) - batch.offsets[s];
    if (len < 1)
      throw_range("offsets must increase: sequence " + std::to_string(s) + " has length " + std::to_string(len));
    if (static_cast<size_t>(len) > config.max_positions)
      throw_range("sequence " + std::to_string(s) + " has " + std::to_string(len) +
                  " tokens, more than the context (max_position_embeddings = " + std::to_string(config.max_positions) + ")");
    int64_t p = batch.prompt_lengths ? batch.prompt_lengths[s] : 0;
    if (p < 0 || p > len)
      throw_range("promptLengths[" + std::to_string(s) + "] = " + std::to_string(p) + " is outside [0, " +
                  std::to_string(len) + "]");
    targets += static_cast<size_t>(len - std::max<int64_t>(p, 1));
  }
  for (size_t i = 0; i < batch.n_tokens; ++i)
    if (batch.tokens[i] < 0 || static_cast<size_t>(batch.tokens[i]) >= config.vocab)
      throw_range("tokens[" + std::to_string(i) + "] = " + std::to_string(batch.tokens[i]) +
                  " is outside [0, vocabSize = " + std::to_string(config.vocab) + ")");
  return targets;
}

}  // namespace dapo
