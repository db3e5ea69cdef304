// Op check "row_loss": one variant of the fused row sweep (row_loss.cuh) against the CPU loss
// kernels (native/loss/dapo_loss.cc for the DAPO term, native/model/nll_loss.cc for NLL) on
// random logits, through prepare_loss / reduce_loss / finish_loss as the entry points use it.
//   dims:   [n rows, vocab, variant (-1: the plan table's choice, else RowLossVariant), in place 0|1]
//   params: [temperature (0: 1), kl_coef, term (0 DAPO, 1 NLL), 1: log-probs only (no gradient)]
// Outputs: grad (d loss / d logits; in place over bf16 logits it is bf16), logprobs, entropy,
// loss (and kl_ref with kl_coef > 0). A variant that cannot run the shape on this device is
// refused with DAPO_CUDA_ERR_ARGS and the reason, so a table row never passes by falling back.
#include <string>

#include "cuda/model/checks/loss_check_inputs.cuh"
#include "cuda/row_loss.cuh"

namespace dapo::cuda::model {
namespace {

using namespace losscheck;

int fail_args(const OpCase& c, const std::string& text, char* message, size_t message_size) {
  std::snprintf(message, message_size, "%s: %s", c.op, text.c_str());
  return DAPO_CUDA_ERR_ARGS;
}

int check_row_loss(const OpCase& c, OpReport& report, char* message, size_t message_size) {
  const int64_t n = c.dims[0], v = c.dims[1], variant = c.dims[2], in_place = c.dims[3];
  if (n < 1 || v < 1 || n * v > (int64_t{1} << 28))
    return fail_args(c, "dims[0] (rows) and dims[1] (vocab) must be >= 1, rows x vocab <= 2^28", message, message_size);
  if (variant < -1 || variant >= kRowVariants)
    return fail_args(c, "dims[2] (variant) must be -1 or a RowLossVariant", message, message_size);
  if (in_place != 0 && in_place != 1) return fail_args(c, "dims[3] (in place) must be 0 or 1", message, message_size);
  LossOptionsCase o;
  if (!options_of(c, &o, message, message_size)) return DAPO_CUDA_ERR_ARGS;
  if (in_place && o.logprobs_only) return fail_args(c, "in place needs a gradient", message, message_size);

  // Inputs: logits in the case's dtype (the CPU sees the same rounded values), tempered for the CPU.
  CheckRng rng(c.seed);
  const size_t rows = static_cast<size_t>(n), vocab = static_cast<size_t>(v), count = rows * vocab;
  std::vector<float> x(count);
  rng.fill_normal(x.data(), count, 2.5f);
  if (c.dtype == DAPO_CUDA_BF16) round_to_bf16(x.data(), count);
  const std::vector<float> z = tempered(x, o.temperature);
  const TokenInputs tokens = random_tokens(rng, z.data(), rows, vocab);
  const CpuLoss want = cpu_loss(z, rows, vocab, tokens, o);

  Scratch scratch;
  DeviceTokens d;
  DAPO_CUDA_TRY(stage_tokens(scratch, tokens, rows, vocab, o, &d), message, message_size);
  const std::vector<uint8_t> x_bytes = as_dtype(x, c.dtype);
  uint8_t* logits = nullptr;
  DAPO_CUDA_TRY(upload(scratch, x_bytes.data(), x_bytes.size(), &logits), message, message_size);
  const int grad_dtype = in_place ? c.dtype : DAPO_CUDA_F32;
  void* grad = nullptr;
  if (in_place) grad = logits;
  else if (!o.logprobs_only) DAPO_CUDA_TRY(scratch.alloc(&grad, count * 4), message, message_size);

  RowLossParams p;
  p.logits = logits;
  p.dtype = c.dtype;
  p.vocab = p.ld = vocab;
  p.rows = rows;
  p.grad = grad;
  p.grad_dtype = grad_dtype;
  p.grad_ld = vocab;
  p.tokens = d.arrays;
  if (o.logprobs_only) {  // as the engine's logprobs() runs it: no weights, records or status
    TokenArrays bare;
    bare.tokens = d.arrays.tokens;
    bare.logprobs_out = d.logprobs;
    bare.entropy_out = d.entropy;
    p.tokens = bare;
  }
  p.clip = ClipConfig{0.2f, 0.28f, 3.0f, true};
  p.entropy = true;
  p.temperature = o.temperature;
  p.term = o.term;
  p.kl_coef = o.kl_coef;
  RowLossPlan plan = plan_row_loss(p);
  const char* why = "";
  if (variant >= 0 && !plan_row_loss_variant(p, static_cast<int>(variant), &plan, &why))
    return fail_args(c, std::string(row_loss_variant_name(static_cast<int>(variant))) + " cannot run this shape here: " + why,
                     message, message_size);

  EventTimer timer;
  DAPO_CUDA_TRY(timer.start(), message, message_size);
  DAPO_CUDA_TRY(launch_row_loss_plan(p, plan), message, message_size);
  DAPO_CUDA_TRY(timer.stop(), message, message_size);
  if (int rc = finish_and_compare(report, d, rows, want, o, message, message_size)) return rc;
  report.cuda_ms = timer.elapsed();
  if (grad) {
    std::vector<uint8_t> grad_bytes;
    DAPO_CUDA_TRY(download(&grad_bytes, static_cast<const uint8_t*>(grad), count * (grad_dtype == DAPO_CUDA_F32 ? 4 : 2)),
                  message, message_size);
    const std::vector<float> got = widen(grad_bytes, grad_dtype);
    report.compare("grad", got.data(), want.grad.data(), count);
  }
  return 0;
}

static const OpCheckRegistration registration("row_loss", check_row_loss);

}  // namespace
}  // namespace dapo::cuda::model
