// How per-token losses become one number (verl's agg_loss). Each counted token t gets a weight
// w_t so that loss = sum_t w_t l_t; the same weights scale the gradient.
//
//   token-mean            w_t = 1 / tokenCount                (tokenCount defaults to sum(mask))
//   seq-mean-token-mean   w_t = 1 / (len(seq(t)) * seqCount)   (seqCount defaults to #sequences
//   seq-mean-token-sum    w_t = 1 / seqCount                    with at least one counted token)
//
// Under gradient accumulation the caller passes the mini-batch's tokenCount / seqCount so that
// micro-batch gradients add up to the mini-batch gradient.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace dapo {

enum class Aggregation { TokenMean, SeqMeanTokenMean, SeqMeanTokenSum };

struct AggregationConfig {
  Aggregation mode = Aggregation::TokenMean;
  double token_count = -1;  // < 0: use the number of counted tokens
  double seq_count = -1;    // < 0: use the number of sequences with a counted token
};

// Fills weights[n]; seq_ids may be null for token-mean. Zero divisors give zero weights.
void aggregation_weights(const uint8_t* mask, const int32_t* seq_ids, size_t n,
                         const AggregationConfig& config, float* weights);

}  // namespace dapo
