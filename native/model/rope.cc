#include "model/rope.h"

#include <cmath>

#include "common/checked.h"

namespace dapo {

void Rope::init(const ModelConfig& c) {
  dim_ = c.head_dim;
  const size_t half = dim_ / 2;
  inv_freq_.resize(half);
  for (size_t i = 0; i < half; ++i) {
    // As transformers: base ** (2i / d) in float32, then its reciprocal.
    const float exponent = static_cast<float>(2 * i) / static_cast<float>(dim_);
    double f = 1.0 / std::pow(static_cast<double>(static_cast<float>(c.rope_theta)), static_cast<double>(exponent));
    if (c.rope_llama3) {
      // transformers' _compute_llama3_parameters
      const double low_wavelen = c.rope_original_max_positions / c.rope_low_freq_factor;
      const double high_wavelen = c.rope_original_max_positions / c.rope_high_freq_factor;
      const double wavelen = 2.0 * M_PI / f;
      if (wavelen > low_wavelen) {
        f = f / c.rope_factor;
      } else if (wavelen >= high_wavelen) {
        const double smooth = (c.rope_original_max_positions / wavelen - c.rope_low_freq_factor) /
                              (c.rope_high_freq_factor - c.rope_low_freq_factor);
        f = (1.0 - smooth) * f / c.rope_factor + smooth * f;
      }
    }
    inv_freq_[i] = static_cast<float>(f);
  }
}

void Rope::ensure(size_t positions) {
  if (positions <= positions_) return;
  const size_t half = dim_ / 2;
  cos_.resize(checked_mul(positions, half, "the RoPE table"));
  sin_.resize(positions * half);
  for (size_t p = positions_; p < positions; ++p)
    for (size_t i = 0; i < half; ++i) {
      const float angle = static_cast<float>(p) * inv_freq_[i];  // float32 product, as transformers
      cos_[p * half + i] = std::cos(angle);
      sin_[p * half + i] = std::sin(angle);
    }
  positions_ = positions;
}

void Rope::apply(float* x, size_t heads, size_t pos, bool inverse) const {
  const size_t half = dim_ / 2;
  const float* cs = cos_.data() + pos * half;
  const float* sn = sin_.data() + pos * half;
  for (size_t i = 0; i < half; ++i) {
    const float c = cs[i];
    const float s = inverse ? -sn[i] : sn[i];
    for (size_t h = 0; h < heads; ++h) {
      float* v = x + h * dim_;
      const float a = v[i], b = v[i + half];
      v[i] = a * c - b * s;
      v[i + half] = b * c + a * s;
    }
  }
}

}  // namespace dapo
