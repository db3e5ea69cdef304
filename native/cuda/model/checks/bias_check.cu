// Op checks "add_bias" and "add_column_sums" against add_bias / add_column_sums
// (native/model/layers.cc): qwen2's q, k, v biases and their gradients.
//   dims[0] rows  1 .. 2^22
//   dims[1] cols  1 .. 2^16
//   dims[2] pad   values after each row (ld = cols + pad), 0 .. 8192 (k or v inside a q|k|v row)
// Outputs: x (add_bias, padding included: it must stay as it was); sums (add_column_sums, added
// to a random fp32 start so the += is checked).
#include "cuda/model/checks/layer_check_support.cuh"
#include "model/layers.h"

namespace dapo::cuda::model {
namespace {

using namespace checks;

struct BiasCase {
  size_t rows = 0, cols = 0, pad = 0, ld = 0;
};

int read_case(const OpCase& c, BiasCase& k, char* message, size_t message_size) {
  if (int rc = need_dim(c, 0, "rows", 1, int64_t{1} << 22, &k.rows, message, message_size)) return rc;
  if (int rc = need_dim(c, 1, "cols", 1, int64_t{1} << 16, &k.cols, message, message_size)) return rc;
  if (int rc = need_dim(c, 2, "pad", 0, 8192, &k.pad, message, message_size)) return rc;
  k.ld = k.cols + k.pad;
  if (static_cast<int64_t>(k.rows * k.ld) > kMaxElements)
    return dapo::cuda::fail(DAPO_CUDA_ERR_ARGS, message, message_size, "bias check: rows * ld is above 2^28");
  return 0;
}

template <typename T>
int run_add_bias(const OpCase& c, OpReport& report, char* message, size_t message_size) {
  BiasCase k;
  if (int rc = read_case(c, k, message, message_size)) return rc;
  CheckRng rng(c.seed);
  const std::vector<float> x = random_values(rng, k.rows * k.ld, 1.0f, bf16_mode(c));
  const std::vector<float> b = random_values(rng, k.cols, 0.5f, bf16_mode(c));
  std::vector<float> want = x;
  for (size_t r = 0; r < k.rows; ++r) dapo::add_bias(want.data() + r * k.ld, 1, k.cols, b.data());

  DeviceBuffer xd, bd;
  DAPO_CUDA_TRY(upload_new<T>(xd, x), message, message_size);
  DAPO_CUDA_TRY(upload_new<T>(bd, b), message, message_size);
  const auto op = [&] { return add_bias<T>(xd.as<T>(), k.rows, k.cols, k.ld, bd.as<T>(), 0); };
  if (int rc = timed(c, report, message, message_size, op)) return rc;
  return compare_device(report, "x", xd.as<T>(), want, message, message_size);
}

template <typename T>
int run_column_sums(const OpCase& c, OpReport& report, char* message, size_t message_size) {
  BiasCase k;
  if (int rc = read_case(c, k, message, message_size)) return rc;
  CheckRng rng(c.seed);
  const std::vector<float> x = random_values(rng, k.rows * k.ld, 1.0f, bf16_mode(c));
  const std::vector<float> out0 = random_values(rng, k.cols, 1.0f, false);
  std::vector<float> want = out0;
  const std::vector<float> packed = compact_rows(x, k.rows, k.cols, k.ld);
  dapo::add_column_sums(packed.data(), k.rows, k.cols, want.data());

  DeviceBuffer xd, outd, scratch;
  DAPO_CUDA_TRY(upload_new<T>(xd, x), message, message_size);
  DAPO_CUDA_TRY(upload_new<float>(outd, out0), message, message_size);
  DAPO_CUDA_TRY(scratch.alloc(column_sums_scratch_bytes(k.rows, k.cols)), message, message_size);
  const auto op = [&] {
    return add_column_sums<T>(xd.as<T>(), k.rows, k.cols, k.ld, outd.as<float>(), scratch.as<void>(), 0);
  };
  if (int rc = timed(c, report, message, message_size, op)) return rc;
  return compare_device(report, "sums", outd.as<float>(), want, message, message_size);
}

const OpCheckRegistration bias_registration("add_bias", by_dtype<run_add_bias<float>, run_add_bias<bf16>>);
const OpCheckRegistration sums_registration("add_column_sums", by_dtype<run_column_sums<float>, run_column_sums<bf16>>);

}  // namespace
}  // namespace dapo::cuda::model
