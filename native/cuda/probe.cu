// API version and device probe: what the addon asks first after dlopen.
#include <cstdio>

#include "cuda/api.h"
#include "cuda/check.cuh"

extern "C" int dapo_cuda_api_version(void) { return DAPO_CUDA_API_VERSION; }

extern "C" int dapo_cuda_device_count(int* count, char* message, size_t message_size) {
  *count = 0;
  DAPO_CUDA_TRY(cudaGetDeviceCount(count), message, message_size);
  return 0;
}

extern "C" int dapo_cuda_device_name(int device, char* name, size_t name_size, char* message, size_t message_size) {
  cudaDeviceProp props;
  DAPO_CUDA_TRY(cudaGetDeviceProperties(&props, device), message, message_size);
  std::snprintf(name, name_size, "%s (sm_%d%d, %.1f GiB)", props.name, props.major, props.minor,
                static_cast<double>(props.totalGlobalMem) / (1024.0 * 1024.0 * 1024.0));
  return 0;
}
