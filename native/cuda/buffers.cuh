// Host-side helpers of the entry points: device scratch that is freed on every return path,
// and staging of caller buffers that may live on the host (copied) or on the device (used as
// they are). Stream-ordered allocation on the default stream, so repeated calls reuse memory.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <vector>

#include "cuda/api.h"
#include "cuda/check.cuh"

namespace dapo::cuda {

class Scratch {
 public:
  // Allocations and frees are ordered on `stream` (the legacy default stream unless given).
  explicit Scratch(cudaStream_t stream = 0) : stream_(stream) {}
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  ~Scratch() {
    for (void* p : blocks_) cudaFreeAsync(p, stream_);
  }

  // Device memory of `bytes` (at least 1), 256-byte aligned; counted towards the peak.
  cudaError_t alloc(void** ptr, size_t bytes) {
    if (bytes == 0) bytes = 1;
    cudaError_t status = cudaMallocAsync(ptr, bytes, stream_);
    if (status == cudaSuccess) {
      blocks_.push_back(*ptr);
      held_ += bytes;
      if (held_ > peak_) peak_ = held_;
    }
    return status;
  }
  template <typename T>
  cudaError_t alloc_n(T** ptr, size_t count) {
    return alloc(reinterpret_cast<void**>(ptr), count * sizeof(T));
  }
  size_t peak() const { return peak_; }
  cudaStream_t stream() const { return stream_; }

 private:
  cudaStream_t stream_ = 0;
  std::vector<void*> blocks_;
  size_t held_ = 0, peak_ = 0;
};

// The device pointer of an input: as given when on the device, else a staged copy.
inline cudaError_t stage_in(Scratch& scratch, dapo_cuda_in in, size_t bytes, const void** device) {
  if (in.ptr == nullptr || in.on_device) {
    *device = in.ptr;
    return cudaSuccess;
  }
  void* d = nullptr;
  cudaError_t status = scratch.alloc(&d, bytes);
  if (status != cudaSuccess) return status;
  *device = d;
  return cudaMemcpyAsync(d, in.ptr, bytes, cudaMemcpyHostToDevice, 0);
}

// Where a kernel writes an output: the caller's device buffer, or scratch copied back later.
struct StagedOut {
  dapo_cuda_out out{};
  void* device = nullptr;
  size_t bytes = 0;
};

inline cudaError_t stage_out(Scratch& scratch, dapo_cuda_out out, size_t bytes, StagedOut* staged) {
  staged->out = out;
  staged->bytes = bytes;
  if (out.ptr == nullptr || out.on_device) {
    staged->device = out.ptr;
    return cudaSuccess;
  }
  return scratch.alloc(&staged->device, bytes);
}

inline cudaError_t copy_back(const StagedOut& staged) {
  if (staged.out.ptr == nullptr || staged.out.on_device || staged.bytes == 0) return cudaSuccess;
  return cudaMemcpyAsync(staged.out.ptr, staged.device, staged.bytes, cudaMemcpyDeviceToHost, 0);
}

// Events around the device work of one call; elapsed() after the final synchronisation.
class EventTimer {
 public:
  ~EventTimer() {
    if (start_) cudaEventDestroy(start_);
    if (stop_) cudaEventDestroy(stop_);
  }
  cudaError_t start() {
    cudaError_t s = cudaEventCreate(&start_);
    if (s == cudaSuccess) s = cudaEventCreate(&stop_);
    if (s == cudaSuccess) s = cudaEventRecord(start_, 0);
    return s;
  }
  cudaError_t stop() { return cudaEventRecord(stop_, 0); }
  float elapsed() const {
    float ms = 0;
    if (start_ && stop_) cudaEventElapsedTime(&ms, start_, stop_);
    return ms;
  }

 private:
  cudaEvent_t start_ = nullptr, stop_ = nullptr;
};

inline int fail(int status, char* message, size_t message_size, const char* text) {
  if (message && message_size > 0) std::snprintf(message, message_size, "%s", text);
  return status;
}

// Stream-ordered frees return memory to the OS at every synchronisation unless the pool keeps
// it; keep up to 1 GiB so that repeated calls do not pay for fresh allocations.
inline void keep_pool_memory() {
  static bool done = false;
  if (done) return;
  done = true;
  int device = 0;
  cudaMemPool_t pool;
  if (cudaGetDevice(&device) == cudaSuccess && cudaDeviceGetDefaultMemPool(&pool, device) == cudaSuccess) {
    uint64_t threshold = 1ull << 30;
    cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &threshold);
  }
}

}  // namespace dapo::cuda
