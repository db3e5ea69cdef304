// Argument checks shared by the bindings: typed-array views with their type and length
// checked, numeric options, and the conversion of native errors into JavaScript errors.
#pragma once
#include <napi.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

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
  bool shared = false;     // over a SharedArrayBuffer (which can be neither detached nor shrunk)
};

// The typed array at obj[key], which must be of `type` (the JS class named in errors). Arrays
// over an ArrayBuffer or a SharedArrayBuffer are both accepted; a detached one is a TypeError.
// Returns nullopt when absent and not required.
template <typename T>
std::optional<View<T>> typed_array(Napi::Object obj, const char* key, napi_typedarray_type type,
                                   const char* type_name, bool required);
// The same for a typed array already in hand (a positional argument).
template <typename T>
View<T> typed_array_view(Napi::Env env, Napi::TypedArray array, const char* key);

std::optional<double> number(Napi::Object obj, const char* key);
std::optional<bool> boolean(Napi::Object obj, const char* key);
std::optional<std::string> string(Napi::Object obj, const char* key);

// JavaScript's largest exact integer (Number.MAX_SAFE_INTEGER): the bound of every count.
constexpr double kMaxSafeInteger = 9007199254740991.0;
// obj[key] as an integer in [min, 2^53 - 1] (a count or a size); nullopt when absent.
std::optional<size_t> integer(Napi::Object obj, const char* key, size_t min);
// A number already read, checked the same way.
size_t integer_value(Napi::Env env, double value, const char* key, size_t min);

// The typed arrays one native call reads or writes, kept valid until it has run. JavaScript
// can detach (transfer) an ArrayBuffer or shrink a resizable one, which frees or decommits its
// memory, and N-API has no way to pin it. So:
// - every array is checked again when it is handed over (input() / output()): a getter on the
//   options object may have detached or shrunk it since it was read, and copying from (or
//   keeping) the pointer read then would touch freed memory;
// - a synchronous call reads and writes the caller's memory in place; recheck() refuses the
//   call when a getter on the options object detached or shrank an array handed over before
//   it (no JavaScript runs after that until the call returns);
// - an asynchronous call copies each input over an ArrayBuffer when it is read, and gives the
//   worker a buffer of its own for each output over an ArrayBuffer, copied into the caller's
//   array when the call ends (finish(), which refuses with ERR_DAPO_DETACHED when that array
//   was detached meanwhile). Arrays over a SharedArrayBuffer, which can be neither detached
//   nor shrunk, are used in place, zero-copy, and referenced so they stay alive.
class CallArrays {
 public:
  explicit CallArrays(bool async = false) : async_(async) {}
  bool async() const { return async_; }
  void set_async(bool async) { async_ = async; }
  // The memory the native code reads for this input.
  template <typename T>
  const T* input(const View<T>& view, const char* key) {
    return static_cast<const T*>(hold(view.array, view.data, view.length * sizeof(T), view.shared, key, false));
  }
  // The memory the native code writes for this output.
  template <typename T>
  T* output(const View<T>& view, const char* key) {
    return static_cast<T*>(hold(view.array, view.data, view.length * sizeof(T), view.shared, key, true));
  }
  // The same for an array whose element type is known only at run time (the CUDA bindings'
  // operands): `bytes` is its length in bytes.
  const void* input_bytes(Napi::TypedArray array, void* data, size_t bytes, bool shared, const char* key) {
    return hold(array, data, bytes, shared, key, false);
  }
  void* output_bytes(Napi::TypedArray array, void* data, size_t bytes, bool shared, const char* key) {
    return hold(array, data, bytes, shared, key, true);
  }
  void recheck(Napi::Env env) const;
  void finish(Napi::Env env);

 private:
  struct Entry {
    Napi::Reference<Napi::Value> array;
    void* data;               // the caller's memory when the array was read
    size_t bytes;
    std::string key;
    std::vector<uint8_t> own; // an async call's copy (input) or buffer (output)
    bool output;
  };
  void* hold(Napi::TypedArray array, void* data, size_t bytes, bool shared, const char* key, bool output);
  bool async_;
  std::vector<Entry> entries_;
};

// Gives an error that N-API or V8 raised without a `code` (an allocation V8 refused, ...) the
// code of its kind, so every error the addon throws carries one.
Napi::Error with_code(const Napi::Error& error);

// Wraps a call so a dapo::Error becomes a JS exception rather than a crash.
template <typename F>
auto guarded(Napi::Env env, F&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const Napi::Error& e) {
    throw with_code(e);
  } catch (const std::exception& e) {
    throw to_js_error(env, e);
  }
}

}  // namespace dapo::bind
