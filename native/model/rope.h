// Rotary position embeddings in Hugging Face's rotate-half layout: for i < d/2 the pair is
// (x[i], x[i + d/2]) rotated by pos * inv_freq[i].
#pragma once
#include <cstddef>
#include <vector>

#include "model/config.h"

namespace dapo {

class Rope {
 public:
  void init(const ModelConfig& c);
  // Fills the cos/sin tables up to `positions` (call before apply, outside parallel sections).
  void ensure(size_t positions);
  // Rotates `heads` vectors of head_dim at x (contiguous) by +angle (forward) or -angle (backward).
  void apply(float* x, size_t heads, size_t pos, bool inverse) const;

  // The tables as apply() reads them, for the CUDA engine to upload (one definition of the
  // frequencies, llama3 scaling included): cos_table()[p * half_dim() + i] = cos(p * inv_freq[i])
  // for p < positions(), valid until the next ensure().
  size_t half_dim() const { return dim_ / 2; }
  size_t positions() const { return positions_; }
  const float* cos_table() const { return cos_.data(); }
  const float* sin_table() const { return sin_.data(); }

 private:
  size_t dim_ = 0;
  std::vector<float> inv_freq_;
  std::vector<float> cos_, sin_;  // [positions, d/2]
  size_t positions_ = 0;
};

}  // namespace dapo
