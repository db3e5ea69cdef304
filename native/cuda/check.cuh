// CUDA error checks that report instead of exiting: the message goes to the caller's buffer
// and the entry point returns non-zero.
#pragma once
#include <cuda_runtime.h>

#include <cstdio>
#include <cstring>

namespace dapo::cuda {

inline int report(cudaError_t status, const char* what, char* message, size_t message_size) {
  if (status == cudaSuccess) return 0;
  if (message && message_size > 0)
    std::snprintf(message, message_size, "%s: %s (%s)", what, cudaGetErrorString(status), cudaGetErrorName(status));
  return static_cast<int>(status);
}

}  // namespace dapo::cuda

#define DAPO_CUDA_TRY(call, message, message_size)                                        \
  do {                                                                                    \
    cudaError_t dapo_status_ = (call);                                                    \
    if (dapo_status_ != cudaSuccess)                                                      \
      return ::dapo::cuda::report(dapo_status_, #call, (message), (message_size));       \
  } while (0)
