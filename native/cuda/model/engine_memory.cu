#include <string>

#include "cuda/model/engine_error.cuh"
#include "cuda/model/engine_memory.cuh"

namespace dapo::cuda::model {

namespace {

[[noreturn]] void throw_out_of_memory(const char* what, size_t bytes, const char* kind) {
  size_t free_bytes = 0, total_bytes = 0;
  cudaMemGetInfo(&free_bytes, &total_bytes);
  throw EngineError(DAPO_CUDA_ERR_OOM, std::string("out of ") + kind + " memory allocating " + what + ": " +
                                           std::to_string(bytes) + " bytes asked, " + std::to_string(free_bytes) +
                                           " bytes free of " + std::to_string(total_bytes) + " on the device");
}

}  // namespace

void* DeviceAllocator::device(size_t bytes, const char* what) {
  void* p = nullptr;
  cudaError_t status = cudaMalloc(&p, bytes);
  if (status == cudaErrorMemoryAllocation) {
    cudaGetLastError();  // not sticky: clear it so the next call starts clean
    if (reclaim_ && reclaim_()) status = cudaMalloc(&p, bytes);
  }
  if (status == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    throw_out_of_memory(what, bytes, "device");
  }
  check_cuda(status, what);
  allocated_ += bytes;
  if (allocated_ > peak_) peak_ = allocated_;
  return p;
}

void DeviceAllocator::free_device(void* p, size_t bytes) {
  cudaFree(p);  // a failure here means a lost context, which the next checked call reports
  allocated_ -= bytes;
}

void* DeviceAllocator::pinned(size_t bytes, const char* what) {
  void* p = nullptr;
  const cudaError_t status = cudaMallocHost(&p, bytes);
  if (status == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    throw_out_of_memory(what, bytes, "page-locked host");
  }
  check_cuda(status, what);
  return p;
}

void DeviceAllocator::free_pinned(void* p) { cudaFreeHost(p); }

}  // namespace dapo::cuda::model
