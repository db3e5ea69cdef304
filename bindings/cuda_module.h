// Opens libdapo_cuda.so (next to the addon, or the file DAPO_CUDA_MODULE names: the CPU emulator's
// build, tools/cuda-emu) on first use and resolves its C ABI. When it cannot (not built, no
// driver, no device, wrong API version) the reason is kept and reported.
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

// The policy engine's entry points (api.h, dapo_cuda_engine_*). Resolved apart from the kernels
// above, so that a module without them still serves the loss (CudaStatus::engine_reason says why).
struct CudaEngineApi {
  int (*create)(const dapo_cuda_model_config*, const dapo_cuda_engine_options*, dapo_cuda_engine**, char*, size_t) = nullptr;
  void (*destroy)(dapo_cuda_engine*) = nullptr;
  int (*write)(dapo_cuda_engine*, int, size_t, size_t, const void*, int, char*, size_t) = nullptr;
  int (*read)(dapo_cuda_engine*, int, size_t, size_t, float*, char*, size_t) = nullptr;
  int (*get_steps)(dapo_cuda_engine*, uint64_t*, char*, size_t) = nullptr;
  int (*set_steps)(dapo_cuda_engine*, uint64_t, char*, size_t) = nullptr;
  int (*zero_grad)(dapo_cuda_engine*, char*, size_t) = nullptr;
  int (*release_buffers)(dapo_cuda_engine*, char*, size_t) = nullptr;
  int (*forward_logits)(dapo_cuda_engine*, const int32_t*, size_t, float*, char*, size_t) = nullptr;
  int (*logprobs)(dapo_cuda_engine*, const dapo_cuda_packed_batch*, double, float*, float*, char*, size_t) = nullptr;
  int (*accumulate)(dapo_cuda_engine*, const dapo_cuda_accumulate_args*, dapo_cuda_accumulate_stats*, char*, size_t) = nullptr;
  int (*step)(dapo_cuda_engine*, const dapo_cuda_step_args*, dapo_cuda_step_result*, char*, size_t) = nullptr;
  int (*generate_capacity)(dapo_cuda_engine*, const dapo_cuda_generate_args*, size_t*, char*, size_t) = nullptr;
  int (*generate)(dapo_cuda_engine*, const dapo_cuda_generate_args*, int32_t*, float*, size_t*, uint8_t*, char*, size_t) = nullptr;
  int (*memory)(dapo_cuda_engine*, int, dapo_cuda_memory_stats*, char*, size_t) = nullptr;
};

struct CudaStatus {
  bool built = false;   // this addon was compiled together with a CUDA module
  bool loaded = false;  // the module opened and answered its API version
  int devices = 0;
  std::string reason;   // why CUDA is not usable, when it is not
  std::string path;     // where the module was looked for (DAPO_CUDA_MODULE, else beside the addon)
  std::string emulator;  // what the module says it is when it is the CPU emulator (tools/cuda-emu)
  bool engine = false;        // the policy engine's entry points resolved too
  std::string engine_reason;  // why they did not, when the module loaded
};

// Opens the module once; later calls return the same status.
const CudaStatus& cuda_status();
// The module when it is loaded and has a device, else nullptr (see cuda_status().reason).
const CudaModule* cuda_module();
// The policy engine's entry points when the module is usable and has them, else nullptr (see
// cuda_status().reason, then .engine_reason).
const CudaEngineApi* cuda_engine_api();

}  // namespace dapo::bind
