// cudaInfo(): whether the CUDA module was built, loaded, and which devices it sees.
#include "bindings/args.h"
#include "bindings/bindings.h"
#include "bindings/cuda_bindings.h"
#include "bindings/cuda_module.h"

namespace dapo::bind {
namespace {

Napi::Value CudaInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const CudaStatus& status = cuda_status();
  Napi::Object out = Napi::Object::New(env);
  out.Set("built", status.built);
  out.Set("loaded", status.loaded);
  out.Set("devices", status.devices);
  if (!status.reason.empty()) out.Set("reason", status.reason);
  if (const CudaModule* module = cuda_module()) {
    Napi::Array names = Napi::Array::New(env, module->devices);
    for (int d = 0; d < module->devices; ++d) {
      char name[256] = {0}, message[256] = {0};
      if (module->device_name(d, name, sizeof name, message, sizeof message) == 0) names.Set(d, name);
      else names.Set(d, message);
    }
    out.Set("deviceNames", names);
  }
  return out;
}

}  // namespace

void register_cuda(Napi::Env env, Napi::Object exports) {
  exports.Set("cudaInfo", Napi::Function::New(env, CudaInfo, "cudaInfo"));
  register_cuda_tensor(env, exports);
  register_cuda_loss(env, exports);
  register_hidden_loss(env, exports);
}

}  // namespace dapo::bind
