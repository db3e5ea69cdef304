#include "loss/dapo_loss_hidden.h"
#include "loss/token_records.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "common/bf16.h"
#include "common/error.h"
#include "common/thread_pool.h"

namespace dapo {
namespace {

void check_inputs(const HiddenLossInputs& in, bool seq_mode) {
  for (size_t i = 0; i < in.n; ++i) {
    if (!std::isfinite(in.old_logprobs[i])) throw_range("oldLogprobs[" + std::to_string(i) + "] is not finite");
    if (!std::isfinite(in.advantages[i])) throw_range("advantages[" + std::to_string(i) + "] is not finite");
    if (in.ref_logprobs && !std::isfinite(in.ref_logprobs[i]))
      throw_range("refLogprobs[" + std::to_string(i) + "] is not finite");
    if (in.tokens[i] < 0 || static_cast<size_t>(in.tokens[i]) >= in.vocab)
      throw_range("tokens[" + std::to_string(i) + "] = " + std::to_string(in.tokens[i]) +
                  " is outside [0, vocabSize = " + std::to_string(in.vocab) + ")");
    if (seq_mode && (in.seq_ids[i] < 0 || static_cast<size_t>(in.seq_ids[i]) >= in.n))
      throw_range("seqIds[" + std::to_string(i) + "] = " + std::to_string(in.seq_ids[i]) + " is outside [0, N = " +
                  std::to_string(in.n) + ")");
  }
}

// Row r of hidden or weight widened to float.
void widen(const float* f32, const uint16_t* bf16, size_t r, size_t h, float* out) {
  if (f32) {
    std::memcpy(out, f32 + r * h, h * sizeof(float));
  } else {
    for (size_t k = 0; k < h; ++k) out[k] = bf16_to_float(bf16[r * h + k]);
  }
}

struct Model {
  const HiddenLossInputs& in;
  std::vector<float> weight;  // [vocab*hidden] as float, once
  explicit Model(const HiddenLossInputs& inputs) : in(inputs), weight(inputs.vocab * inputs.hidden) {
    for (size_t j = 0; j < in.vocab; ++j) widen(in.weight_f32, in.weight_bf16, j, in.hidden, weight.data() + j * in.hidden);
  }
  // Logits of row x for vocabulary entries [begin, end), accumulated in double, rounded once.
  void logits(const float* x, size_t begin, size_t end, float* z) const {
    const size_t h = in.hidden;
    for (size_t j = begin; j < end; ++j) {
      const float* w = weight.data() + j * h;
      double acc = 0;
      for (size_t k = 0; k < h; ++k) acc += static_cast<double>(x[k]) * w[k];
      z[j - begin] = static_cast<float>(acc);
    }
  }
};

struct RowState {
  double lse = 0;
  float scale = 0;  // weight * dl/dlogp
  bool finite = true;      // the row's logits
  bool overflow = false;   // finite inputs, but its loss, scale, log-prob or entropy is not finite
};

// The first index of x[0, n) that is not finite, or n.
size_t first_nonfinite(const float* x, size_t n) {
  for (size_t i = 0; i < n; ++i)
    if (!std::isfinite(x[i])) return i;
  return n;
}

}  // namespace

LossStats dapo_loss_from_hidden(const HiddenLossInputs& in, const LossOptions& options, const HiddenLossOutputs& out) {
  const bool seq_mode = options.aggregation.mode != Aggregation::TokenMean;
  check_inputs(in, seq_mode);
  const size_t n = in.n, h = in.hidden, v = in.vocab;
  const size_t chunk = std::max<size_t>(1, in.vocab_chunk);
  std::vector<float> weights(n);
  aggregation_weights(in.mask, in.seq_ids, n, options.aggregation, weights.data());
  const Model model(in);
  std::vector<RowState> rows(n);
  std::vector<TokenRecord> records(n);

  // Pass 1: per row, online log-sum-exp (and entropy) over vocabulary chunks.
  parallel_for(n, 1, [&](size_t begin, size_t end) {
    std::vector<float> x(h), z(chunk);
    for (size_t i = begin; i < end; ++i) {
      widen(in.hidden_f32, in.hidden_bf16, i, h, x.data());
      double running_max = -INFINITY, sum = 0, weighted = 0;
      float token_logit = 0;
      bool finite = true;
      for (size_t c0 = 0; c0 < v && finite; c0 += chunk) {
        const size_t c1 = std::min(v, c0 + chunk);
        model.logits(x.data(), c0, c1, z.data());
        double block_max = -INFINITY;
        for (size_t j = c0; j < c1; ++j) {
          finite &= std::isfinite(z[j - c0]);
          block_max = std::max(block_max, static_cast<double>(z[j - c0]));
        }
        if (!finite) break;
        if (static_cast<size_t>(in.tokens[i]) >= c0 && static_cast<size_t>(in.tokens[i]) < c1)
          token_logit = z[in.tokens[i] - c0];
        if (block_max > running_max) {
          if (running_max != -INFINITY) {
            const double shift = running_max - block_max, rescale = std::exp(shift);
            weighted = rescale * (weighted + sum * shift);
            sum *= rescale;
          }
          running_max = block_max;
        }
        for (size_t j = c0; j < c1; ++j) {
          const double d = z[j - c0] - running_max, e = std::exp(d);
          sum += e;
          weighted += e * d;
        }
      }
      RowState& row = rows[i];
      row.finite = finite;
      if (!finite) continue;
      row.lse = running_max + std::log(sum);
      const float logp = static_cast<float>(token_logit - row.lse);
      out.logprobs[i] = logp;
      if (out.entropy) out.entropy[i] = static_cast<float>(std::log(sum) - weighted / sum);
      const TokenTerms t = token_terms(logp, in.old_logprobs[i], in.advantages[i],
                                       in.ref_logprobs ? in.ref_logprobs + i : nullptr, options);
      records[i] = t.record;
      const Contribution c = contribution(t, weights[i], logp);
      row.overflow = !c.finite || (out.entropy && !std::isfinite(out.entropy[i]));
      row.scale = c.finite ? c.scale : 0.0f;
    }
  });
  for (size_t i = 0; i < n; ++i)
    if (!rows[i].finite) throw_range("logits row " + std::to_string(i) + " has a non-finite value");
  for (size_t i = 0; i < n; ++i)
    if (rows[i].overflow)
      throw_nonfinite("the loss, its gradient or the log-prob of token " + std::to_string(i) +
                      " is not finite although the inputs are: the values overflow float32");

  // Pass 2: d hidden_i = sum_j g_ij w_j with g_ij = scale_i ([j == token_i] - softmax_ij).
  parallel_for(n, 1, [&](size_t begin, size_t end) {
    std::vector<float> x(h), z(chunk);
    std::vector<double> acc(h);
    for (size_t i = begin; i < end; ++i) {
      std::fill(acc.begin(), acc.end(), 0.0);
      const RowState& row = rows[i];
      if (row.scale != 0.0f) {
        widen(in.hidden_f32, in.hidden_bf16, i, h, x.data());
        for (size_t c0 = 0; c0 < v; c0 += chunk) {
          const size_t c1 = std::min(v, c0 + chunk);
          model.logits(x.data(), c0, c1, z.data());
          for (size_t j = c0; j < c1; ++j) {
            const double g = row.scale * ((j == static_cast<size_t>(in.tokens[i]) ? 1.0 : 0.0) - std::exp(z[j - c0] - row.lse));
            const float* w = model.weight.data() + j * h;
            for (size_t k = 0; k < h; ++k) acc[k] += g * w[k];
          }
        }
      }
      for (size_t k = 0; k < h; ++k) out.grad_hidden[i * h + k] = static_cast<float>(acc[k]);
    }
  });

  // Pass 3: d weight_j = sum_i g_ij x_i, over vocabulary chunks, rows in order.
  std::vector<float> hidden(n * h);
  for (size_t i = 0; i < n; ++i) widen(in.hidden_f32, in.hidden_bf16, i, h, hidden.data() + i * h);
  parallel_for(v, 64, [&](size_t begin, size_t end) {
    std::vector<double> acc((end - begin) * h, 0.0);
    std::vector<float> z(end - begin);
    for (size_t i = 0; i < n; ++i) {
      const RowState& row = rows[i];
      if (row.scale == 0.0f) continue;
      const float* x = hidden.data() + i * h;
      model.logits(x, begin, end, z.data());
      for (size_t j = begin; j < end; ++j) {
        const double g = row.scale * ((j == static_cast<size_t>(in.tokens[i]) ? 1.0 : 0.0) - std::exp(z[j - begin] - row.lse));
        double* a = acc.data() + (j - begin) * h;
        for (size_t k = 0; k < h; ++k) a[k] += g * x[k];
      }
    }
    for (size_t j = begin; j < end; ++j)
      for (size_t k = 0; k < h; ++k) out.grad_weight[j * h + k] = static_cast<float>(acc[(j - begin) * h + k]);
  });

  // Sums over the vocabulary (or the tokens) of finite terms can still overflow float32.
  const size_t bad_hidden = first_nonfinite(out.grad_hidden, n * h), bad_weight = first_nonfinite(out.grad_weight, v * h);
  if (bad_hidden < n * h || bad_weight < v * h)
    throw_nonfinite(std::string("the gradient of the ") + (bad_hidden < n * h ? "hidden states" : "LM-head weight") +
                    " is not finite although the inputs are: the values overflow float32");
  return reduce_records(in.mask, weights.data(), records.data(), n);
}

}  // namespace dapo
