// The CUDA checks of the engine: they sort a CUDA failure into what the caller can do about it:
// out of memory (DAPO_CUDA_ERR_OOM; the engine stays usable), a failed kernel (named), or a lost
// context (DAPO_CUDA_ERR_DEVICE_LOST; every later call refuses), and throw it as an EngineError.
#pragma once
#include <cuda_runtime.h>

#include "cuda/model/engine_error.h"

namespace dapo::cuda::model {

// True for the errors after which the CUDA context cannot be used again (illegal address,
// launch failure, ECC, device-side assert, ...).
bool is_sticky(cudaError_t status);

// A CUDA runtime call: nothing on success; else DAPO_CUDA_ERR_DEVICE_LOST for a sticky error,
// DAPO_CUDA_ERR_OOM for cudaErrorMemoryAllocation, the cudaError_t otherwise, naming `what`.
void check_cuda(cudaError_t status, const char* what);

// An op launcher's status: DAPO_CUDA_ERR_KERNEL naming the kernel (DAPO_CUDA_ERR_DEVICE_LOST when
// the failure is sticky: then it was an earlier kernel that broke the context).
void check_launch(cudaError_t status, const char* kernel);

// A status of a call that reports through a message buffer (Gemm::run, lm_head_loss,
// finish_loss): thrown with the prefix `what` (range and non-finite errors as they are), sticky
// CUDA errors as DAPO_CUDA_ERR_DEVICE_LOST.
void check_status(int status, const char* what, const char* message);

}  // namespace dapo::cuda::model
