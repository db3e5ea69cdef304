#include "optim/adamw.h"

#include <cmath>
#include <string>

#include "common/error.h"
#include "common/thread_pool.h"

namespace dapo {

namespace {
constexpr size_t kChunk = 1 << 16;
}

double global_norm(const float* g, size_t n) {
  const size_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<double> partial(chunks, 0.0);
  parallel_for(chunks, 1, [&](size_t begin, size_t end) {
    for (size_t c = begin; c < end; ++c) {
      double s = 0;
      const size_t i1 = std::min(n, (c + 1) * kChunk);
      for (size_t i = c * kChunk; i < i1; ++i) s += static_cast<double>(g[i]) * g[i];
      partial[c] = s;
    }
  });
  double total = 0;
  for (double p : partial) total += p;
  return std::sqrt(total);
}

void AdamW::make_moments(size_t n) {
  m_.assign(n, 0.0f);
  v_.assign(n, 0.0f);
}

float* AdamW::moment(Moment which, size_t n) {
  if (!has_moments(n)) make_moments(n);
  return which == Moment::First ? m_.data() : v_.data();
}

AdamWStats AdamW::step(float* w, float* g, const std::vector<Span>& spans, size_t n, const AdamWOptions& o,
                        bool zero_grad) {
  // A first step with no moments set starts the count afresh (as the CUDA engine does).
  if (!has_moments(n)) {
    make_moments(n);
    t_ = 0;
  }
  AdamWStats stats;
  stats.grad_norm = global_norm(g, n);
  if (!std::isfinite(stats.grad_norm))
    throw_range("the gradient holds a non-finite value (norm " + std::to_string(stats.grad_norm) +
                "); the step was not taken");
  double scale = 1.0;
  if (o.clip_grad_norm > 0 && stats.grad_norm > o.clip_grad_norm) {
    scale = o.clip_grad_norm / (stats.grad_norm + 1e-6);
    stats.clipped = true;
  }
  ++t_;
  stats.step = t_;
  const float b1 = static_cast<float>(o.beta1), b2 = static_cast<float>(o.beta2);
  const double bc1 = 1.0 - std::pow(o.beta1, static_cast<double>(t_));
  const double bc2 = 1.0 - std::pow(o.beta2, static_cast<double>(t_));
  const float step_size = static_cast<float>(o.lr / bc1);
  const float bc2_sqrt = static_cast<float>(std::sqrt(bc2));
  const float eps = static_cast<float>(o.eps);
  const float decay_factor = static_cast<float>(1.0 - o.lr * o.weight_decay);
  const float gscale = static_cast<float>(scale);
  float* m = m_.data();
  float* v = v_.data();
  for (const Span& span : spans) {
    const float wd = span.decay ? decay_factor : 1.0f;
    parallel_for(span.end - span.begin, kChunk, [&](size_t b, size_t e) {
      for (size_t i = span.begin + b; i < span.begin + e; ++i) {
        const float gi = g[i] * gscale;
        if (zero_grad) g[i] = 0.0f;
        w[i] *= wd;
        m[i] = b1 * m[i] + (1.0f - b1) * gi;
        v[i] = b2 * v[i] + (1.0f - b2) * gi * gi;
        const float denom = std::sqrt(v[i]) / bc2_sqrt + eps;
        w[i] -= step_size * m[i] / denom;
      }
    });
  }
  return stats;
}

}  // namespace dapo
