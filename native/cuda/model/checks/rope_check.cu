// Op checks "rope" and "rope_inverse": rope_apply against Rope::apply (native/model/rope.cc),
// with the tables of a dapo::Rope built from the case's parameters and uploaded, as the engine
// does.
//   dims[0] rows       1 .. 2^22
//   dims[1] heads      1 .. 256
//   dims[2] head_dim   even, 2 .. 512
//   dims[3] ld_pad     values after each row's heads (ld = heads * head_dim + ld_pad), 0 .. 8192
//                      (the k heads inside a fused q|k|v row); the padding must come back untouched
//   dims[4] positions  table length, 1 .. 2^20; each row's position is drawn in [0, positions)
//   params[0] rope_theta (0: 10000)
//   params[1] llama3 factor (0: default RoPE; > 0: llama3 scaling with low / high frequency
//             factors 1 and 4)
//   params[2] llama3 original max positions (0: 8192)
// Output: x (the rotated rows, padding included).
#include "cuda/model/checks/layer_check_support.cuh"
#include "model/rope.h"

namespace dapo::cuda::model {
namespace {

using namespace checks;

template <typename T, bool kInverse>
int run_rope(const OpCase& c, OpReport& report, char* message, size_t message_size) {
  const bool inverse = kInverse;
  size_t rows = 0, heads = 0, head_dim = 0, pad = 0, positions = 0;
  if (int rc = need_dim(c, 0, "rows", 1, int64_t{1} << 22, &rows, message, message_size)) return rc;
  if (int rc = need_dim(c, 1, "heads", 1, 256, &heads, message, message_size)) return rc;
  if (int rc = need_dim(c, 2, "head_dim", 2, 512, &head_dim, message, message_size)) return rc;
  if (int rc = need_dim(c, 3, "ld_pad", 0, 8192, &pad, message, message_size)) return rc;
  if (int rc = need_dim(c, 4, "positions", 1, int64_t{1} << 20, &positions, message, message_size)) return rc;
  if (head_dim % 2 != 0) return dapo::cuda::fail(DAPO_CUDA_ERR_ARGS, message, message_size, "rope check: head_dim must be even");
  const size_t ld = heads * head_dim + pad;
  if (static_cast<int64_t>(rows * ld) > kMaxElements || static_cast<int64_t>(positions * head_dim / 2) > kMaxElements)
    return dapo::cuda::fail(DAPO_CUDA_ERR_ARGS, message, message_size, "rope check: rows * ld or the tables are above 2^28 values");
  ModelConfig config;
  config.head_dim = head_dim;
  config.rope_theta = c.params[0] > 0 ? c.params[0] : 10000.0;
  config.rope_llama3 = c.params[1] > 0;
  if (config.rope_llama3) {
    config.rope_factor = c.params[1];
    if (c.params[2] > 0) config.rope_original_max_positions = c.params[2];
  }
  Rope rope;
  rope.init(config);
  rope.ensure(positions);
  const size_t half = rope.half_dim();
  const std::vector<float> cos_table(rope.cos_table(), rope.cos_table() + positions * half);
  const std::vector<float> sin_table(rope.sin_table(), rope.sin_table() + positions * half);

  CheckRng rng(c.seed);
  const std::vector<float> x = random_values(rng, rows * ld, 1.0f, bf16_mode(c));
  std::vector<int32_t> pos(rows);
  for (auto& p : pos) p = rng.below(static_cast<int32_t>(positions));
  std::vector<float> want = x;
  for (size_t r = 0; r < rows; ++r) rope.apply(want.data() + r * ld, heads, static_cast<size_t>(pos[r]), inverse);

  DeviceBuffer xd, posd, cosd, sind;
  DAPO_CUDA_TRY(upload_new<T>(xd, x), message, message_size);
  DAPO_CUDA_TRY(upload_raw(posd, pos), message, message_size);
  DAPO_CUDA_TRY(upload_raw(cosd, cos_table), message, message_size);
  DAPO_CUDA_TRY(upload_raw(sind, sin_table), message, message_size);
  const auto op = [&] {
    return rope_apply<T>(xd.as<T>(), rows, heads, head_dim, ld, posd.as<int32_t>(), cosd.as<float>(), sind.as<float>(),
                         inverse, 0);
  };
  if (int rc = timed(c, report, message, message_size, op)) return rc;
  return compare_device(report, "x", xd.as<T>(), want, message, message_size);
}

const OpCheckRegistration rope_registration("rope", by_dtype<run_rope<float, false>, run_rope<bf16, false>>);
const OpCheckRegistration inverse_registration("rope_inverse", by_dtype<run_rope<float, true>, run_rope<bf16, true>>);

}  // namespace
}  // namespace dapo::cuda::model
