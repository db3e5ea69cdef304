#include "model/sampler.h"

#include <algorithm>
#include <cmath>

namespace dapo {
namespace {

int32_t argmax(const float* z, size_t v) {
  size_t best = 0;
  for (size_t i = 1; i < v; ++i)
    if (z[i] > z[best]) best = i;
  return static_cast<int32_t>(best);
}

// Fills s.prob with exp((z - max) / T) and returns their sum.
double tempered(const float* z, size_t v, double temperature, SamplerScratch& s) {
  s.prob.resize(v);
  float mx = z[0];
  for (size_t i = 1; i < v; ++i) mx = z[i] > mx ? z[i] : mx;
  double total = 0;
  for (size_t i = 0; i < v; ++i) {
    s.prob[i] = std::exp((static_cast<double>(z[i]) - mx) / temperature);
    total += s.prob[i];
  }
  return total;
}

bool filtering(const SamplingOptions& o, size_t v) { return (o.top_k > 0 && o.top_k < v) || o.top_p < 1.0; }

// Leaves in s.order the kept ids, most likely first, and returns their total unnormalised mass.
double kept_set(size_t v, const SamplingOptions& o, double total, SamplerScratch& s) {
  s.order.resize(v);
  for (size_t i = 0; i < v; ++i) s.order[i] = static_cast<int32_t>(i);
  auto before = [&](int32_t a, int32_t b) { return s.prob[a] > s.prob[b] || (s.prob[a] == s.prob[b] && a < b); };
  size_t keep = v;
  if (o.top_k > 0 && o.top_k < v) {
    std::nth_element(s.order.begin(), s.order.begin() + o.top_k, s.order.end(), before);
    keep = o.top_k;
    total = 0;
    for (size_t i = 0; i < keep; ++i) total += s.prob[s.order[i]];
  }
  if (o.top_p < 1.0) {
    // The smallest prefix of the sorted candidates whose mass reaches top_p: sort only the
    // most likely k (a selection, then a sort of k), growing k until the prefix fits inside.
    // The comparator is a total order, so the result is the full sort's.
    size_t k = std::min<size_t>(keep, 64);
    for (;;) {
      if (k < keep) std::nth_element(s.order.begin(), s.order.begin() + k, s.order.begin() + keep, before);
      std::sort(s.order.begin(), s.order.begin() + k, before);
      double cum = 0;
      size_t i = 0;
      for (; i < k; ++i) {
        cum += s.prob[s.order[i]];
        if (cum >= o.top_p * total) break;
      }
      if (i < k || k == keep) {
        keep = std::min(k, i + 1);
        break;
      }
      k = std::min(keep, k * 4);
    }
  } else {
    std::sort(s.order.begin(), s.order.begin() + keep, before);
  }
  s.order.resize(keep);
  total = 0;
  for (int32_t id : s.order) total += s.prob[id];
  return total;
}

}  // namespace

void filtered_distribution(const float* logits, size_t v, const SamplingOptions& o, SamplerScratch& s, double* out) {
  std::fill(out, out + v, 0.0);
  if (o.temperature <= 0) {
    out[argmax(logits, v)] = 1.0;
    return;
  }
  double total = tempered(logits, v, o.temperature, s);
  if (!filtering(o, v)) {
    for (size_t i = 0; i < v; ++i) out[i] = s.prob[i] / total;
    return;
  }
  total = kept_set(v, o, total, s);
  for (int32_t id : s.order) out[id] = s.prob[id] / total;
}

int32_t sample_token(const float* logits, size_t v, const SamplingOptions& o, double u, SamplerScratch& s) {
  if (o.temperature <= 0) return argmax(logits, v);
  double total = tempered(logits, v, o.temperature, s);
  if (!filtering(o, v)) {
    const double target = u * total;
    double cum = 0;
    for (size_t i = 0; i < v; ++i) {
      cum += s.prob[i];
      if (cum > target) return static_cast<int32_t>(i);
    }
    for (size_t i = v; i-- > 0;)  // rounding left u * total past the sum: the last nonzero id
      if (s.prob[i] > 0) return static_cast<int32_t>(i);
    return 0;
  }
  total = kept_set(v, o, total, s);
  const double target = u * total;
  double cum = 0;
  for (int32_t id : s.order) {
    cum += s.prob[id];
    if (cum > target) return id;
  }
  return s.order.back();
}

}  // namespace dapo
