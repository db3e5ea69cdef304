// Turning one row of logits into a token: temperature, top-k, top-p, greedy at temperature 0.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace dapo {

// The least sampling temperature other than 0 (greedy). Below it, logits / temperature
// overflow float32 for ordinary logits and log-probs come out infinite; vLLM clamps at the same
// 0.01 for the same reason.
constexpr double kMinTemperature = 0.01;

struct SamplingOptions {
  double temperature = 1.0;  // 0: greedy (argmax, lowest id on ties)
  double top_p = 1.0;        // keep the smallest set of most likely tokens whose mass >= top_p
  size_t top_k = 0;          // 0: no limit
};

// Scratch space reused across rows by one thread.
struct SamplerScratch {
  std::vector<double> prob;
  std::vector<int32_t> order;
};

// The distribution actually sampled from: probabilities over the vocabulary after
// temperature, top-k then top-p (the transformers order), renormalised; zeros elsewhere.
void filtered_distribution(const float* logits, size_t vocab, const SamplingOptions& opts, SamplerScratch& s,
                           double* out);

// Draws a token with the uniform number u in [0, 1) by inverse CDF over the filtered set,
// walked in order of decreasing probability (ties by id) when filtered, else by id.
int32_t sample_token(const float* logits, size_t vocab, const SamplingOptions& opts, double u, SamplerScratch& s);

}  // namespace dapo
