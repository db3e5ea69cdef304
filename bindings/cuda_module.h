// Opens libdapo_cuda.so (next to the addon) on first use and resolves its C ABI. When it
// cannot (not built, no driver, no device, wrong API version) the reason is kept and reported.
#pragma once
#include <string>

#include "cuda/api.h"

namespace dapo::bind {

struct CudaModule {
  int (*api_version)(void) = nullptr;
  int (*device_count)(int*, char*, size_t) = nullptr;
  int (*device_name)(int, char*, size_t, char*, size_t) = nullptr;
  int (*malloc)(void**, size_t, char*, size_t) = nullptr;
  int (*free)(void*, char*, size_t) = nullptr;
  int (*upload)(void*, const void*, size_t, char*, size_t) = nullptr;
  int (*download)(void*, const void*, size_t, char*, size_t) = nullptr;
  int (*mem_info)(size_t*, size_t*, char*, size_t) = nullptr;
  int (*copy_bench)(size_t, int, float*, char*, size_t) = nullptr;
  int (*group_advantages)(dapo_cuda_in, size_t, size_t, int, double, dapo_cuda_out, char*, size_t) = nullptr;
  int (*dapo_loss)(const dapo_cuda_loss_args*, dapo_cuda_loss_stats*, char*, size_t) = nullptr;
  int (*dapo_loss_hidden)(const dapo_cuda_hidden_args*, dapo_cuda_loss_stats*, char*, size_t) = nullptr;
  int (*op_check)(const dapo_cuda_op_case*, dapo_cuda_op_result*, char*, size_t) = nullptr;
  int (*op_names)(char*, size_t) = nullptr;
  int devices = 0;
};

struct CudaStatus {
  bool built = false;   // this addon was compiled together with a CUDA module
  bool loaded = false;  // the module opened and answered its API version
  int devices = 0;
  std::string reason;   // why CUDA is not usable, when it is not
  std::string path;     // where the module was looked for
};

// Opens the module once; later calls return the same status.
const CudaStatus& cuda_status();
// The module when it is loaded and has a device, else nullptr (see cuda_status().reason).
const CudaModule* cuda_module();

}  // namespace dapo::bind
