// Op check "gemm": Gemm::run (cuBLASLt) against dapo::sgemm (native/model/gemm.cc), row-major
// D[m, n] = alpha op(A) op(B) + beta C.
//   dims[0] m, dims[1] n, dims[2] k   1 .. 2^16 each (every matrix at most 2^28 elements)
//   dims[3] trans_a (0/1): A stored [k, m] instead of [m, k]
//   dims[4] trans_b (0/1): B stored [n, k] instead of [k, n]
//   dims[5] c_mode  0: no C (beta must be 0); 1: C a separate buffer; 2: C is D (in place)
//   dims[6] pad     values after each stored row of A, B, C and D (ld = row length + pad), 0 .. 64;
//                   D's padding must come back untouched
//   dims[7] cd_f32  bf16 mode only: 1 makes C and D fp32 (bf16 x bf16 -> f32, the weight
//                   gradients); 0 keeps them bf16. The fp32 mode is f32 throughout.
//   params[0] alpha (0: 1), params[1] beta
// The op runs twice: the first call builds and caches the shape's plan, the second (timed, and
// the one compared; in place, D is restored in between) only enqueues the matmul, the path a
// captured CUDA graph replays. Output: d (the whole buffer, padding included). The CPU product
// runs in fp32 on the same (bf16-rounded) inputs; alpha and beta are applied in fp32.
#include "cuda/model/checks/layer_check_support.cuh"
#include "model/gemm.h"

namespace dapo::cuda::model {
namespace {

using namespace checks;

struct GemmCase {
  size_t m = 0, n = 0, k = 0, trans_a = 0, trans_b = 0, c_mode = 0, pad = 0, cd_f32 = 0;
  float alpha = 1, beta = 0;
  size_t lda = 0, ldb = 0, ldd = 0;
  size_t a_rows() const { return trans_a ? k : m; }
  size_t b_rows() const { return trans_b ? n : k; }
};

int read_case(const OpCase& c, GemmCase& g, char* message, size_t message_size) {
  const int64_t big = int64_t{1} << 16;
  if (int rc = need_dim(c, 0, "m", 1, big, &g.m, message, message_size)) return rc;
  if (int rc = need_dim(c, 1, "n", 1, big, &g.n, message, message_size)) return rc;
  if (int rc = need_dim(c, 2, "k", 1, big, &g.k, message, message_size)) return rc;
  if (int rc = need_dim(c, 3, "trans_a", 0, 1, &g.trans_a, message, message_size)) return rc;
  if (int rc = need_dim(c, 4, "trans_b", 0, 1, &g.trans_b, message, message_size)) return rc;
  if (int rc = need_dim(c, 5, "c_mode", 0, 2, &g.c_mode, message, message_size)) return rc;
  if (int rc = need_dim(c, 6, "pad", 0, 64, &g.pad, message, message_size)) return rc;
  if (int rc = need_dim(c, 7, "cd_f32", 0, 1, &g.cd_f32, message, message_size)) return rc;
  g.alpha = c.params[0] != 0 ? static_cast<float>(c.params[0]) : 1.0f;
  g.beta = static_cast<float>(c.params[1]);
  if (g.c_mode == 0 && g.beta != 0)
    return dapo::cuda::fail(DAPO_CUDA_ERR_ARGS, message, message_size, "gemm check: c_mode 0 (no C) needs beta 0");
  g.lda = (g.trans_a ? g.m : g.k) + g.pad;
  g.ldb = (g.trans_b ? g.k : g.n) + g.pad;
  g.ldd = g.n + g.pad;
  if (static_cast<int64_t>(g.a_rows() * g.lda) > kMaxElements ||
      static_cast<int64_t>(g.b_rows() * g.ldb) > kMaxElements || static_cast<int64_t>(g.m * g.ldd) > kMaxElements)
    return dapo::cuda::fail(DAPO_CUDA_ERR_ARGS, message, message_size, "gemm check: a matrix is above 2^28 elements");
  return 0;
}

// want (D's buffer, padded) = alpha A B + beta C where C is `c` (or nothing), on the CPU.
std::vector<float> cpu_product(const GemmCase& g, const std::vector<float>& a, const std::vector<float>& b,
                               const std::vector<float>* c, const std::vector<float>& d0) {
  std::vector<float> p(g.m * g.n);
  GemmArgs args;
  args.m = g.m;
  args.n = g.n;
  args.k = g.k;
  args.a = a.data();
  args.a_row = g.trans_a ? 1 : g.lda;
  args.a_col = g.trans_a ? g.lda : 1;
  args.b = b.data();
  args.b_row = g.trans_b ? 1 : g.ldb;
  args.b_col = g.trans_b ? g.ldb : 1;
  args.c = p.data();
  args.ldc = g.n;
  dapo::sgemm(args);
  std::vector<float> want = d0;
  for (size_t i = 0; i < g.m; ++i)
    for (size_t j = 0; j < g.n; ++j) {
      float v = g.alpha * p[i * g.n + j];
      if (c) v += g.beta * (*c)[i * g.ldd + j];
      want[i * g.ldd + j] = v;
    }
  return want;
}

template <typename T>
constexpr int type_id() {
  return sizeof(T) == 2 ? DAPO_CUDA_BF16 : DAPO_CUDA_F32;
}

template <typename AB, typename CD>
int run_gemm(const OpCase& c, const GemmCase& g, OpReport& report, char* message, size_t message_size) {
  const bool ab_bf16 = sizeof(AB) == 2, cd_bf16 = sizeof(CD) == 2;
  CheckRng rng(c.seed);
  const std::vector<float> a = random_values(rng, g.a_rows() * g.lda, 1.0f, ab_bf16);
  const std::vector<float> b = random_values(rng, g.b_rows() * g.ldb, 1.0f, ab_bf16);
  const std::vector<float> cbuf = random_values(rng, g.m * g.ldd, 1.0f, cd_bf16);
  const std::vector<float> d0 = g.c_mode == 2 ? cbuf : random_values(rng, g.m * g.ldd, 1.0f, cd_bf16);
  const std::vector<float>* c_used = g.c_mode == 0 ? nullptr : &cbuf;
  const std::vector<float> want = cpu_product(g, a, b, c_used, d0);

  DeviceBuffer ad, bd, cd, dd;
  DAPO_CUDA_TRY(upload_new<AB>(ad, a), message, message_size);
  DAPO_CUDA_TRY(upload_new<AB>(bd, b), message, message_size);
  if (g.c_mode == 1) DAPO_CUDA_TRY(upload_new<CD>(cd, cbuf), message, message_size);
  DAPO_CUDA_TRY(upload_new<CD>(dd, d0), message, message_size);
  GemmCall call;
  call.trans_a = g.trans_a != 0;
  call.trans_b = g.trans_b != 0;
  call.m = g.m;
  call.n = g.n;
  call.k = g.k;
  call.a = ad.as<AB>();
  call.lda = g.lda;
  call.b = bd.as<AB>();
  call.ldb = g.ldb;
  call.c = g.c_mode == 0 ? nullptr : g.c_mode == 1 ? cd.as<CD>() : dd.as<CD>();
  call.ldc = g.ldd;
  call.d = dd.as<CD>();
  call.ldd = g.ldd;
  call.ab_type = type_id<AB>();
  call.cd_type = type_id<CD>();
  call.alpha = g.alpha;
  call.beta = g.beta;

  Gemm gemm;
  if (int rc = gemm.run(call, 0, message, message_size)) return rc;  // builds the plan
  if (int rc = finish_op(cudaSuccess, c, message, message_size)) return rc;
  if (g.c_mode == 2) DAPO_CUDA_TRY(upload_as(dd.as<CD>(), d0), message, message_size);
  EventTimer timer;
  DAPO_CUDA_TRY(timer.start(), message, message_size);
  const int rc = gemm.run(call, 0, message, message_size);  // the cached plan
  DAPO_CUDA_TRY(timer.stop(), message, message_size);
  if (rc) return rc;
  if (int s = finish_op(cudaSuccess, c, message, message_size)) return s;
  report.cuda_ms = timer.elapsed();
  return compare_device(report, "d", dd.as<CD>(), want, message, message_size);
}

int check_gemm(const OpCase& c, OpReport& report, char* message, size_t message_size) {
  GemmCase g;
  if (int rc = read_case(c, g, message, message_size)) return rc;
  if (!bf16_mode(c)) return run_gemm<float, float>(c, g, report, message, message_size);
  return g.cd_f32 ? run_gemm<bf16, float>(c, g, report, message, message_size)
                  : run_gemm<bf16, bf16>(c, g, report, message, message_size);
}

const OpCheckRegistration registration("gemm", check_gemm);

}  // namespace
}  // namespace dapo::cuda::model
