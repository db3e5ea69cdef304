// Op checks of rmsnorm.cu against rmsnorm_forward / rmsnorm_backward (native/model/layers.cc).
//   dims[0] rows  1 .. 2^24
//   dims[1] dim   1 .. 2^16 (rows * dim <= 2^28)
//   params[0] eps (0: 1e-6)
// "rmsnorm_forward": dims[2] in_place (1: y written over x); outputs y, rstd.
// "add_rmsnorm_forward": dims[2] in_place (1: sum_out is a, as the engine's residual stream);
//   outputs sum, y, rstd. Twin: sum = a + b rounded to T, then rmsnorm_forward of it.
// "rmsnorm_backward": dims[2] accumulate_dx (1: dx starts random and is added to), dims[3] dw
//   (1: the weight gradient too, starting random); outputs dx and dw. The rstd the op reads is
//   the CPU forward's on the same x. The CPU backward is itself checked against finite
//   differences in the CPU suite (test/policy-grad.test.ts).
#include "cuda/model/checks/layer_check_support.cuh"
#include "model/layers.h"

namespace dapo::cuda::model {
namespace {

using namespace checks;

struct NormCase {
  size_t rows = 0, dim = 0;
  float eps = 1e-6f;
  std::vector<float> x, w;  // x: the input (forward) or the forward's input (backward)
};

int read_case(const OpCase& c, NormCase& n, CheckRng& rng, char* message, size_t message_size) {
  if (int rc = need_dim(c, 0, "rows", 1, int64_t{1} << 24, &n.rows, message, message_size)) return rc;
  if (int rc = need_dim(c, 1, "dim", 1, int64_t{1} << 16, &n.dim, message, message_size)) return rc;
  if (static_cast<int64_t>(n.rows * n.dim) > kMaxElements)
    return dapo::cuda::fail(DAPO_CUDA_ERR_ARGS, message, message_size, "rmsnorm check: rows * dim is above 2^28");
  if (c.params[0] < 0) return dapo::cuda::fail(DAPO_CUDA_ERR_ARGS, message, message_size, "rmsnorm check: eps < 0");
  if (c.params[0] > 0) n.eps = static_cast<float>(c.params[0]);
  n.x = random_values(rng, n.rows * n.dim, 1.0f, bf16_mode(c));
  n.w = random_values(rng, n.dim, 0.2f, false);
  for (float& v : n.w) v += 1.0f;  // around 1, as trained norms are
  if (bf16_mode(c)) round_to_bf16(n.w.data(), n.w.size());
  return 0;
}

template <typename T>
int run_forward(const OpCase& c, OpReport& report, char* message, size_t message_size) {
  CheckRng rng(c.seed);
  NormCase n;
  if (int rc = read_case(c, n, rng, message, message_size)) return rc;
  size_t in_place = 0;
  if (int rc = need_dim(c, 2, "in_place", 0, 1, &in_place, message, message_size)) return rc;
  std::vector<float> want_y(n.x.size()), want_rstd(n.rows);
  dapo::rmsnorm_forward(n.x.data(), n.w.data(), n.rows, n.dim, n.eps, want_y.data(), want_rstd.data());

  DeviceBuffer x, w, y, rstd;
  DAPO_CUDA_TRY(upload_new<T>(x, n.x), message, message_size);
  DAPO_CUDA_TRY(upload_new<T>(w, n.w), message, message_size);
  DAPO_CUDA_TRY(y.alloc(n.x.size() * sizeof(T)), message, message_size);
  DAPO_CUDA_TRY(rstd.alloc(n.rows * sizeof(float)), message, message_size);
  T* out = in_place ? x.as<T>() : y.as<T>();
  const auto op = [&] {
    return rmsnorm_forward<T>(x.as<T>(), w.as<T>(), n.rows, n.dim, n.eps, out, rstd.as<float>(), 0);
  };
  if (int rc = timed(c, report, message, message_size, op)) return rc;
  if (int rc = compare_device(report, "y", out, want_y, message, message_size)) return rc;
  return compare_device(report, "rstd", rstd.as<float>(), want_rstd, message, message_size);
}

template <typename T>
int run_add_forward(const OpCase& c, OpReport& report, char* message, size_t message_size) {
  CheckRng rng(c.seed);
  NormCase n;
  if (int rc = read_case(c, n, rng, message, message_size)) return rc;
  size_t in_place = 0;
  if (int rc = need_dim(c, 2, "in_place", 0, 1, &in_place, message, message_size)) return rc;
  const std::vector<float>& a = n.x;
  const std::vector<float> b = random_values(rng, a.size(), 0.5f, bf16_mode(c));
  std::vector<float> want_sum(a.size()), want_y(a.size()), want_rstd(n.rows);
  for (size_t i = 0; i < a.size(); ++i) want_sum[i] = a[i] + b[i];
  if (bf16_mode(c)) round_to_bf16(want_sum.data(), want_sum.size());
  dapo::rmsnorm_forward(want_sum.data(), n.w.data(), n.rows, n.dim, n.eps, want_y.data(), want_rstd.data());

  DeviceBuffer ad, bd, w, sum, y, rstd;
  DAPO_CUDA_TRY(upload_new<T>(ad, a), message, message_size);
  DAPO_CUDA_TRY(upload_new<T>(bd, b), message, message_size);
  DAPO_CUDA_TRY(upload_new<T>(w, n.w), message, message_size);
  DAPO_CUDA_TRY(sum.alloc(a.size() * sizeof(T)), message, message_size);
  DAPO_CUDA_TRY(y.alloc(a.size() * sizeof(T)), message, message_size);
  DAPO_CUDA_TRY(rstd.alloc(n.rows * sizeof(float)), message, message_size);
  T* sum_out = in_place ? ad.as<T>() : sum.as<T>();
  const auto op = [&] {
    return add_rmsnorm_forward<T>(ad.as<T>(), bd.as<T>(), w.as<T>(), n.rows, n.dim, n.eps, sum_out, y.as<T>(),
                                  rstd.as<float>(), 0);
  };
  if (int rc = timed(c, report, message, message_size, op)) return rc;
  if (int rc = compare_device(report, "sum", sum_out, want_sum, message, message_size)) return rc;
  if (int rc = compare_device(report, "y", y.as<T>(), want_y, message, message_size)) return rc;
  return compare_device(report, "rstd", rstd.as<float>(), want_rstd, message, message_size);
}

template <typename T>
int run_backward(const OpCase& c, OpReport& report, char* message, size_t message_size) {
  CheckRng rng(c.seed);
  NormCase n;
  if (int rc = read_case(c, n, rng, message, message_size)) return rc;
  size_t accumulate = 0, with_dw = 0;
  if (int rc = need_dim(c, 2, "accumulate_dx", 0, 1, &accumulate, message, message_size)) return rc;
  if (int rc = need_dim(c, 3, "dw", 0, 1, &with_dw, message, message_size)) return rc;
  const size_t count = n.x.size();
  std::vector<float> y(count), rstd(n.rows);
  dapo::rmsnorm_forward(n.x.data(), n.w.data(), n.rows, n.dim, n.eps, y.data(), rstd.data());
  const std::vector<float> dy = random_values(rng, count, 1.0f, bf16_mode(c));
  const std::vector<float> dx0 = random_values(rng, count, 1.0f, bf16_mode(c));
  const std::vector<float> dw0 = random_values(rng, n.dim, 1.0f, false);
  std::vector<float> want_dx = dx0, want_dw = dw0;
  dapo::rmsnorm_backward(dy.data(), n.x.data(), n.w.data(), rstd.data(), n.rows, n.dim, want_dx.data(), accumulate != 0,
                   with_dw ? want_dw.data() : nullptr);

  DeviceBuffer dyd, xd, wd, rstdd, dxd, dwd, scratch;
  DAPO_CUDA_TRY(upload_new<T>(dyd, dy), message, message_size);
  DAPO_CUDA_TRY(upload_new<T>(xd, n.x), message, message_size);
  DAPO_CUDA_TRY(upload_new<T>(wd, n.w), message, message_size);
  DAPO_CUDA_TRY(upload_new<float>(rstdd, rstd), message, message_size);
  DAPO_CUDA_TRY(upload_new<T>(dxd, dx0), message, message_size);
  DAPO_CUDA_TRY(upload_new<float>(dwd, dw0), message, message_size);
  DAPO_CUDA_TRY(scratch.alloc(rmsnorm_backward_scratch_bytes(n.rows, n.dim)), message, message_size);
  const auto op = [&] {
    return rmsnorm_backward<T>(dyd.as<T>(), xd.as<T>(), wd.as<T>(), rstdd.as<float>(), n.rows, n.dim, dxd.as<T>(),
                               accumulate != 0, with_dw ? dwd.as<float>() : nullptr, scratch.as<void>(), 0);
  };
  if (int rc = timed(c, report, message, message_size, op)) return rc;
  if (int rc = compare_device(report, "dx", dxd.as<T>(), want_dx, message, message_size)) return rc;
  return compare_device(report, "dw", dwd.as<float>(), want_dw, message, message_size);  // as it was without dw
}

const OpCheckRegistration forward_registration("rmsnorm_forward", by_dtype<run_forward<float>, run_forward<bf16>>);
const OpCheckRegistration add_forward_registration("add_rmsnorm_forward",
                                                   by_dtype<run_add_forward<float>, run_add_forward<bf16>>);
const OpCheckRegistration backward_registration("rmsnorm_backward", by_dtype<run_backward<float>, run_backward<bf16>>);

}  // namespace
}  // namespace dapo::cuda::model
