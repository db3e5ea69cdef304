#include "loss/dapo_loss.h"

#include <atomic>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/thread_pool.h"
#include "loss/row_softmax.h"
#include "loss/token_records.h"

namespace dapo {
namespace {

void check_inputs(const LossInputs& in, bool seq_mode) {
  for (size_t i = 0; i < in.n; ++i) {
    if (!std::isfinite(in.old_logprobs[i]))
      throw_range("oldLogprobs[" + std::to_string(i) + "] is not finite");
    if (!std::isfinite(in.advantages[i]))
      throw_range("advantages[" + std::to_string(i) + "] is not finite");
    if (in.ref_logprobs && !std::isfinite(in.ref_logprobs[i]))
      throw_range("refLogprobs[" + std::to_string(i) + "] is not finite");
    if (!in.from_logits && !std::isfinite(in.logprobs[i]))
      throw_range("logprobs[" + std::to_string(i) + "] is not finite");
    if (in.from_logits && (in.tokens[i] < 0 || static_cast<size_t>(in.tokens[i]) >= in.vocab))
      throw_range("tokens[" + std::to_string(i) + "] = " + std::to_string(in.tokens[i]) +
                  " is outside [0, vocabSize = " + std::to_string(in.vocab) + ")");
    if (seq_mode && (in.seq_ids[i] < 0 || static_cast<size_t>(in.seq_ids[i]) >= in.n))
      throw_range("seqIds[" + std::to_string(i) + "] = " + std::to_string(in.seq_ids[i]) +
                  " is outside [0, N = " + std::to_string(in.n) + ")");
  }
}

const float* ref_of(const LossInputs& in, size_t i) { return in.ref_logprobs ? in.ref_logprobs + i : nullptr; }

// Keeps the lowest row index any thread reports, so the error names the first bad row.
void note_row(std::atomic<size_t>& first, size_t row) {
  size_t seen = first.load();
  while (row < seen && !first.compare_exchange_weak(seen, row)) {}
}

[[noreturn]] void throw_overflow(const LossInputs& in, const LossOutputs& out, size_t row) {
  throw_nonfinite("the loss, its gradient or the log-prob of token " + std::to_string(row) +
                  " is not finite although the inputs are (log p = " + std::to_string(out.logprobs[row]) +
                  ", oldLogprobs = " + std::to_string(in.old_logprobs[row]) + ", advantages = " +
                  std::to_string(in.advantages[row]) + "): the values overflow float32");
}

void sweep_logits(const LossInputs& in, const LossOptions& options, const LossOutputs& out,
                  const std::vector<float>& weights, std::vector<TokenRecord>& records) {
  const size_t v = in.vocab;
  // Past the last-level cache the gradient would be evicted before anyone reads it anyway.
  const bool stream = in.n * v * sizeof(float) > (size_t{32} << 20);
  std::atomic<size_t> first_bad_row{in.n}, first_overflow_row{in.n};
  parallel_for(in.n, 1 + 16384 / v, [&](size_t begin, size_t end) {
    // The row's exps stay in this per-thread scratch (L2-sized for common vocabularies), so
    // the gradient sweep reads them back instead of computing every exp a second time.
    thread_local std::vector<float> exps, shifts;
    exps.resize(v);
    shifts.resize(row_exps_blocks(v));
    for (size_t i = begin; i < end; ++i) {
      const RowStats stats = in.logits_f32 ? row_stats_exps_f32(in.logits_f32 + i * v, v, exps.data(), shifts.data())
                                           : row_stats_exps_bf16(in.logits_bf16 + i * v, v, exps.data(), shifts.data());
      float* grad_row = out.grad + i * v;
      if (!stats.finite) {
        note_row(first_bad_row, i);
        std::memset(grad_row, 0, v * sizeof(float));
        continue;
      }
      const int32_t token = in.tokens[i];
      const float token_logit = in.logits_f32 ? in.logits_f32[i * v + token]
                                              : [&] {
                                                  uint32_t wide = static_cast<uint32_t>(in.logits_bf16[i * v + token]) << 16;
                                                  float f;
                                                  std::memcpy(&f, &wide, sizeof f);
                                                  return f;
                                                }();
      const float logp = token_logit - stats.lse;
      out.logprobs[i] = logp;
      if (out.entropy) out.entropy[i] = stats.entropy;
      const TokenTerms t = token_terms(logp, in.old_logprobs[i], in.advantages[i], ref_of(in, i), options);
      records[i] = t.record;
      const Contribution c = contribution(t, weights[i], logp);
      if (!c.finite || (out.entropy && !std::isfinite(stats.entropy))) note_row(first_overflow_row, i);
      const float scale = c.finite ? c.scale : 0.0f;
      if (scale == 0.0f) {
        std::memset(grad_row, 0, v * sizeof(float));
      } else {
        row_grad_from_exps(exps.data(), shifts.data(), v, stats.lse, token, scale, grad_row, stream);
      }
    }
  });
  if (first_bad_row.load() < in.n)
    throw_range("logits row " + std::to_string(first_bad_row.load()) + " has a non-finite value");
  if (first_overflow_row.load() < in.n) throw_overflow(in, out, first_overflow_row.load());
}

void sweep_logprobs(const LossInputs& in, const LossOptions& options, const LossOutputs& out,
                    const std::vector<float>& weights, std::vector<TokenRecord>& records) {
  std::atomic<size_t> first_overflow_row{in.n};
  parallel_for(in.n, 4096, [&](size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i) {
      const TokenTerms t = token_terms(in.logprobs[i], in.old_logprobs[i], in.advantages[i], ref_of(in, i), options);
      records[i] = t.record;
      const Contribution c = contribution(t, weights[i], in.logprobs[i]);
      if (!c.finite) note_row(first_overflow_row, i);
      out.grad[i] = c.finite ? c.scale : 0.0f;
      out.logprobs[i] = in.logprobs[i];
    }
  });
  if (first_overflow_row.load() < in.n) throw_overflow(in, out, first_overflow_row.load());
}

}  // namespace

LossStats dapo_loss(const LossInputs& in, const LossOptions& options, const LossOutputs& out) {
  const bool seq_mode = options.aggregation.mode != Aggregation::TokenMean;
  check_inputs(in, seq_mode);
  std::vector<float> weights(in.n);
  aggregation_weights(in.mask, in.seq_ids, in.n, options.aggregation, weights.data());
  std::vector<TokenRecord> records(in.n);
  if (!in.from_logits) {
    sweep_logprobs(in, options, out, weights, records);
  } else {
    sweep_logits(in, options, out, weights, records);
  }
  return reduce_records(in.mask, weights.data(), records.data(), in.n);
}

}  // namespace dapo
