// What the layer ops' checks (cast, embedding, rmsnorm, rope, swiglu, bias, gemm, adamw) share:
// device buffers freed on every return path, uploads and downloads that convert between the
// host's fp32 values and the op's element type, random inputs (bf16-rounded in bf16 mode, so
// the CPU twin sees exactly what the device sees), and the checks of the case's dims.
// Every check runs on the legacy default stream (0), so cudaMemcpy orders after the launches.
#pragma once
#include <cuda_runtime.h>

#include <cstdio>
#include <vector>

#include "cuda/buffers.cuh"
#include "cuda/check.cuh"
#include "cuda/model/op_check.cuh"
#include "cuda/model/ops.cuh"

namespace dapo::cuda::model::checks {

inline bool bf16_mode(const OpCase& c) { return c.dtype == DAPO_CUDA_BF16; }

// Device memory of one array, freed on destruction.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() {
    if (ptr_) cudaFree(ptr_);
  }
  cudaError_t alloc(size_t bytes) { return cudaMalloc(&ptr_, bytes > 0 ? bytes : 1); }
  template <typename T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }

 private:
  void* ptr_ = nullptr;
};

inline float to_host_float(float x) { return x; }
inline float to_host_float(bf16 x) { return __bfloat162float(x); }
template <typename T>
T from_host_float(float x) {
  if constexpr (sizeof(T) == 2) return __float2bfloat16_rn(x);
  else return x;
}

// `values` converted to T into device memory at dst (already allocated).
template <typename T>
cudaError_t upload_as(T* dst, const std::vector<float>& values) {
  std::vector<T> staged(values.size());
  for (size_t i = 0; i < values.size(); ++i) staged[i] = from_host_float<T>(values[i]);
  return cudaMemcpy(dst, staged.data(), staged.size() * sizeof(T), cudaMemcpyHostToDevice);
}
// Allocates room for `values` (plus `extra` elements) as T and uploads them.
template <typename T>
cudaError_t upload_new(DeviceBuffer& buffer, const std::vector<float>& values, size_t extra = 0) {
  cudaError_t s = buffer.alloc((values.size() + extra) * sizeof(T));
  return s == cudaSuccess ? upload_as(buffer.as<T>(), values) : s;
}
// Raw copies (ints, spans).
template <typename T>
cudaError_t upload_raw(DeviceBuffer& buffer, const std::vector<T>& values) {
  cudaError_t s = buffer.alloc(values.size() * sizeof(T));
  return s == cudaSuccess ? cudaMemcpy(buffer.as<T>(), values.data(), values.size() * sizeof(T), cudaMemcpyHostToDevice)
                          : s;
}
// n values of T at src, as fp32.
template <typename T>
cudaError_t download_floats(std::vector<float>& out, const T* src, size_t n) {
  std::vector<T> staged(n);
  cudaError_t s = cudaMemcpy(staged.data(), src, n * sizeof(T), cudaMemcpyDeviceToHost);
  out.resize(n);
  for (size_t i = 0; i < n; ++i) out[i] = to_host_float(staged[i]);
  return s;
}

// n normal values times scale, rounded to bf16 when `bf16` (the bf16 mode's inputs).
inline std::vector<float> random_values(CheckRng& rng, size_t n, float scale, bool bf16) {
  std::vector<float> v(n);
  rng.fill_normal(v.data(), n, scale);
  if (bf16) round_to_bf16(v.data(), n);
  return v;
}

// dims[i] into *out when within [lo, hi]; else a message naming the check, the field and the range.
inline int need_dim(const OpCase& c, int i, const char* name, int64_t lo, int64_t hi, size_t* out, char* message,
                    size_t message_size) {
  const int64_t v = c.dims[i];
  if (v < lo || v > hi) {
    std::snprintf(message, message_size, "%s: dims[%d] (%s) is %lld; it must be in [%lld, %lld]", c.op, i, name,
                  static_cast<long long>(v), static_cast<long long>(lo), static_cast<long long>(hi));
    return DAPO_CUDA_ERR_ARGS;
  }
  *out = static_cast<size_t>(v);
  return 0;
}

// The op's launch status, then the device's (a fault inside the kernel), named after the op.
inline int finish_op(cudaError_t launch, const OpCase& c, char* message, size_t message_size) {
  if (launch != cudaSuccess) return report(launch, c.op, message, message_size);
  return report(cudaDeviceSynchronize(), c.op, message, message_size);
}

// Runs launch() (the op, returning its cudaError_t) between two events on stream 0, then checks
// the launch and the device; the op's time goes to report.cuda_ms.
template <typename Launch>
int timed(const OpCase& c, OpReport& report, char* message, size_t message_size, Launch&& launch) {
  EventTimer timer;
  DAPO_CUDA_TRY(timer.start(), message, message_size);
  const cudaError_t status = launch();
  DAPO_CUDA_TRY(timer.stop(), message, message_size);
  if (int rc = finish_op(status, c, message, message_size)) return rc;
  report.cuda_ms = timer.elapsed();
  return 0;
}

// Downloads want.size() values of T from `got` and reports them against `want` under `name`.
template <typename T>
int compare_device(OpReport& report, const char* name, const T* got, const std::vector<float>& want, char* message,
                   size_t message_size) {
  std::vector<float> host;
  DAPO_CUDA_TRY(download_floats(host, got, want.size()), message, message_size);
  report.compare(name, host.data(), want.data(), want.size());
  return 0;
}

// A check's entry for both modes: the fp32 run or the bf16 run by the case's dtype.
using CheckRun = int (*)(const OpCase&, OpReport&, char*, size_t);
template <CheckRun F32, CheckRun BF16>
int by_dtype(const OpCase& c, OpReport& report, char* message, size_t message_size) {
  return bf16_mode(c) ? BF16(c, report, message, message_size) : F32(c, report, message, message_size);
}

// The first `cols` of each row of `ld` values, contiguous: the input of a CPU twin that takes no
// leading dimension. (Outputs are compared whole, padding included, so a write past a row's end
// shows up as an error.)
inline std::vector<float> compact_rows(const std::vector<float>& x, size_t rows, size_t cols, size_t ld) {
  std::vector<float> out(rows * cols);
  for (size_t r = 0; r < rows; ++r)
    for (size_t j = 0; j < cols; ++j) out[r * cols + j] = x[r * ld + j];
  return out;
}

// Largest total of elements a check allocates for one array (host memory stays bounded).
constexpr int64_t kMaxElements = int64_t{1} << 28;

}  // namespace dapo::cuda::model::checks
