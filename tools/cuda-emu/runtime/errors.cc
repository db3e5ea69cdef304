// Error state as the CUDA runtime keeps it: a last error per host thread (cleared by
// cudaGetLastError), and a sticky error once a kernel faults, after which the context is
// unusable: every later call returns it, as after an illegal address on a GPU.
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "internal.h"

namespace emu {
namespace {

thread_local cudaError_t t_last = cudaSuccess;
std::atomic<int> g_sticky{cudaSuccess};

}  // namespace

std::recursive_mutex& device_mutex() {
  // Never destroyed, as every registry of the runtime: finalizers (a DeviceTensor collected while
  // Node exits) may still call into the runtime after static destructors have run.
  static auto& m = *new std::recursive_mutex;
  return m;
}

cudaError_t ret(cudaError_t e) {
  if (e != cudaSuccess) t_last = e;
  return e;
}

cudaError_t sticky_error() { return static_cast<cudaError_t>(g_sticky.load()); }

void set_sticky(cudaError_t e) {
  int expected = cudaSuccess;
  g_sticky.compare_exchange_strong(expected, e);
  t_last = sticky_error();
}

void clear_errors() {
  g_sticky.store(cudaSuccess);
  t_last = cudaSuccess;
}

bool verbose() {
  static const bool on = [] {
    const char* v = std::getenv("DAPO_CUDA_EMU_VERBOSE");
    return v && *v && std::strcmp(v, "0") != 0;
  }();
  return on;
}

void warn(const char* format, ...) {
  char text[2048];
  va_list args;
  va_start(args, format);
  std::vsnprintf(text, sizeof text, format, args);
  va_end(args);
  std::fprintf(stderr, "[cuda-emu] %s\n", text);
  std::fflush(stderr);
}

}  // namespace emu

using emu::ret;

cudaError_t cudaGetLastError() {
  const cudaError_t sticky = emu::sticky_error();
  if (sticky != cudaSuccess) return sticky;
  const cudaError_t e = emu::t_last;
  emu::t_last = cudaSuccess;
  return e;
}

cudaError_t cudaPeekAtLastError() {
  const cudaError_t sticky = emu::sticky_error();
  return sticky != cudaSuccess ? sticky : emu::t_last;
}

const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
#define EMU_NAME(x) \
  case x:           \
    return #x;
    EMU_NAME(cudaSuccess)
    EMU_NAME(cudaErrorInvalidValue)
    EMU_NAME(cudaErrorMemoryAllocation)
    EMU_NAME(cudaErrorInitializationError)
    EMU_NAME(cudaErrorInvalidConfiguration)
    EMU_NAME(cudaErrorInvalidDevicePointer)
    EMU_NAME(cudaErrorInvalidMemcpyDirection)
    EMU_NAME(cudaErrorDevicesUnavailable)
    EMU_NAME(cudaErrorNoDevice)
    EMU_NAME(cudaErrorInvalidDevice)
    EMU_NAME(cudaErrorECCUncorrectable)
    EMU_NAME(cudaErrorNvlinkUncorrectable)
    EMU_NAME(cudaErrorInvalidResourceHandle)
    EMU_NAME(cudaErrorIllegalState)
    EMU_NAME(cudaErrorNotReady)
    EMU_NAME(cudaErrorIllegalAddress)
    EMU_NAME(cudaErrorLaunchOutOfResources)
    EMU_NAME(cudaErrorLaunchTimeout)
    EMU_NAME(cudaErrorContextIsDestroyed)
    EMU_NAME(cudaErrorAssert)
    EMU_NAME(cudaErrorHardwareStackError)
    EMU_NAME(cudaErrorIllegalInstruction)
    EMU_NAME(cudaErrorMisalignedAddress)
    EMU_NAME(cudaErrorInvalidAddressSpace)
    EMU_NAME(cudaErrorInvalidPc)
    EMU_NAME(cudaErrorLaunchFailure)
    EMU_NAME(cudaErrorNotSupported)
    EMU_NAME(cudaErrorStreamCaptureUnsupported)
    EMU_NAME(cudaErrorStreamCaptureInvalidated)
    EMU_NAME(cudaErrorStreamCaptureUnmatched)
    EMU_NAME(cudaErrorStreamCaptureImplicit)
    EMU_NAME(cudaErrorStreamCaptureWrongThread)
    EMU_NAME(cudaErrorInvalidClusterSize)
    EMU_NAME(cudaErrorUnknown)
#undef EMU_NAME
  }
  return "cudaErrorUnknown";
}

const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidDevicePointer: return "invalid device pointer";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorNotReady: return "device not ready";
    case cudaErrorIllegalAddress: return "an illegal memory access was encountered";
    case cudaErrorLaunchOutOfResources: return "too many resources requested for launch";
    case cudaErrorMisalignedAddress: return "misaligned address";
    case cudaErrorLaunchFailure: return "unspecified launch failure";
    case cudaErrorStreamCaptureUnsupported: return "operation not permitted when stream is capturing";
    case cudaErrorStreamCaptureInvalidated: return "operation failed due to a previous error during capture";
    case cudaErrorInvalidClusterSize: return "invalid cluster size";
    case cudaErrorNotSupported: return "operation not supported";
    default: return cudaGetErrorName(e);
  }
}
