// How the CUDA engine fails: inside, a C++ exception carrying a dapo_cuda status (api.h) and its
// message; at the C ABI (engine_api.cu), that status and message, never the exception. Plain
// C++, so the host-side checks (engine_inputs.cc) throw it too.
#pragma once
#include <stdexcept>
#include <string>

#include "cuda/api.h"

namespace dapo::cuda::model {

class EngineError : public std::runtime_error {
 public:
  EngineError(int status, const std::string& message) : std::runtime_error(message), status_(status) {}
  // DAPO_CUDA_ERR_* (< 0) or a cudaError_t (> 0).
  int status() const { return status_; }

 private:
  int status_;
};

// A value out of range; the message names the argument and the row (as the CPU engine's).
[[noreturn]] inline void throw_range(const std::string& message) { throw EngineError(DAPO_CUDA_ERR_RANGE, message); }
// An inconsistent call (a null array the call needs, an unknown enum value).
[[noreturn]] inline void throw_args(const std::string& message) { throw EngineError(DAPO_CUDA_ERR_ARGS, message); }

}  // namespace dapo::cuda::model
