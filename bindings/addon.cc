// The addon's entry point: every binding file adds its functions here.
#include <napi.h>

#include "bindings/bindings.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  dapo::bind::register_runtime(env, exports);
  dapo::bind::register_loss(env, exports);
  dapo::bind::register_cuda(env, exports);
  dapo::bind::register_policy(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(dapo_native, Init)
