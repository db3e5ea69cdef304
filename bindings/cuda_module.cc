#include "bindings/cuda_module.h"

#include <dlfcn.h>
#include <sys/stat.h>

#include <cstdlib>

#include <mutex>

namespace dapo::bind {
namespace {

CudaModule g_module;
CudaEngineApi g_engine;
CudaStatus g_status;
std::once_flag g_once;

std::string directory_of_this_addon() {
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(&directory_of_this_addon), &info) == 0 || !info.dli_fname) return ".";
  std::string path = info.dli_fname;
  size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

template <typename F>
bool resolve(void* handle, const char* name, F& slot, std::string& reason) {
  slot = reinterpret_cast<F>(dlsym(handle, name));
  if (!slot) reason = std::string("libdapo_cuda.so lacks the symbol ") + name;
  return slot != nullptr;
}

bool resolve_engine(void* handle, std::string& reason) {
  return resolve(handle, "dapo_cuda_engine_create", g_engine.create, reason) &&
         resolve(handle, "dapo_cuda_engine_destroy", g_engine.destroy, reason) &&
         resolve(handle, "dapo_cuda_engine_write", g_engine.write, reason) &&
         resolve(handle, "dapo_cuda_engine_read", g_engine.read, reason) &&
         resolve(handle, "dapo_cuda_engine_get_steps", g_engine.get_steps, reason) &&
         resolve(handle, "dapo_cuda_engine_set_steps", g_engine.set_steps, reason) &&
         resolve(handle, "dapo_cuda_engine_zero_grad", g_engine.zero_grad, reason) &&
         resolve(handle, "dapo_cuda_engine_release_buffers", g_engine.release_buffers, reason) &&
         resolve(handle, "dapo_cuda_engine_forward_logits", g_engine.forward_logits, reason) &&
         resolve(handle, "dapo_cuda_engine_logprobs", g_engine.logprobs, reason) &&
         resolve(handle, "dapo_cuda_engine_accumulate", g_engine.accumulate, reason) &&
         resolve(handle, "dapo_cuda_engine_step", g_engine.step, reason) &&
         resolve(handle, "dapo_cuda_engine_generate_capacity", g_engine.generate_capacity, reason) &&
         resolve(handle, "dapo_cuda_engine_generate", g_engine.generate, reason) &&
         resolve(handle, "dapo_cuda_engine_memory", g_engine.memory, reason);
}

void open_module() {
#ifdef DAPO_CUDA_BUILT
  g_status.built = true;
#endif
  // DAPO_CUDA_MODULE: another build of the module, e.g. the CPU emulator's (scripts/cuda-emu-build.sh).
  const char* chosen = std::getenv("DAPO_CUDA_MODULE");
  const bool overridden = chosen && *chosen;
  g_status.path = overridden ? chosen : directory_of_this_addon() + "/libdapo_cuda.so";
  struct stat st;
  if (stat(g_status.path.c_str(), &st) != 0) {
    g_status.reason = overridden    ? "DAPO_CUDA_MODULE names " + g_status.path + ", which does not exist"
                      : g_status.built ? "the CUDA module is missing at " + g_status.path
                                       : "this build has no CUDA module (no CUDA compiler was found when it was built)";
    return;
  }
  void* handle = dlopen(g_status.path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char* err = dlerror();
    g_status.reason = std::string("dlopen failed: ") + (err ? err : "unknown error");
    return;
  }
  if (!resolve(handle, "dapo_cuda_api_version", g_module.api_version, g_status.reason) ||
      !resolve(handle, "dapo_cuda_device_count", g_module.device_count, g_status.reason) ||
      !resolve(handle, "dapo_cuda_device_name", g_module.device_name, g_status.reason))
    return;
  if (g_module.api_version() != DAPO_CUDA_API_VERSION) {
    g_status.reason = "libdapo_cuda.so has API version " + std::to_string(g_module.api_version()) +
                      ", this addon needs " + std::to_string(DAPO_CUDA_API_VERSION);
    return;
  }
  if (!resolve(handle, "dapo_cuda_malloc", g_module.malloc, g_status.reason) ||
      !resolve(handle, "dapo_cuda_free", g_module.free, g_status.reason) ||
      !resolve(handle, "dapo_cuda_upload", g_module.upload, g_status.reason) ||
      !resolve(handle, "dapo_cuda_download", g_module.download, g_status.reason) ||
      !resolve(handle, "dapo_cuda_mem_info", g_module.mem_info, g_status.reason) ||
      !resolve(handle, "dapo_cuda_copy_bench", g_module.copy_bench, g_status.reason) ||
      !resolve(handle, "dapo_cuda_group_advantages", g_module.group_advantages, g_status.reason) ||
      !resolve(handle, "dapo_cuda_dapo_loss", g_module.dapo_loss, g_status.reason) ||
      !resolve(handle, "dapo_cuda_dapo_loss_hidden", g_module.dapo_loss_hidden, g_status.reason) ||
      !resolve(handle, "dapo_cuda_op_check", g_module.op_check, g_status.reason) ||
      !resolve(handle, "dapo_cuda_op_names", g_module.op_names, g_status.reason))
    return;
  g_status.loaded = true;
  g_status.engine = resolve_engine(handle, g_status.engine_reason);
  // Only the emulator's runtime defines this: it says what the module runs on.
  if (auto emulator = reinterpret_cast<const char* (*)(void)>(dlsym(handle, "dapo_cuda_emulator")))
    g_status.emulator = emulator();
  char message[512] = {0};
  int count = 0;
  if (g_module.device_count(&count, message, sizeof message) != 0) {
    g_status.reason = std::string("no usable CUDA driver or device: ") + message;
    return;
  }
  g_status.devices = g_module.devices = count;
  if (count == 0) g_status.reason = "no CUDA device is visible";
}

}  // namespace

const CudaStatus& cuda_status() {
  std::call_once(g_once, open_module);
  return g_status;
}

const CudaModule* cuda_module() {
  const CudaStatus& status = cuda_status();
  return status.loaded && status.devices > 0 ? &g_module : nullptr;
}

const CudaEngineApi* cuda_engine_api() {
  return cuda_module() && cuda_status().engine ? &g_engine : nullptr;
}

}  // namespace dapo::bind
