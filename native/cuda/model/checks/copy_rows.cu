// Op check of copy_rows (engine_rows.cuh) against a plain row copy on the host.
//
// dims: [0] n rows copied, [1] cols, [2] rows of src, [3] rows of dst, [4] mode: 0 gather
// (src_rows given, dst rows 0..n-1), 1 scatter (dst_rows given, src rows 0..n-1), 2 both;
// [5] padding of each row beyond cols (ld = cols + padding, both buffers).
// Gathered indices repeat at random; scattered ones are distinct. dst starts with random values,
// so rows the copy must not touch are compared too.
#include <cuda_bf16.h>

#include <algorithm>
#include <cstdio>
#include <vector>

#include "cuda/model/engine_rows.cuh"
#include "cuda/model/op_check.cuh"

namespace dapo::cuda::model {
namespace {

// Device memory freed on every return path.
struct DeviceBlock {
  void* p = nullptr;
  ~DeviceBlock() {
    if (p) cudaFree(p);
  }
};

int cuda_fail(cudaError_t status, const char* what, char* message, size_t message_size) {
  std::snprintf(message, message_size, "copy_rows check: %s: %s", what, cudaGetErrorString(status));
  return static_cast<int>(status);
}

template <typename T>
std::vector<T> to_device_type(const std::vector<float>& x) {
  std::vector<T> out(x.size());
  for (size_t i = 0; i < x.size(); ++i) out[i] = static_cast<T>(x[i]);
  return out;
}

template <typename T>
std::vector<float> to_float(const std::vector<T>& x) {
  std::vector<float> out(x.size());
  for (size_t i = 0; i < x.size(); ++i) out[i] = static_cast<float>(x[i]);
  return out;
}

template <typename T>
int run(const OpCase& c, OpReport& report, char* message, size_t message_size) {
  const size_t n = static_cast<size_t>(c.dims[0]), cols = static_cast<size_t>(c.dims[1]);
  const size_t src_n = static_cast<size_t>(c.dims[2]), dst_n = static_cast<size_t>(c.dims[3]);
  const int mode = static_cast<int>(c.dims[4]);
  const size_t ld = cols + static_cast<size_t>(c.dims[5]);
  const bool gather = mode == 0 || mode == 2, scatter = mode == 1 || mode == 2;
  if (n == 0 || cols == 0 || mode < 0 || mode > 2 || c.dims[5] < 0 || (gather ? src_n == 0 : src_n < n) || dst_n < n) {
    std::snprintf(message, message_size,
                  "copy_rows check: dims need n >= 1, cols >= 1, mode 0..2, padding >= 0, dst rows >= n and src rows "
                  ">= n (>= 1 when gathering)");
    return DAPO_CUDA_ERR_ARGS;
  }
  CheckRng rng(c.seed);
  std::vector<float> src(src_n * ld), dst(dst_n * ld);
  rng.fill_normal(src.data(), src.size(), 1.0f);
  rng.fill_normal(dst.data(), dst.size(), 1.0f);
  if (c.dtype == DAPO_CUDA_BF16) {
    round_to_bf16(src.data(), src.size());
    round_to_bf16(dst.data(), dst.size());
  }
  std::vector<int32_t> src_rows(n), dst_rows(n);
  for (size_t i = 0; i < n; ++i) src_rows[i] = gather ? rng.below(static_cast<int32_t>(src_n)) : static_cast<int32_t>(i);
  std::vector<int32_t> perm(dst_n);
  for (size_t i = 0; i < dst_n; ++i) perm[i] = static_cast<int32_t>(i);
  for (size_t i = dst_n; i > 1; --i) std::swap(perm[i - 1], perm[rng.below(static_cast<int32_t>(i))]);
  for (size_t i = 0; i < n; ++i) dst_rows[i] = scatter ? perm[i] : static_cast<int32_t>(i);

  // The twin: a plain loop over rows.
  std::vector<float> want = dst;
  for (size_t i = 0; i < n; ++i)
    std::copy(src.begin() + src_rows[i] * ld, src.begin() + src_rows[i] * ld + cols, want.begin() + dst_rows[i] * ld);

  const std::vector<T> src_t = to_device_type<T>(src), dst_t = to_device_type<T>(dst);
  DeviceBlock d_src, d_dst, d_idx;
  cudaError_t s;
  if ((s = cudaMalloc(&d_src.p, src_t.size() * sizeof(T))) != cudaSuccess) return cuda_fail(s, "cudaMalloc", message, message_size);
  if ((s = cudaMalloc(&d_dst.p, dst_t.size() * sizeof(T))) != cudaSuccess) return cuda_fail(s, "cudaMalloc", message, message_size);
  if ((s = cudaMalloc(&d_idx.p, 2 * n * sizeof(int32_t))) != cudaSuccess) return cuda_fail(s, "cudaMalloc", message, message_size);
  int32_t* idx = static_cast<int32_t*>(d_idx.p);
  cudaMemcpy(d_src.p, src_t.data(), src_t.size() * sizeof(T), cudaMemcpyHostToDevice);
  cudaMemcpy(d_dst.p, dst_t.data(), dst_t.size() * sizeof(T), cudaMemcpyHostToDevice);
  cudaMemcpy(idx, src_rows.data(), n * sizeof(int32_t), cudaMemcpyHostToDevice);
  cudaMemcpy(idx + n, dst_rows.data(), n * sizeof(int32_t), cudaMemcpyHostToDevice);

  cudaEvent_t start, stop;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  cudaEventRecord(start, 0);
  s = copy_rows<T>(static_cast<const T*>(d_src.p), ld, gather ? idx : nullptr, static_cast<T*>(d_dst.p), ld,
                   scatter ? idx + n : nullptr, n, cols, 0);
  cudaEventRecord(stop, 0);
  if (s == cudaSuccess) s = cudaEventSynchronize(stop);
  cudaEventElapsedTime(&report.cuda_ms, start, stop);
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  if (s != cudaSuccess) return cuda_fail(s, "copy_rows", message, message_size);
  std::vector<T> got_t(dst_t.size());
  if ((s = cudaMemcpy(got_t.data(), d_dst.p, got_t.size() * sizeof(T), cudaMemcpyDeviceToHost)) != cudaSuccess)
    return cuda_fail(s, "download", message, message_size);
  const std::vector<float> got = to_float(got_t);
  report.compare("dst", got.data(), want.data(), want.size());
  return 0;
}

int check(const OpCase& c, OpReport& report, char* message, size_t message_size) {
  return c.dtype == DAPO_CUDA_F32 ? run<float>(c, report, message, message_size)
                                  : run<__nv_bfloat16>(c, report, message, message_size);
}

const OpCheckRegistration registration("copy_rows", check);

}  // namespace
}  // namespace dapo::cuda::model
