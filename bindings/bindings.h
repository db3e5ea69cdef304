// Each bindings/*.cc file registers its functions on the addon's exports.
#pragma once
#include <napi.h>

namespace dapo::bind {
void register_loss(Napi::Env env, Napi::Object exports);
void register_runtime(Napi::Env env, Napi::Object exports);
void register_cuda(Napi::Env env, Napi::Object exports);
void register_policy(Napi::Env env, Napi::Object exports);
}  // namespace dapo::bind
