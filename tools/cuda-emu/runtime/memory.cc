// Device memory: host allocations, 256-byte aligned, filled with 0xff bytes (a NaN in fp32 and
// bf16, -1 in integers) as fresh device memory holds garbage, and counted against the emulated
// device's capacity (DAPO_CUDA_EMU_MEMORY_MB). Every copy and memset checks that its device
// side lies inside one allocation, so a wrong size or direction is cudaErrorInvalidValue. Built
// with AddressSanitizer, each allocation has redzones and a freed one is poisoned.
#include <cstdlib>
#include <cstring>

#include "internal.h"

namespace emu {
namespace {

struct Allocation {
  size_t bytes;
  bool device;  // else page-locked host memory
};

std::map<uintptr_t, Allocation>& allocations() {
  static auto& a = *new std::map<uintptr_t, Allocation>;  // never destroyed: see errors.cc
  return a;
}
size_t g_device_bytes = 0;
constexpr unsigned char kGarbage = 0xff;

const Allocation* find(const void* p, uintptr_t* base) {
  auto& a = allocations();
  const uintptr_t u = reinterpret_cast<uintptr_t>(p);
  auto it = a.upper_bound(u);
  if (it == a.begin()) return nullptr;
  --it;
  if (u >= it->first + (it->second.bytes ? it->second.bytes : 1)) return nullptr;
  *base = it->first;
  return &it->second;
}

cudaError_t allocate(void** ptr, size_t bytes, bool device) {
  *ptr = nullptr;
  if (device && (bytes > device_memory_capacity() || g_device_bytes + bytes > device_memory_capacity()))
    return ret(cudaErrorMemoryAllocation);
  const size_t rounded = (bytes + 255) / 256 * 256;
  void* p = std::aligned_alloc(256, rounded ? rounded : 256);
  if (!p) return ret(cudaErrorMemoryAllocation);
#if EMU_ASAN
  // Accesses past the bytes asked for are out of bounds, even inside the rounding.
  if (rounded > bytes) ASAN_POISON_MEMORY_REGION(static_cast<char*>(p) + bytes, rounded - bytes);
#endif
  std::memset(p, kGarbage, bytes);
  allocations()[reinterpret_cast<uintptr_t>(p)] = Allocation{bytes, device};
  if (device) g_device_bytes += bytes;
  *ptr = p;
  return cudaSuccess;
}

cudaError_t release(void* p, bool device) {
  if (!p) return cudaSuccess;
  auto& a = allocations();
  auto it = a.find(reinterpret_cast<uintptr_t>(p));
  if (it == a.end() || it->second.device != device) {
    warn("%s(%p): not a pointer from %s", device ? "cudaFree" : "cudaFreeHost", p,
         device ? "cudaMalloc" : "cudaMallocHost");
    return ret(cudaErrorInvalidValue);
  }
  if (device) g_device_bytes -= it->second.bytes;
  a.erase(it);
  std::free(p);
  return cudaSuccess;
}

// The device side of a copy must lie inside one device allocation; the host side in none.
cudaError_t check_sides(const void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, const char* what) {
  if (bytes == 0) return cudaSuccess;
  const bool dst_device = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
  const bool src_device = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
  if (kind == cudaMemcpyDefault || kind == cudaMemcpyHostToHost) return cudaSuccess;
  if (kind < cudaMemcpyHostToHost || kind > cudaMemcpyDefault) return ret(cudaErrorInvalidMemcpyDirection);
  auto side = [&](const void* p, bool device, const char* name) {
    if (device ? is_device_range(p, bytes) : !is_device_pointer(p)) return true;
    warn("%s: the %s (%p, %zu bytes) is %s", what, name, p, bytes,
         device ? "not inside one device allocation" : "device memory, but the copy's kind says host");
    return false;
  };
  if (!side(dst, dst_device, "destination") || !side(src, src_device, "source")) return ret(cudaErrorInvalidValue);
  return cudaSuccess;
}

}  // namespace

// cudaDeviceReset: every device allocation is gone (page-locked host memory too, as the context's).
void release_all() {
  for (auto& [base, allocation] : allocations()) std::free(reinterpret_cast<void*>(base));
  allocations().clear();
  g_device_bytes = 0;
}

bool is_device_range(const void* p, size_t bytes) {
  uintptr_t base = 0;
  const Allocation* a = find(p, &base);
  return a && a->device && reinterpret_cast<uintptr_t>(p) + bytes <= base + a->bytes;
}

bool is_device_pointer(const void* p) {
  uintptr_t base = 0;
  const Allocation* a = find(p, &base);
  return a && a->device;
}

}  // namespace emu

using emu::Lock;
using emu::ret;

#define EMU_STICKY_CHECK() \
  if (cudaError_t sticky_ = emu::sticky_error()) return sticky_

cudaError_t cudaMalloc(void** ptr, size_t bytes) {
  Lock lock(emu::device_mutex());
  EMU_STICKY_CHECK();
  if (cudaError_t s = emu::capture_guard("cudaMalloc")) return s;
  return emu::allocate(ptr, bytes, true);
}

cudaError_t cudaFree(void* ptr) {
  Lock lock(emu::device_mutex());
  EMU_STICKY_CHECK();
  if (cudaError_t s = emu::capture_guard("cudaFree")) return s;
  return emu::release(ptr, true);
}

cudaError_t cudaMallocAsync(void** ptr, size_t bytes, cudaStream_t stream) {
  Lock lock(emu::device_mutex());
  EMU_STICKY_CHECK();
  cudaStreamCaptureStatus status;
  if (cudaStreamIsCapturing(stream, &status) == cudaSuccess && status != cudaStreamCaptureStatusNone) {
    emu::warn("cudaMallocAsync while capturing: graph memory nodes are not emulated");
    return ret(cudaErrorStreamCaptureUnsupported);
  }
  return emu::allocate(ptr, bytes, true);
}

cudaError_t cudaFreeAsync(void* ptr, cudaStream_t stream) {
  Lock lock(emu::device_mutex());
  EMU_STICKY_CHECK();
  cudaStreamCaptureStatus status;
  if (cudaStreamIsCapturing(stream, &status) == cudaSuccess && status != cudaStreamCaptureStatusNone) {
    emu::warn("cudaFreeAsync while capturing: graph memory nodes are not emulated");
    return ret(cudaErrorStreamCaptureUnsupported);
  }
  return emu::release(ptr, true);
}

cudaError_t cudaMallocHost(void** ptr, size_t bytes) {
  Lock lock(emu::device_mutex());
  EMU_STICKY_CHECK();
  return emu::allocate(ptr, bytes, false);
}

cudaError_t cudaHostAlloc(void** ptr, size_t bytes, unsigned) { return cudaMallocHost(ptr, bytes); }

cudaError_t cudaFreeHost(void* ptr) {
  Lock lock(emu::device_mutex());
  EMU_STICKY_CHECK();
  return emu::release(ptr, false);
}

cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes) {
  Lock lock(emu::device_mutex());
  EMU_STICKY_CHECK();
  *total_bytes = emu::device_memory_capacity();
  *free_bytes = *total_bytes - emu::g_device_bytes;
  return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t stream) {
  Lock lock(emu::device_mutex());
  EMU_STICKY_CHECK();
  if (cudaError_t s = emu::check_sides(dst, src, bytes, kind, "cudaMemcpyAsync")) return s;
  if (bytes == 0) return cudaSuccess;
  return emu::submit(stream, "cudaMemcpyAsync", [=] { std::memmove(dst, src, bytes); });
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  Lock lock(emu::device_mutex());
  EMU_STICKY_CHECK();
  if (cudaError_t s = emu::capture_guard("cudaMemcpy")) return s;
  return cudaMemcpyAsync(dst, src, bytes, kind, nullptr);
}

cudaError_t cudaMemcpy2DAsync(void* dst, size_t dpitch, const void* src, size_t spitch, size_t width, size_t height,
                              cudaMemcpyKind kind, cudaStream_t stream) {
  Lock lock(emu::device_mutex());
  EMU_STICKY_CHECK();
  if (height == 0 || width == 0) return cudaSuccess;
  if (width > dpitch || width > spitch) return ret(cudaErrorInvalidValue);
  const size_t dst_span = dpitch * (height - 1) + width, src_span = spitch * (height - 1) + width;
  if (cudaError_t s = emu::check_sides(dst, src, 0, kind, "cudaMemcpy2D")) return s;
  if ((kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice) && !emu::is_device_range(dst, dst_span))
    return ret(cudaErrorInvalidValue);
  if ((kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice) && !emu::is_device_range(src, src_span))
    return ret(cudaErrorInvalidValue);
  return emu::submit(stream, "cudaMemcpy2DAsync", [=] {
    for (size_t r = 0; r < height; ++r)
      std::memmove(static_cast<char*>(dst) + r * dpitch, static_cast<const char*>(src) + r * spitch, width);
  });
}

cudaError_t cudaMemcpy2D(void* dst, size_t dpitch, const void* src, size_t spitch, size_t width, size_t height,
                         cudaMemcpyKind kind) {
  Lock lock(emu::device_mutex());
  EMU_STICKY_CHECK();
  if (cudaError_t s = emu::capture_guard("cudaMemcpy2D")) return s;
  return cudaMemcpy2DAsync(dst, dpitch, src, spitch, width, height, kind, nullptr);
}

cudaError_t cudaMemsetAsync(void* dst, int value, size_t bytes, cudaStream_t stream) {
  Lock lock(emu::device_mutex());
  EMU_STICKY_CHECK();
  if (bytes == 0) return cudaSuccess;
  if (!emu::is_device_range(dst, bytes)) {
    emu::warn("cudaMemsetAsync: %p, %zu bytes is not inside one device allocation", dst, bytes);
    return ret(cudaErrorInvalidValue);
  }
  return emu::submit(stream, "cudaMemsetAsync", [=] { std::memset(dst, value, bytes); });
}

cudaError_t cudaMemset(void* dst, int value, size_t bytes) {
  Lock lock(emu::device_mutex());
  EMU_STICKY_CHECK();
  if (cudaError_t s = emu::capture_guard("cudaMemset")) return s;
  return cudaMemsetAsync(dst, value, bytes, nullptr);
}

struct EmuMemPool {};

cudaError_t cudaDeviceGetDefaultMemPool(cudaMemPool_t* pool, int device) {
  static EmuMemPool the_pool;
  if (device != 0) return ret(cudaErrorInvalidDevice);
  *pool = &the_pool;
  return cudaSuccess;
}

cudaError_t cudaMemPoolSetAttribute(cudaMemPool_t pool, cudaMemPoolAttr, void*) {
  return pool ? cudaSuccess : ret(cudaErrorInvalidValue);
}

cudaError_t cudaMemPoolTrimTo(cudaMemPool_t pool, size_t) { return pool ? cudaSuccess : ret(cudaErrorInvalidValue); }
