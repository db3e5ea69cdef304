// Device memory for DeviceTensor (bindings/cuda_tensor_bindings.cc) and the copy-bandwidth
// probe that benchmarks report against.
#include <algorithm>
#include <vector>

#include "cuda/api.h"
#include "cuda/buffers.cuh"
#include "cuda/check.cuh"

extern "C" int dapo_cuda_malloc(void** ptr, size_t bytes, char* message, size_t message_size) {
  *ptr = nullptr;
  DAPO_CUDA_TRY(cudaMalloc(ptr, bytes == 0 ? 1 : bytes), message, message_size);
  return 0;
}

extern "C" int dapo_cuda_free(void* ptr, char* message, size_t message_size) {
  if (ptr) DAPO_CUDA_TRY(cudaFree(ptr), message, message_size);
  return 0;
}

extern "C" int dapo_cuda_upload(void* device_dst, const void* host_src, size_t bytes, char* message, size_t message_size) {
  if (bytes) DAPO_CUDA_TRY(cudaMemcpy(device_dst, host_src, bytes, cudaMemcpyHostToDevice), message, message_size);
  return 0;
}

extern "C" int dapo_cuda_download(void* host_dst, const void* device_src, size_t bytes, char* message,
                                  size_t message_size) {
  if (bytes) DAPO_CUDA_TRY(cudaMemcpy(host_dst, device_src, bytes, cudaMemcpyDeviceToHost), message, message_size);
  return 0;
}

extern "C" int dapo_cuda_mem_info(size_t* free_bytes, size_t* total_bytes, char* message, size_t message_size) {
  DAPO_CUDA_TRY(cudaMemGetInfo(free_bytes, total_bytes), message, message_size);
  return 0;
}

extern "C" int dapo_cuda_copy_bench(size_t bytes, int iterations, float* median_ms, char* message, size_t message_size) {
  using dapo::cuda::Scratch;
  *median_ms = 0;
  if (iterations < 1) iterations = 1;
  Scratch scratch;
  void *a = nullptr, *b = nullptr;
  DAPO_CUDA_TRY(scratch.alloc(&a, bytes), message, message_size);
  DAPO_CUDA_TRY(scratch.alloc(&b, bytes), message, message_size);
  DAPO_CUDA_TRY(cudaMemsetAsync(a, 1, bytes, 0), message, message_size);
  DAPO_CUDA_TRY(cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice, 0), message, message_size);  // warm-up
  std::vector<float> times;
  for (int i = 0; i < iterations; ++i) {
    dapo::cuda::EventTimer timer;
    DAPO_CUDA_TRY(timer.start(), message, message_size);
    DAPO_CUDA_TRY(cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice, 0), message, message_size);
    DAPO_CUDA_TRY(timer.stop(), message, message_size);
    DAPO_CUDA_TRY(cudaDeviceSynchronize(), message, message_size);
    times.push_back(timer.elapsed());
  }
  std::sort(times.begin(), times.end());
  *median_ms = times[times.size() / 2];
  return 0;
}
