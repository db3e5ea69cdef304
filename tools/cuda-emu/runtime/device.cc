// The emulated device: one H100-like GPU (sm_90, 132 SMs, 228 KiB of shared memory per SM,
// clusters of up to 8 blocks, 16 with the non-portable attribute, 50 MB of L2), the kernel
// registry and function attributes, occupancy, and how the module says it is the emulator.
#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "internal.h"

namespace emu {
namespace {

std::map<const void*, KernelInfo>& registry() {
  static auto& r = *new std::map<const void*, KernelInfo>;  // never destroyed: see errors.cc
  return r;
}

// "const char* emu::kernel_pretty_name() [with auto F = ns::kernel<float>]" -> "ns::kernel<float>"
std::string kernel_name_from(const char* pretty) {
  std::string s = pretty ? pretty : "";
  const size_t at = s.find("F = ");
  if (at == std::string::npos) return s;
  size_t end = s.rfind(']');
  if (end == std::string::npos || end < at) end = s.size();
  std::string name = s.substr(at + 4, end - at - 4);
  const size_t semi = name.find(';');  // "...; unsigned int B = 256"
  if (semi != std::string::npos) name = name.substr(0, semi);
  if (!name.empty() && name[0] == '&') name = name.substr(1);
  return name;
}

}  // namespace

size_t device_memory_capacity() {
  static const size_t bytes = [] {
    const char* v = std::getenv("DAPO_CUDA_EMU_MEMORY_MB");
    const long long mb = v && *v ? std::atoll(v) : 8192;
    return static_cast<size_t>(mb > 0 ? mb : 8192) << 20;
  }();
  return bytes;
}

KernelInfo& kernel_info(const void* fn) {
  auto& r = registry();
  auto it = r.find(fn);
  if (it == r.end()) {
    KernelInfo info;
    char buf[64];
    std::snprintf(buf, sizeof buf, "kernel@%p", fn);
    info.name = buf;
    it = r.emplace(fn, info).first;
  }
  return it->second;
}

bool register_kernel(const void* fn, BindArgs bind, const char* pretty, unsigned max_threads) {
  Lock lock(device_mutex());
  KernelInfo& info = kernel_info(fn);
  info.name = kernel_name_from(pretty);
  info.bind = bind;
  info.max_threads = max_threads;
  return true;
}

dim3 cluster_of(const cudaLaunchConfig_t* config) {
  dim3 c(1, 1, 1);
  for (unsigned i = 0; config && i < config->numAttrs; ++i)
    if (config->attrs[i].id == cudaLaunchAttributeClusterDimension)
      c = dim3(config->attrs[i].val.clusterDim.x, config->attrs[i].val.clusterDim.y, config->attrs[i].val.clusterDim.z);
  return c;
}

}  // namespace emu

using emu::DeviceLimits;
using emu::ret;

cudaError_t cudaGetDeviceCount(int* count) {
  *count = 1;
  return cudaSuccess;
}

cudaError_t cudaGetDevice(int* device) {
  *device = 0;
  return cudaSuccess;
}

cudaError_t cudaSetDevice(int device) { return device == 0 ? cudaSuccess : ret(cudaErrorInvalidDevice); }

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int device) {
  if (device != 0) return ret(cudaErrorInvalidDevice);
  std::memset(p, 0, sizeof *p);
  std::snprintf(p->name, sizeof p->name, "dapo cuda-emu (CPU emulation of an H100-like GPU%s)",
                EMU_ASAN ? ", AddressSanitizer" : "");
  p->totalGlobalMem = emu::device_memory_capacity();
  p->sharedMemPerBlock = DeviceLimits::kSharedPerBlock;
  p->regsPerBlock = 65536;
  p->warpSize = 32;
  p->maxThreadsPerBlock = DeviceLimits::kMaxThreadsPerBlock;
  p->maxThreadsDim[0] = 1024, p->maxThreadsDim[1] = 1024, p->maxThreadsDim[2] = 64;
  p->maxGridSize[0] = 0x7fffffff, p->maxGridSize[1] = 65535, p->maxGridSize[2] = 65535;
  p->clockRate = 1980000;
  p->major = 9;
  p->minor = 0;
  p->multiProcessorCount = DeviceLimits::kSms;
  p->l2CacheSize = static_cast<int>(DeviceLimits::kL2Bytes);
  p->maxThreadsPerMultiProcessor = DeviceLimits::kMaxThreadsPerSm;
  p->sharedMemPerMultiprocessor = DeviceLimits::kSharedPerSm;
  p->sharedMemPerBlockOptin = DeviceLimits::kSharedPerBlockOptin;
  p->memoryClockRate = 2619000;
  p->memoryBusWidth = 5120;
  return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device) {
  if (device != 0) return ret(cudaErrorInvalidDevice);
  cudaDeviceProp p;
  cudaGetDeviceProperties(&p, 0);
  switch (attr) {
    case cudaDevAttrMaxThreadsPerBlock: *value = p.maxThreadsPerBlock; break;
    case cudaDevAttrMaxBlockDimX: *value = p.maxThreadsDim[0]; break;
    case cudaDevAttrMaxGridDimX: *value = p.maxGridSize[0]; break;
    case cudaDevAttrMaxSharedMemoryPerBlock: *value = static_cast<int>(p.sharedMemPerBlock); break;
    case cudaDevAttrWarpSize: *value = 32; break;
    case cudaDevAttrMaxRegistersPerBlock: *value = p.regsPerBlock; break;
    case cudaDevAttrClockRate: *value = p.clockRate; break;
    case cudaDevAttrMultiProcessorCount: *value = p.multiProcessorCount; break;
    case cudaDevAttrMemoryClockRate: *value = p.memoryClockRate; break;
    case cudaDevAttrGlobalMemoryBusWidth: *value = p.memoryBusWidth; break;
    case cudaDevAttrL2CacheSize: *value = p.l2CacheSize; break;
    case cudaDevAttrMaxThreadsPerMultiProcessor: *value = p.maxThreadsPerMultiProcessor; break;
    case cudaDevAttrComputeCapabilityMajor: *value = p.major; break;
    case cudaDevAttrComputeCapabilityMinor: *value = p.minor; break;
    case cudaDevAttrMaxSharedMemoryPerMultiprocessor: *value = static_cast<int>(p.sharedMemPerMultiprocessor); break;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *value = static_cast<int>(p.sharedMemPerBlockOptin); break;
    default: return ret(cudaErrorInvalidValue);
  }
  return cudaSuccess;
}

cudaError_t cudaFuncSetAttribute(const void* func, cudaFuncAttribute attr, int value) {
  emu::Lock lock(emu::device_mutex());
  if (cudaError_t s = emu::sticky_error()) return s;
  emu::KernelInfo& info = emu::kernel_info(func);
  switch (attr) {
    case cudaFuncAttributeMaxDynamicSharedMemorySize:
      // The opt-in limit counts the kernel's static shared memory too.
      if (value < 0 || static_cast<size_t>(value) + info.static_smem_seen > DeviceLimits::kSharedPerBlockOptin)
        return ret(cudaErrorInvalidValue);
      info.max_dynamic_smem = static_cast<size_t>(value);
      return cudaSuccess;
    case cudaFuncAttributeNonPortableClusterSizeAllowed:
      info.non_portable_cluster = value != 0;
      return cudaSuccess;
    case cudaFuncAttributePreferredSharedMemoryCarveout:
      return cudaSuccess;
  }
  return ret(cudaErrorInvalidValue);
}

// Clusters resident at once: blocks per SM from threads and shared memory (registers are not
// modelled), and a cluster's blocks on the SMs of one GPC.
cudaError_t cudaOccupancyMaxActiveClusters(int* clusters, const void* func, const cudaLaunchConfig_t* config) {
  emu::Lock lock(emu::device_mutex());
  if (cudaError_t s = emu::sticky_error()) return s;
  *clusters = 0;
  const emu::KernelInfo& info = emu::kernel_info(func);
  const dim3 c = emu::cluster_of(config);
  const unsigned cluster = c.x * c.y * c.z;
  if (cluster == 0 || cluster > DeviceLimits::kMaxCluster ||
      (cluster > DeviceLimits::kMaxPortableCluster && !info.non_portable_cluster))
    return ret(cudaErrorInvalidClusterSize);
  const unsigned threads = config->blockDim.x * config->blockDim.y * config->blockDim.z;
  if (threads == 0 || threads > DeviceLimits::kMaxThreadsPerBlock) return ret(cudaErrorInvalidValue);
  if (config->dynamicSmemBytes > info.max_dynamic_smem) return ret(cudaErrorInvalidValue);
  if (info.max_threads && threads > info.max_threads) return ret(cudaErrorInvalidValue);
  const size_t smem = config->dynamicSmemBytes + info.static_smem_seen + DeviceLimits::kSharedReservedPerBlock;
  const unsigned warps = (threads + 31) / 32;
  unsigned per_sm = static_cast<unsigned>(DeviceLimits::kMaxThreadsPerSm / 32 / warps);
  if (per_sm > DeviceLimits::kMaxBlocksPerSm) per_sm = DeviceLimits::kMaxBlocksPerSm;
  const unsigned by_smem = static_cast<unsigned>(DeviceLimits::kSharedPerSm / smem);
  if (by_smem < per_sm) per_sm = by_smem;
  if (per_sm == 0 || cluster > DeviceLimits::kSmsPerGpc * per_sm) return cudaSuccess;
  *clusters = static_cast<int>(DeviceLimits::kSms * per_sm / cluster);
  return cudaSuccess;
}

// ---- how the addon and the tests know the module is emulated ----

namespace {

std::string library_directory() {
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(&library_directory), &info) == 0 || !info.dli_fname) return ".";
  std::string path = info.dli_fname;
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

// cuda/cublaslt_loader.cc opens DAPO_CUBLASLT_PATH first: point it at the CPU stand-in built
// beside this library, never a real cuBLASLt (which would need a GPU).
__attribute__((constructor)) void use_emulated_cublaslt() {
  const std::string path = library_directory() + "/libcublasLt.so.13";
  setenv("DAPO_CUBLASLT_PATH", path.c_str(), 1);
}

}  // namespace

extern "C" EMU_API const char* dapo_cuda_emulator(void) {
  return EMU_ASAN ? "dapo cuda-emu: every CUDA thread a fiber on the CPU, with AddressSanitizer"
                  : "dapo cuda-emu: every CUDA thread a fiber on the CPU";
}
