// What the emulator's other host libraries (the cuBLASLt stand-in) use of its runtime: stream
// submission (work runs at once, or is recorded into a capture) and device-pointer checks.
#pragma once
#include <cstddef>
#include <functional>

#include "emu/runtime_api.h"

namespace emu {
EMU_API cudaError_t enqueue(cudaStream_t stream, const char* what, std::function<void()> work);
EMU_API bool device_range(const void* p, size_t bytes);  // inside one device allocation
}  // namespace emu
