#include "cuda/model/engine_error.cuh"

namespace dapo::cuda::model {

namespace {

std::string describe(cudaError_t status) {
  return std::string(cudaGetErrorString(status)) + " (" + cudaGetErrorName(status) + ")";
}

[[noreturn]] void throw_lost(cudaError_t status, const std::string& where) {
  throw EngineError(DAPO_CUDA_ERR_DEVICE_LOST, "the CUDA context is lost at " + where + ": " + describe(status) +
                                                   "; this engine cannot be used again");
}

[[noreturn]] void throw_oom(const std::string& where) {
  cudaGetLastError();
  size_t free_bytes = 0, total_bytes = 0;
  cudaMemGetInfo(&free_bytes, &total_bytes);
  throw EngineError(DAPO_CUDA_ERR_OOM, "out of device memory in " + where + " (" + std::to_string(free_bytes) +
                                           " bytes free of " + std::to_string(total_bytes) + ")");
}

}  // namespace

bool is_sticky(cudaError_t status) {
  switch (status) {
    case cudaErrorIllegalAddress:
    case cudaErrorLaunchFailure:
    case cudaErrorHardwareStackError:
    case cudaErrorIllegalInstruction:
    case cudaErrorMisalignedAddress:
    case cudaErrorInvalidAddressSpace:
    case cudaErrorInvalidPc:
    case cudaErrorLaunchTimeout:
    case cudaErrorECCUncorrectable:
    case cudaErrorAssert:
    case cudaErrorContextIsDestroyed:
    case cudaErrorDevicesUnavailable:
    case cudaErrorNvlinkUncorrectable:
    case cudaErrorUnknown:
      return true;
    default:
      return false;
  }
}

void check_cuda(cudaError_t status, const char* what) {
  if (status == cudaSuccess) return;
  if (is_sticky(status)) throw_lost(status, what);
  if (status == cudaErrorMemoryAllocation) throw_oom(what);
  cudaGetLastError();  // a non-sticky error must not surface again at the next check
  throw EngineError(static_cast<int>(status), std::string(what) + ": " + describe(status));
}

void check_launch(cudaError_t status, const char* kernel) {
  if (status == cudaSuccess) return;
  if (is_sticky(status)) throw_lost(status, std::string("kernel ") + kernel);
  cudaGetLastError();
  throw EngineError(DAPO_CUDA_ERR_KERNEL, std::string("kernel ") + kernel + " failed: " + describe(status));
}

void check_status(int status, const char* what, const char* message) {
  if (status == 0) return;
  if (status > 0 && is_sticky(static_cast<cudaError_t>(status)))
    throw_lost(static_cast<cudaError_t>(status), std::string(what) + " (" + message + ")");
  if (status == cudaErrorMemoryAllocation) throw_oom(std::string(what) + ": " + message);
  if (status > 0) cudaGetLastError();
  // A bad input or value already names itself (as the CPU engine's messages); other failures are
  // prefixed with the step that failed.
  if (status == DAPO_CUDA_ERR_RANGE || status == DAPO_CUDA_ERR_NONFINITE) throw EngineError(status, message);
  throw EngineError(status, std::string(what) + ": " + message);
}

}  // namespace dapo::cuda::model
