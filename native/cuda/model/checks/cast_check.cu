// Op check "cast": fp32 -> T and T -> fp32 (T the case's dtype; in fp32 mode both are copies).
//   dims[0] n       elements, 1 .. 2^28
//   dims[1] offset  elements added to both device pointers (0 .. 7): a non-zero offset breaks the
//                   16-byte alignment and takes the scalar path
// Outputs: to_t (cast<T, float> against the host's round-to-nearest-even), to_f32 (cast<float, T>
// of bf16-exact values: exact). Twin: round_to_bf16 (op_check.cuh) and the identity.
#include "cuda/model/checks/layer_check_support.cuh"

namespace dapo::cuda::model {
namespace {

using namespace checks;

template <typename T>
int run_cast(const OpCase& c, OpReport& report, char* message, size_t message_size) {
  size_t n = 0, offset = 0;
  if (int rc = need_dim(c, 0, "n", 1, kMaxElements, &n, message, message_size)) return rc;
  if (int rc = need_dim(c, 1, "offset", 0, 7, &offset, message, message_size)) return rc;
  CheckRng rng(c.seed);
  const std::vector<float> x = random_values(rng, n, 2.0f, false);  // not rounded: to_t must round
  std::vector<float> want_t = x;
  if (bf16_mode(c)) round_to_bf16(want_t.data(), n);

  DeviceBuffer src32, dst_t, dst32;
  DAPO_CUDA_TRY(src32.alloc((n + offset) * sizeof(float)), message, message_size);
  DAPO_CUDA_TRY(dst_t.alloc((n + offset) * sizeof(T)), message, message_size);
  DAPO_CUDA_TRY(dst32.alloc((n + offset) * sizeof(float)), message, message_size);
  float* s32 = src32.as<float>() + offset;
  T* dt = dst_t.as<T>() + offset;
  float* d32 = dst32.as<float>() + offset;
  DAPO_CUDA_TRY(upload_as(s32, x), message, message_size);

  const auto op = [&] { return cast<T, float>(s32, dt, n, 0); };
  if (int rc = timed(c, report, message, message_size, op)) return rc;
  if (int rc = finish_op(cast<float, T>(dt, d32, n, 0), c, message, message_size)) return rc;

  if (int rc = compare_device(report, "to_t", dt, want_t, message, message_size)) return rc;
  return compare_device(report, "to_f32", d32, want_t, message, message_size);
}

const OpCheckRegistration registration("cast", by_dtype<run_cast<float>, run_cast<bf16>>);

}  // namespace
}  // namespace dapo::cuda::model
