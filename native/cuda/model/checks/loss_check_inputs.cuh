// Shared by the loss op checks (row_loss_check.cu, lm_head_loss_check.cu): random per-token
// inputs whose ratios straddle both clip edges, the CPU twin of one sweep over tempered logits
// (native/loss/dapo_loss.cc or native/model/nll_loss.cc), and device staging.
#pragma once
#include <cuda_runtime.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "common/bf16.h"
#include "cuda/buffers.cuh"
#include "cuda/check.cuh"
#include "cuda/loss_prep.cuh"
#include "cuda/model/op_check.cuh"
#include "loss/dapo_loss.h"
#include "model/nll_loss.h"

namespace dapo::cuda::model::losscheck {

// What params[] of a loss check mean: [0] temperature (0: 1), [1] kl_coef, [2] term (0 DAPO,
// 1 NLL), [3] 1: log-probs only (no gradient).
struct LossOptionsCase {
  float temperature = 1.0f;
  float kl_coef = 0.0f;
  int term = kTermDapo;
  bool logprobs_only = false;
};

inline bool options_of(const OpCase& c, LossOptionsCase* o, char* message, size_t message_size) {
  o->temperature = c.params[0] == 0 ? 1.0f : static_cast<float>(c.params[0]);
  o->kl_coef = static_cast<float>(c.params[1]);
  o->term = c.params[2] == 1 ? kTermNll : kTermDapo;
  o->logprobs_only = c.params[3] == 1;
  if (!(o->temperature > 0) || !(o->kl_coef >= 0) || (c.params[2] != 0 && c.params[2] != 1)) {
    std::snprintf(message, message_size, "%s: params are [temperature > 0, kl_coef >= 0, term 0|1, logprobs_only 0|1]",
                  c.op);
    return false;
  }
  return true;
}

struct TokenInputs {
  std::vector<int32_t> tokens;
  std::vector<float> old_logprobs, advantages, ref_logprobs;
  std::vector<uint8_t> mask;
  double counted = 0;
};

// Tokens, advantages and mask; old and reference log-probs near each row's current log-prob
// (from the tempered logits z), so clip edges and the KL penalty are both exercised.
inline TokenInputs random_tokens(CheckRng& rng, const float* z, size_t n, size_t v) {
  TokenInputs t;
  t.tokens.resize(n);
  t.old_logprobs.resize(n);
  t.advantages.resize(n);
  t.ref_logprobs.resize(n);
  t.mask.resize(n);
  for (size_t i = 0; i < n; ++i) {
    t.tokens[i] = rng.below(static_cast<int32_t>(v));
    t.advantages[i] = static_cast<float>((rng.uniform() < 0.5 ? -1 : 1) * (0.1 + 1.9 * rng.uniform()));
    t.mask[i] = rng.uniform() < 0.8 ? 1 : 0;
    t.counted += t.mask[i];
    const float* row = z + i * v;
    double m = -INFINITY, s = 0;
    for (size_t j = 0; j < v; ++j) m = std::fmax(m, row[j]);
    for (size_t j = 0; j < v; ++j) s += std::exp(row[j] - m);
    const double logp = row[t.tokens[i]] - m - std::log(s);
    t.old_logprobs[i] = static_cast<float>(logp - std::log(0.55 + 1.15 * rng.uniform()));
    t.ref_logprobs[i] = static_cast<float>(logp - 0.8 + 1.6 * rng.uniform());
  }
  return t;
}

// The CPU's result of one sweep over tempered logits z [n x v]; grad is d loss / d logits (the
// gradient in z divided by the temperature, as the CPU engine's head does).
struct CpuLoss {
  std::vector<float> grad, logprobs, entropy;
  double loss = 0, kl_ref = 0;
};

inline CpuLoss cpu_loss(const std::vector<float>& z, size_t n, size_t v, const TokenInputs& t, const LossOptionsCase& o) {
  CpuLoss out;
  out.grad.assign(n * v, 0.0f);
  out.logprobs.assign(n, 0.0f);
  out.entropy.assign(n, 0.0f);
  if (o.term == kTermNll) {
    out.loss = nll_loss(z.data(), n, v, t.tokens.data(), t.mask.data(), t.counted, out.grad.data(), out.logprobs.data(),
                        out.entropy.data())
                   .loss;
  } else {
    LossInputs in;
    in.n = n;
    in.from_logits = true;
    in.vocab = v;
    in.logits_f32 = z.data();
    in.tokens = t.tokens.data();
    in.old_logprobs = t.old_logprobs.data();
    in.advantages = t.advantages.data();
    in.mask = t.mask.data();
    in.ref_logprobs = o.kl_coef > 0 ? t.ref_logprobs.data() : nullptr;
    LossOptions options;
    options.clip = ClipConfig{0.2f, 0.28f, 3.0f, true};
    options.entropy = true;
    options.kl_coef = o.kl_coef;
    LossOutputs outputs;
    outputs.grad = out.grad.data();
    outputs.logprobs = out.logprobs.data();
    outputs.entropy = out.entropy.data();
    const LossStats s = dapo_loss(in, options, outputs);
    out.loss = s.loss;
    out.kl_ref = s.kl_ref;
  }
  if (o.temperature != 1.0f)
    for (float& g : out.grad) g /= o.temperature;
  return out;
}

// z = x / T, as the CPU engine's divide_by_temperature.
inline std::vector<float> tempered(const std::vector<float>& x, float temperature) {
  std::vector<float> z(x);
  if (temperature != 1.0f)
    for (float& value : z) value /= temperature;
  return z;
}

// Host values in the check's dtype, as bytes for the device.
inline std::vector<uint8_t> as_dtype(const std::vector<float>& x, int dtype) {
  std::vector<uint8_t> bytes(x.size() * (dtype == DAPO_CUDA_F32 ? 4 : 2));
  if (dtype == DAPO_CUDA_F32) {
    std::memcpy(bytes.data(), x.data(), bytes.size());
  } else {
    for (size_t i = 0; i < x.size(); ++i) {
      const uint16_t b = float_to_bf16(x[i]);
      std::memcpy(bytes.data() + 2 * i, &b, 2);
    }
  }
  return bytes;
}

inline std::vector<float> widen(const std::vector<uint8_t>& bytes, int dtype) {
  const size_t es = dtype == DAPO_CUDA_F32 ? 4 : 2;
  std::vector<float> x(bytes.size() / es);
  for (size_t i = 0; i < x.size(); ++i) {
    if (dtype == DAPO_CUDA_F32) {
      std::memcpy(&x[i], bytes.data() + 4 * i, 4);
    } else {
      uint16_t b;
      std::memcpy(&b, bytes.data() + 2 * i, 2);
      x[i] = bf16_to_float(b);
    }
  }
  return x;
}

// A device copy of host bytes, owned by `scratch`.
template <typename T>
cudaError_t upload(Scratch& scratch, const T* host, size_t count, T** device) {
  cudaError_t s = scratch.alloc_n(device, count);
  if (s == cudaSuccess && count) s = cudaMemcpy(*device, host, count * sizeof(T), cudaMemcpyHostToDevice);
  return s;
}

// The per-token inputs on the device, and prepare_loss over them.
struct DeviceTokens {
  PrepInputs prep;
  TokenArrays arrays;
  DeviceStatus* status = nullptr;
  float* logprobs = nullptr;
  float* entropy = nullptr;
};

inline cudaError_t stage_tokens(Scratch& scratch, const TokenInputs& t, size_t n, size_t v, const LossOptionsCase& o,
                                DeviceTokens* d) {
  cudaError_t s;
  int32_t* tokens = nullptr;
  float *old = nullptr, *adv = nullptr, *ref = nullptr;
  uint8_t* mask = nullptr;
  if ((s = upload(scratch, t.tokens.data(), n, &tokens)) != cudaSuccess) return s;
  if ((s = upload(scratch, t.old_logprobs.data(), n, &old)) != cudaSuccess) return s;
  if ((s = upload(scratch, t.advantages.data(), n, &adv)) != cudaSuccess) return s;
  if ((s = upload(scratch, t.ref_logprobs.data(), n, &ref)) != cudaSuccess) return s;
  if ((s = upload(scratch, t.mask.data(), n, &mask)) != cudaSuccess) return s;
  if ((s = scratch.alloc_n(&d->logprobs, n)) != cudaSuccess) return s;
  if ((s = scratch.alloc_n(&d->entropy, n)) != cudaSuccess) return s;
  PrepInputs& in = d->prep;
  in.n = n;
  in.vocab = v;
  in.tokens = tokens;
  in.term = o.term;
  in.old_logprobs = o.term == kTermNll ? nullptr : old;  // the NLL term reads neither
  in.advantages = o.term == kTermNll ? nullptr : adv;
  in.mask = mask;
  in.ref_logprobs = o.kl_coef > 0 && o.term == kTermDapo ? ref : nullptr;
  if ((s = prepare_loss(scratch, in, &d->arrays, &d->status)) != cudaSuccess) return s;
  d->arrays.logprobs_out = d->logprobs;
  d->arrays.entropy_out = d->entropy;
  return cudaSuccess;
}

template <typename T>
cudaError_t download(std::vector<T>* host, const T* device, size_t count) {
  host->resize(count);
  return count ? cudaMemcpy(host->data(), device, count * sizeof(T), cudaMemcpyDeviceToHost) : cudaSuccess;
}

// Compares the loss statistics after finish_loss, each relative to max(|CPU value|, 1) (a
// second element of 1 sets the floor), as the TypeScript suites do: the DAPO loss is a sum of
// terms of both signs, and may be small beside them.
inline void compare_stats(OpReport& report, const dapo_cuda_loss_stats& got, const CpuLoss& want, const LossOptionsCase& o) {
  const float got_loss[2] = {static_cast<float>(got.loss), 1.0f}, want_loss[2] = {static_cast<float>(want.loss), 1.0f};
  report.compare("loss", got_loss, want_loss, 2);
  if (o.kl_coef > 0 && o.term == kTermDapo) {
    const float got_kl[2] = {static_cast<float>(got.kl_ref), 1.0f}, want_kl[2] = {static_cast<float>(want.kl_ref), 1.0f};
    report.compare("kl_ref", got_kl, want_kl, 2);
  }
}

// The common tail of the loss checks: reduce, read the status (a failed input check or an
// overflow fails the check with its message), compare log-probs, entropy and, with a
// gradient, the loss statistics. Synchronises.
inline int finish_and_compare(OpReport& report, const DeviceTokens& d, size_t rows, const CpuLoss& want,
                              const LossOptionsCase& o, char* message, size_t message_size) {
  DAPO_CUDA_TRY(reduce_loss(rows, d.arrays, d.status), message, message_size);
  dapo_cuda_loss_stats stats{};
  if (int rc = finish_loss(d.status, d.prep, &stats, message, message_size)) return rc;
  std::vector<float> logprobs, entropy;
  DAPO_CUDA_TRY(download(&logprobs, d.logprobs, rows), message, message_size);
  DAPO_CUDA_TRY(download(&entropy, d.entropy, rows), message, message_size);
  report.compare("logprobs", logprobs.data(), want.logprobs.data(), rows);
  report.compare("entropy", entropy.data(), want.entropy.data(), rows);
  if (!o.logprobs_only) compare_stats(report, stats, want, o);
  return 0;
}

}  // namespace dapo::cuda::model::losscheck
