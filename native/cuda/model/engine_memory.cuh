// The CUDA engine's memory: one allocator that every device (and page-locked host) allocation of
// the engine goes through, so running out of memory is one error (DAPO_CUDA_ERR_OOM) naming what
// was being allocated, the bytes asked and the bytes free, and the engine's own use is counted
// (dapo_cuda_engine_memory). Buffers own their memory and grow on demand; nothing is allocated
// per decode step.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <functional>

#include "cuda/model/engine_inputs.h"

namespace dapo::cuda::model {

class DeviceAllocator {
 public:
  // `bytes` of device memory (256-byte aligned) for `what`. When the device has too little left,
  // the reclaim callback frees what the engine keeps but does not need now and the allocation is
  // tried once more; then it throws EngineError (OOM).
  void* device(size_t bytes, const char* what);
  // Frees kept buffers the current call does not use; true when it freed anything.
  void set_reclaim(std::function<bool()> reclaim) { reclaim_ = std::move(reclaim); }
  void free_device(void* p, size_t bytes);
  // Page-locked host memory for staging copies (not counted as device memory).
  void* pinned(size_t bytes, const char* what);
  void free_pinned(void* p);

  size_t allocated() const { return allocated_; }
  size_t peak() const { return peak_; }
  void reset_peak() { peak_ = allocated_; }

 private:
  size_t allocated_ = 0, peak_ = 0;
  std::function<bool()> reclaim_;
};

// An owned array of X in device memory (or page-locked host memory when kPinned), grown on
// demand. Growing does not keep the contents.
template <typename X, bool kPinned = false>
class Buffer {
 public:
  Buffer() = default;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer() { reset(); }

  // At least `count` elements.
  X* ensure(DeviceAllocator& alloc, size_t count, const char* what) {
    if (ptr_ && count <= count_) return ptr_;
    reset();
    const size_t bytes = checked_mul(count == 0 ? 1 : count, sizeof(X), what);
    ptr_ = static_cast<X*>(kPinned ? alloc.pinned(bytes, what) : alloc.device(bytes, what));
    alloc_ = &alloc;
    count_ = count == 0 ? 1 : count;
    return ptr_;
  }
  void reset() {
    if (!ptr_) return;
    if (kPinned) alloc_->free_pinned(ptr_);
    else alloc_->free_device(ptr_, count_ * sizeof(X));
    ptr_ = nullptr;
    count_ = 0;
  }
  X* get() const { return ptr_; }
  size_t size() const { return count_; }

 private:
  DeviceAllocator* alloc_ = nullptr;
  X* ptr_ = nullptr;
  size_t count_ = 0;
};

template <typename X>
using PinnedBuffer = Buffer<X, true>;

// Lays several arrays out in one allocation, each 256-byte aligned. A first pass over a null base
// measures (take() returns null); the second, over the allocation, hands out the pointers.
class Carver {
 public:
  explicit Carver(char* base) : base_(base) {}
  template <typename X>
  X* take(size_t count) {
    used_ = checked_add(used_, (256 - used_ % 256) % 256, "an activation layout");
    X* p = base_ ? reinterpret_cast<X*>(base_ + used_) : nullptr;
    used_ = checked_add(used_, checked_mul(count, sizeof(X), "an activation buffer"), "an activation layout");
    return p;
  }
  size_t used() const { return used_; }

 private:
  char* base_;
  size_t used_ = 0;
};

}  // namespace dapo::cuda::model
