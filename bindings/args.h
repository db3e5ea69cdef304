// Argument checks shared by the bindings: typed-array views with their type and length
// checked, numeric options, and the conversion of native errors into JavaScript errors.
#pragma once
#include <napi.h>

#include <cstdint>
#include <optional>
#include <string>

#include "common/error.h"

namespace dapo::bind {

// A JavaScript error of the given kind with `code` set, ready to throw.
Napi::Error make_error(Napi::Env env, ErrorKind kind, const std::string& code, const std::string& message);
[[noreturn]] void throw_type(Napi::Env env, const std::string& message);
[[noreturn]] void throw_range(Napi::Env env, const std::string& message);
// Rethrows a dapo::Error (or any std::exception) as the matching JavaScript error.
Napi::Error to_js_error(Napi::Env env, const std::exception& e);

Napi::Object require_object(const Napi::CallbackInfo& info, size_t index, const char* name);

template <typename T>
struct View {
  T* data = nullptr;
  size_t length = 0;
  Napi::TypedArray array;  // kept so callers can hold a reference while async work runs
};

// The typed array at obj[key], which must be of `type` (the JS class named in errors).
// Returns nullopt when absent and not required.
template <typename T>
std::optional<View<T>> typed_array(Napi::Object obj, const char* key, napi_typedarray_type type,
                                   const char* type_name, bool required);

std::optional<double> number(Napi::Object obj, const char* key);
std::optional<bool> boolean(Napi::Object obj, const char* key);
std::optional<std::string> string(Napi::Object obj, const char* key);

// Wraps a call so a dapo::Error becomes a JS exception rather than a crash.
template <typename F>
auto guarded(Napi::Env env, F&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw to_js_error(env, e);
  }
}

}  // namespace dapo::bind
