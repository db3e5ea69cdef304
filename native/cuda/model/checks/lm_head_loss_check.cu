// Op check "lm_head_loss": the chunked LM head and loss (lm_head_loss.cuh) against a plain CPU
// statement of it: logits = X W^T (double sums), divided by the temperature, the CPU loss kernel
// on them, then dX = G W and dW = dW0 + G^T X. grad_weight starts from random values, so the
// check also holds the contract that it is accumulated, never overwritten.
//   dims:   [n rows, hidden, vocab, chunk_rows (0: the default)]
//   params: [temperature (0: 1), kl_coef, term (0 DAPO, 1 NLL), 1: log-probs only (no gradients)]
// dtype is that of X, W and grad_hidden (fp32: the engine's test mode; bf16: what users run).
#include "cuda/lm_head_loss.cuh"
#include "cuda/model/checks/loss_check_inputs.cuh"

namespace dapo::cuda::model {
namespace {

using namespace losscheck;

struct CpuHead {
  std::vector<float> dx, dw;
};

// dX = G W and dW = dW0 + G^T X, in double.
CpuHead cpu_head_grads(const std::vector<float>& g, const std::vector<float>& x, const std::vector<float>& w,
                       const std::vector<float>& dw0, size_t n, size_t h, size_t v) {
  CpuHead out;
  out.dx.assign(n * h, 0.0f);
  std::vector<double> acc(h);
  for (size_t i = 0; i < n; ++i) {
    std::fill(acc.begin(), acc.end(), 0.0);
    for (size_t j = 0; j < v; ++j) {
      const double gij = g[i * v + j];
      if (gij == 0) continue;
      for (size_t k = 0; k < h; ++k) acc[k] += gij * w[j * h + k];
    }
    for (size_t k = 0; k < h; ++k) out.dx[i * h + k] = static_cast<float>(acc[k]);
  }
  out.dw.resize(v * h);
  for (size_t j = 0; j < v; ++j) {
    std::fill(acc.begin(), acc.end(), 0.0);
    for (size_t i = 0; i < n; ++i) {
      const double gij = g[i * v + j];
      if (gij == 0) continue;
      for (size_t k = 0; k < h; ++k) acc[k] += gij * x[i * h + k];
    }
    for (size_t k = 0; k < h; ++k) out.dw[j * h + k] = static_cast<float>(dw0[j * h + k] + acc[k]);
  }
  return out;
}

int check_lm_head_loss(const OpCase& c, OpReport& report, char* message, size_t message_size) {
  const int64_t n = c.dims[0], h = c.dims[1], v = c.dims[2], chunk = c.dims[3];
  if (n < 1 || h < 1 || v < 1 || chunk < 0 || n * v > (int64_t{1} << 26) || v * h > (int64_t{1} << 26)) {
    std::snprintf(message, message_size, "%s: dims are [n >= 1, hidden >= 1, vocab >= 1, chunk_rows >= 0], "
                  "n x vocab and vocab x hidden <= 2^26", c.op);
    return DAPO_CUDA_ERR_ARGS;
  }
  LossOptionsCase o;
  if (!options_of(c, &o, message, message_size)) return DAPO_CUDA_ERR_ARGS;
  const size_t rows = static_cast<size_t>(n), hidden = static_cast<size_t>(h), vocab = static_cast<size_t>(v);

  CheckRng rng(c.seed);
  std::vector<float> x(rows * hidden), w(vocab * hidden), dw0(vocab * hidden);
  rng.fill_normal(x.data(), x.size(), 1.0f);
  rng.fill_normal(w.data(), w.size(), 2.0f / std::sqrt(static_cast<float>(hidden)));
  rng.fill_normal(dw0.data(), dw0.size(), 1e-3f);  // beside G^T X, yet plain to see if overwritten
  if (c.dtype == DAPO_CUDA_BF16) {
    round_to_bf16(x.data(), x.size());
    round_to_bf16(w.data(), w.size());
  }
  std::vector<float> logits(rows * vocab);
  for (size_t i = 0; i < rows; ++i)
    for (size_t j = 0; j < vocab; ++j) {
      double s = 0;
      for (size_t k = 0; k < hidden; ++k) s += static_cast<double>(x[i * hidden + k]) * w[j * hidden + k];
      logits[i * vocab + j] = static_cast<float>(s);
    }
  const std::vector<float> z = tempered(logits, o.temperature);
  const TokenInputs tokens = random_tokens(rng, z.data(), rows, vocab);
  const CpuLoss want = cpu_loss(z, rows, vocab, tokens, o);

  Scratch scratch;
  DeviceTokens d;
  DAPO_CUDA_TRY(stage_tokens(scratch, tokens, rows, vocab, o, &d), message, message_size);
  const std::vector<uint8_t> x_bytes = as_dtype(x, c.dtype), w_bytes = as_dtype(w, c.dtype);
  uint8_t *dx_dev = nullptr, *x_dev = nullptr, *w_dev = nullptr;
  float* dw_dev = nullptr;
  DAPO_CUDA_TRY(upload(scratch, x_bytes.data(), x_bytes.size(), &x_dev), message, message_size);
  DAPO_CUDA_TRY(upload(scratch, w_bytes.data(), w_bytes.size(), &w_dev), message, message_size);
  if (!o.logprobs_only) {
    DAPO_CUDA_TRY(upload(scratch, dw0.data(), dw0.size(), &dw_dev), message, message_size);
    DAPO_CUDA_TRY(scratch.alloc(reinterpret_cast<void**>(&dx_dev), x_bytes.size()), message, message_size);
  }

  LmHeadLossParams p;
  p.n = rows;
  p.hidden = hidden;
  p.vocab = vocab;
  p.dtype = c.dtype;
  p.hidden_states = x_dev;
  p.weight = w_dev;
  p.grad_hidden = dx_dev;
  p.grad_weight = dw_dev;
  p.tokens = d.arrays;
  p.clip = ClipConfig{0.2f, 0.28f, 3.0f, true};
  p.term = o.term;
  p.kl_coef = o.kl_coef;
  p.temperature = o.temperature;
  p.entropy = true;
  p.chunk_rows = static_cast<size_t>(chunk);
  EventTimer timer;
  DAPO_CUDA_TRY(timer.start(), message, message_size);
  if (int rc = lm_head_loss(p, scratch, 0, message, message_size)) return rc;
  DAPO_CUDA_TRY(timer.stop(), message, message_size);
  if (int rc = finish_and_compare(report, d, rows, want, o, message, message_size)) return rc;
  report.cuda_ms = timer.elapsed();
  if (o.logprobs_only) return 0;
  const CpuHead head = cpu_head_grads(want.grad, x, w, dw0, rows, hidden, vocab);
  std::vector<uint8_t> dx_bytes;
  std::vector<float> dw;
  DAPO_CUDA_TRY(download(&dx_bytes, dx_dev, x_bytes.size()), message, message_size);
  DAPO_CUDA_TRY(download(&dw, dw_dev, dw0.size()), message, message_size);
  const std::vector<float> dx = widen(dx_bytes, c.dtype);
  report.compare("grad_hidden", dx.data(), head.dx.data(), dx.size());
  report.compare("grad_weight", dw.data(), head.dw.data(), dw.size());
  return 0;
}

static const OpCheckRegistration registration("lm_head_loss", check_lm_head_loss);

}  // namespace
}  // namespace dapo::cuda::model
