// Op checks "swiglu_forward" and "swiglu_backward" against swiglu_forward / swiglu_backward
// (native/model/layers.cc), run row by row on the CPU so the leading dimensions are exercised.
//   dims[0] rows     1 .. 2^22
//   dims[1] cols     1 .. 2^16
//   dims[2] fused    1: g and u are the two halves of one [rows, 2 cols + pad] buffer (the gate-up
//                    GEMM's output, u = g + cols); 0: two buffers of [rows, cols + pad]
//   dims[3] pad      values after each row (ld_in = (fused ? 2 cols : cols) + pad,
//                    ld_out = cols + pad), 0 .. 64; the padding must come back untouched
//   dims[4] in_place backward only: 1 writes dg / du over g / u
// Outputs: a (forward); dg, du (backward), each compared whole, padding included.
#include <algorithm>

#include "cuda/model/checks/layer_check_support.cuh"
#include "model/layers.h"

namespace dapo::cuda::model {
namespace {

using namespace checks;

struct GluCase {
  size_t rows = 0, cols = 0, fused = 0, pad = 0, in_place = 0, ld_in = 0, ld_out = 0;
  size_t u_at = 0;  // where u starts in its buffer (cols when fused)
  std::vector<float> g, u, out0;  // g and u buffers ([rows, ld_in]; u empty when fused), output buffer
};

int read_case(const OpCase& c, GluCase& k, CheckRng& rng, char* message, size_t message_size) {
  if (int rc = need_dim(c, 0, "rows", 1, int64_t{1} << 22, &k.rows, message, message_size)) return rc;
  if (int rc = need_dim(c, 1, "cols", 1, int64_t{1} << 16, &k.cols, message, message_size)) return rc;
  if (int rc = need_dim(c, 2, "fused", 0, 1, &k.fused, message, message_size)) return rc;
  if (int rc = need_dim(c, 3, "pad", 0, 64, &k.pad, message, message_size)) return rc;
  if (int rc = need_dim(c, 4, "in_place", 0, 1, &k.in_place, message, message_size)) return rc;
  k.ld_in = (k.fused ? 2 * k.cols : k.cols) + k.pad;
  k.ld_out = k.cols + k.pad;
  if (static_cast<int64_t>(k.rows * k.ld_in) > kMaxElements)
    return dapo::cuda::fail(DAPO_CUDA_ERR_ARGS, message, message_size, "swiglu check: rows * ld is above 2^28");
  k.u_at = k.fused ? k.cols : 0;
  k.g = random_values(rng, k.rows * k.ld_in, 2.0f, bf16_mode(c));  // gates over the sigmoid's whole range
  if (!k.fused) k.u = random_values(rng, k.rows * k.ld_in, 1.0f, bf16_mode(c));
  k.out0 = random_values(rng, k.rows * k.ld_out, 1.0f, bf16_mode(c));
  return 0;
}

template <typename T>
int run_forward(const OpCase& c, OpReport& report, char* message, size_t message_size) {
  CheckRng rng(c.seed);
  GluCase k;
  if (int rc = read_case(c, k, rng, message, message_size)) return rc;
  const std::vector<float>& ubuf = k.fused ? k.g : k.u;
  std::vector<float> want = k.out0;
  for (size_t r = 0; r < k.rows; ++r)
    dapo::swiglu_forward(k.g.data() + r * k.ld_in, ubuf.data() + r * k.ld_in + k.u_at, k.cols,
                         want.data() + r * k.ld_out);

  DeviceBuffer gd, ud, ad;
  DAPO_CUDA_TRY(upload_new<T>(gd, k.g), message, message_size);
  if (!k.fused) DAPO_CUDA_TRY(upload_new<T>(ud, k.u), message, message_size);
  DAPO_CUDA_TRY(upload_new<T>(ad, k.out0), message, message_size);
  const T* u = (k.fused ? gd.as<T>() : ud.as<T>()) + k.u_at;
  const auto op = [&] { return swiglu_forward<T>(gd.as<T>(), u, k.ld_in, k.rows, k.cols, ad.as<T>(), k.ld_out, 0); };
  if (int rc = timed(c, report, message, message_size, op)) return rc;
  return compare_device(report, "a", ad.as<T>(), want, message, message_size);
}

template <typename T>
int run_backward(const OpCase& c, OpReport& report, char* message, size_t message_size) {
  CheckRng rng(c.seed);
  GluCase k;
  if (int rc = read_case(c, k, rng, message, message_size)) return rc;
  const std::vector<float>& da = k.out0;
  // The gradient buffers start as copies of g / u (in place: they are g / u), else as noise.
  const std::vector<float> dg0 = k.in_place ? k.g : random_values(rng, k.g.size(), 1.0f, bf16_mode(c));
  const std::vector<float> du0 =
      k.fused ? std::vector<float>() : (k.in_place ? k.u : random_values(rng, k.u.size(), 1.0f, bf16_mode(c)));
  std::vector<float> want_dg = dg0, want_du = k.fused ? dg0 : du0;
  const std::vector<float>& ubuf = k.fused ? k.g : k.u;
  // Fused: dg and du are the two halves of one gradient buffer, like g and u.
  std::vector<float>& du_buf = k.fused ? want_dg : want_du;
  for (size_t r = 0; r < k.rows; ++r) {
    std::vector<float> dg_row(k.cols), du_row(k.cols);
    dapo::swiglu_backward(da.data() + r * k.ld_out, k.g.data() + r * k.ld_in, ubuf.data() + r * k.ld_in + k.u_at,
                          k.cols, dg_row.data(), du_row.data());
    std::copy(dg_row.begin(), dg_row.end(), want_dg.begin() + static_cast<std::ptrdiff_t>(r * k.ld_in));
    std::copy(du_row.begin(), du_row.end(), du_buf.begin() + static_cast<std::ptrdiff_t>(r * k.ld_in + k.u_at));
  }

  DeviceBuffer gd, ud, dad, dgd, dud;
  DAPO_CUDA_TRY(upload_new<T>(gd, k.g), message, message_size);
  if (!k.fused) DAPO_CUDA_TRY(upload_new<T>(ud, k.u), message, message_size);
  DAPO_CUDA_TRY(upload_new<T>(dad, da), message, message_size);
  if (!k.in_place) {
    DAPO_CUDA_TRY(upload_new<T>(dgd, dg0), message, message_size);
    if (!k.fused) DAPO_CUDA_TRY(upload_new<T>(dud, du0), message, message_size);
  }
  const T* g = gd.as<T>();
  const T* u = (k.fused ? gd.as<T>() : ud.as<T>()) + k.u_at;
  T* dg = k.in_place ? gd.as<T>() : dgd.as<T>();
  T* du_base = k.in_place ? (k.fused ? gd.as<T>() : ud.as<T>()) : (k.fused ? dgd.as<T>() : dud.as<T>());
  T* du = du_base + k.u_at;
  const auto op = [&] { return swiglu_backward<T>(dad.as<T>(), k.ld_out, g, u, k.ld_in, k.rows, k.cols, dg, du, 0); };
  if (int rc = timed(c, report, message, message_size, op)) return rc;
  if (int rc = compare_device(report, "dg", dg, want_dg, message, message_size)) return rc;  // fused: du's half too
  return k.fused ? 0 : compare_device(report, "du", du, want_du, message, message_size);
}

const OpCheckRegistration forward_registration("swiglu_forward", by_dtype<run_forward<float>, run_forward<bf16>>);
const OpCheckRegistration backward_registration("swiglu_backward", by_dtype<run_backward<float>, run_backward<bf16>>);

}  // namespace
}  // namespace dapo::cuda::model
