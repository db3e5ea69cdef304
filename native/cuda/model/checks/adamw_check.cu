// Op checks of adamw.cu against global_norm and AdamW::step (native/optim/adamw.cc).
// "grad_norm": grad_norm_squared, compared as its square root with global_norm.
//   dims[0] n       parameters, 1 .. 2^28
//   dims[1] offset  elements added to the device pointer, 0 .. 3 (non-zero: unaligned path)
//   Output: norm.
// "adamw_update": grad_norm_squared then adamw_update (timed together: the step), against one
// AdamW::step with zero_grad, from random m, v (v >= 0) and a step counter at t - 1.
//   dims[0] n        parameters, 1 .. 2^28
//   dims[1] n_spans  1 .. min(n, 4096): [0, n) cut at random points, each span's decay drawn
//   dims[2] t        the step number this update takes, 1 .. 10^6 (bias corrections)
//   dims[3] compute  1: also write the compute copy (T) into its own buffer; 0: none (null)
//   dims[4] offset   elements added to every device pointer, 0 .. 3 (non-zero: scalar path)
//   params[0] lr (0: 1e-3), params[1] weight decay, params[2] clip_grad_norm (<= 0: none; the
//   gradient's norm is about sqrt(n), so 1 clips); beta1 0.9, beta2 0.999, eps 1e-8.
//   Outputs: w, m, v, g (zeroed), w_compute (when dims[3] is 1; in bf16 mode the rounding of w).
#include <algorithm>
#include <set>

#include "cuda/model/checks/layer_check_support.cuh"
#include "optim/adamw.h"

namespace dapo::cuda::model {
namespace {

using namespace checks;

int run_grad_norm(const OpCase& c, OpReport& report, char* message, size_t message_size) {
  size_t n = 0, offset = 0;
  if (int rc = need_dim(c, 0, "n", 1, kMaxElements, &n, message, message_size)) return rc;
  if (int rc = need_dim(c, 1, "offset", 0, 3, &offset, message, message_size)) return rc;
  CheckRng rng(c.seed);
  const std::vector<float> g = random_values(rng, n, 1.0f, false);
  const float want = static_cast<float>(dapo::global_norm(g.data(), n));

  DeviceBuffer gd, out, scratch;
  DAPO_CUDA_TRY(gd.alloc((n + offset) * sizeof(float)), message, message_size);
  DAPO_CUDA_TRY(upload_as(gd.as<float>() + offset, g), message, message_size);
  DAPO_CUDA_TRY(out.alloc(sizeof(double)), message, message_size);
  DAPO_CUDA_TRY(scratch.alloc(grad_norm_scratch_bytes(n)), message, message_size);
  const auto op = [&] {
    return grad_norm_squared(gd.as<float>() + offset, n, out.as<double>(), scratch.as<void>(), 0);
  };
  if (int rc = timed(c, report, message, message_size, op)) return rc;
  double squared = 0;
  DAPO_CUDA_TRY(cudaMemcpy(&squared, out.as<double>(), sizeof squared, cudaMemcpyDeviceToHost), message, message_size);
  const float got = static_cast<float>(std::sqrt(squared));
  report.compare("norm", &got, &want, 1);
  return 0;
}

// [0, n) cut into n_spans runs at distinct random points, each with a random decay flag.
std::vector<AdamW::Span> random_spans(CheckRng& rng, size_t n, size_t n_spans) {
  std::set<size_t> cuts;
  while (cuts.size() + 1 < n_spans) cuts.insert(1 + static_cast<size_t>(rng.next_u64() % (n - 1)));
  std::vector<AdamW::Span> spans;
  size_t begin = 0;
  cuts.insert(n);
  for (size_t end : cuts) {
    spans.push_back({begin, end, (rng.next_u64() & 1) != 0});
    begin = end;
  }
  return spans;
}

struct UpdateCase {
  size_t n = 0, n_spans = 0, t = 0, compute = 0, offset = 0;
  AdamWOptions o;
};

int read_update_case(const OpCase& c, UpdateCase& k, char* message, size_t message_size) {
  if (int rc = need_dim(c, 0, "n", 1, kMaxElements, &k.n, message, message_size)) return rc;
  if (int rc = need_dim(c, 1, "n_spans", 1, std::min<int64_t>(static_cast<int64_t>(k.n), 4096), &k.n_spans, message,
                        message_size))
    return rc;
  if (int rc = need_dim(c, 2, "t", 1, 1000000, &k.t, message, message_size)) return rc;
  if (int rc = need_dim(c, 3, "compute", 0, 1, &k.compute, message, message_size)) return rc;
  if (int rc = need_dim(c, 4, "offset", 0, 3, &k.offset, message, message_size)) return rc;
  k.o.lr = c.params[0] > 0 ? c.params[0] : 1e-3;
  k.o.beta1 = 0.9;
  k.o.beta2 = 0.999;
  k.o.eps = 1e-8;
  k.o.weight_decay = c.params[1];
  k.o.clip_grad_norm = c.params[2];
  return 0;
}

// n floats at offset into a fresh buffer.
cudaError_t upload_at(DeviceBuffer& buffer, const std::vector<float>& values, size_t offset) {
  cudaError_t s = buffer.alloc((values.size() + offset) * sizeof(float));
  return s == cudaSuccess ? upload_as(buffer.as<float>() + offset, values) : s;
}

template <typename T>
int run_update(const OpCase& c, OpReport& report, char* message, size_t message_size) {
  UpdateCase k;
  if (int rc = read_update_case(c, k, message, message_size)) return rc;
  const size_t n = k.n, at = k.offset;
  CheckRng rng(c.seed);
  const std::vector<float> w0 = random_values(rng, n, 0.5f, false);
  const std::vector<float> g0 = random_values(rng, n, 1.0f, false);
  const std::vector<float> m0 = random_values(rng, n, 0.01f, false);
  std::vector<float> v0 = random_values(rng, n, 0.01f, false);
  for (float& x : v0) x *= x;
  const std::vector<AdamW::Span> spans = random_spans(rng, n, k.n_spans);

  std::vector<float> want_w = w0, want_g = g0;
  AdamW opt;
  std::copy(m0.begin(), m0.end(), opt.moment(AdamW::Moment::First, n));
  std::copy(v0.begin(), v0.end(), opt.moment(AdamW::Moment::Second, n));
  opt.set_steps(k.t - 1);
  opt.step(want_w.data(), want_g.data(), spans, n, k.o, true);

  std::vector<AdamWSpanDevice> device_spans;
  for (const AdamW::Span& s : spans) device_spans.push_back({s.begin, s.end, s.decay ? 1 : 0});
  DeviceBuffer wd, gd, md, vd, spand, normd, scratch, computed;
  DAPO_CUDA_TRY(upload_at(wd, w0, at), message, message_size);
  DAPO_CUDA_TRY(upload_at(gd, g0, at), message, message_size);
  DAPO_CUDA_TRY(upload_at(md, m0, at), message, message_size);
  DAPO_CUDA_TRY(upload_at(vd, v0, at), message, message_size);
  DAPO_CUDA_TRY(upload_raw(spand, device_spans), message, message_size);
  DAPO_CUDA_TRY(normd.alloc(sizeof(double)), message, message_size);
  DAPO_CUDA_TRY(scratch.alloc(grad_norm_scratch_bytes(n)), message, message_size);
  DAPO_CUDA_TRY(computed.alloc((n + at) * sizeof(T)), message, message_size);
  float *w = wd.as<float>() + at, *g = gd.as<float>() + at, *m = md.as<float>() + at, *v = vd.as<float>() + at;
  T* compute = k.compute ? computed.as<T>() + at : nullptr;
  AdamWScalars s{k.o.lr, k.o.beta1, k.o.beta2, k.o.eps, k.o.weight_decay, k.o.clip_grad_norm, k.t};
  const auto step = [&] {
    const cudaError_t status = grad_norm_squared(g, n, normd.as<double>(), scratch.as<void>(), 0);
    if (status != cudaSuccess) return status;
    return adamw_update<T>(w, g, m, v, n, spand.as<AdamWSpanDevice>(), device_spans.size(), s, normd.as<double>(),
                           compute, 0);
  };
  if (int rc = timed(c, report, message, message_size, step)) return rc;

  const std::vector<float> zeros(n, 0.0f);
  if (int rc = compare_device(report, "w", w, want_w, message, message_size)) return rc;
  if (int rc = compare_device(report, "m", m, opt.m(), message, message_size)) return rc;
  if (int rc = compare_device(report, "v", v, opt.v(), message, message_size)) return rc;
  if (int rc = compare_device(report, "g", g, zeros, message, message_size)) return rc;
  return compute ? compare_device(report, "w_compute", compute, want_w, message, message_size) : 0;
}

const OpCheckRegistration norm_registration("grad_norm", run_grad_norm);
const OpCheckRegistration update_registration("adamw_update", by_dtype<run_update<float>, run_update<bf16>>);

}  // namespace
}  // namespace dapo::cuda::model
