#include "bindings/args.h"

#include <cmath>
#include <cstring>
#include <stdexcept>

namespace dapo::bind {

Napi::Error make_error(Napi::Env env, ErrorKind kind, const std::string& code, const std::string& message) {
  Napi::Error error = kind == ErrorKind::Type    ? Napi::Error(Napi::TypeError::New(env, message))
                      : kind == ErrorKind::Range ? Napi::Error(Napi::RangeError::New(env, message))
                                                 : Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, code));
  return error;
}

void throw_type(Napi::Env env, const std::string& message) {
  throw make_error(env, ErrorKind::Type, "ERR_DAPO_TYPE", message);
}

void throw_range(Napi::Env env, const std::string& message) {
  throw make_error(env, ErrorKind::Range, "ERR_DAPO_RANGE", message);
}

Napi::Error to_js_error(Napi::Env env, const std::exception& e) {
  if (auto* own = dynamic_cast<const Error*>(&e)) return make_error(env, own->kind(), own->code(), own->what());
  if (dynamic_cast<const std::bad_alloc*>(&e)) return make_error(env, ErrorKind::Runtime, "ERR_DAPO_OUT_OF_MEMORY", "out of memory");
  // std::vector's "cannot create std::vector larger than max_size()": a size no check caught.
  if (dynamic_cast<const std::length_error*>(&e))
    return make_error(env, ErrorKind::Range, "ERR_DAPO_RANGE", std::string("a buffer size is too large (") + e.what() + ")");
  return make_error(env, ErrorKind::Runtime, "ERR_DAPO_NATIVE", e.what());
}

Napi::Error with_code(const Napi::Error& error) {
  Napi::Env env = error.Env();
  Napi::Value value = error.Value();
  if (!value.IsObject()) return error;
  Napi::Object object = value.As<Napi::Object>();
  if (object.Has("code") && object.Get("code").IsString()) return error;
  Napi::Value range = env.Global().Get("RangeError"), type = env.Global().Get("TypeError");
  const char* code = range.IsFunction() && object.InstanceOf(range.As<Napi::Function>())  ? "ERR_DAPO_RANGE"
                     : type.IsFunction() && object.InstanceOf(type.As<Napi::Function>()) ? "ERR_DAPO_TYPE"
                                                                                           : "ERR_DAPO_NATIVE";
  object.Set("code", Napi::String::New(env, code));
  return error;
}

Napi::Object require_object(const Napi::CallbackInfo& info, size_t index, const char* name) {
  if (info.Length() <= index || !info[index].IsObject() || info[index].IsArray())
    throw_type(info.Env(), std::string(name) + " must be an object");
  return info[index].As<Napi::Object>();
}

template <typename T>
View<T> typed_array_view(Napi::Env env, Napi::TypedArray array, const char* key) {
  napi_typedarray_type type;
  size_t length = 0, offset = 0;
  void* data = nullptr;
  napi_value buffer;
  // napi_get_typedarray_info reads SharedArrayBuffers too, where ArrayBuffer().Data() fails.
  if (napi_get_typedarray_info(env, array, &type, &length, &data, &buffer, &offset) != napi_ok)
    throw_type(env, std::string(key) + " could not be read as a typed array");
  bool is_array_buffer = false, detached = false;
  napi_is_arraybuffer(env, buffer, &is_array_buffer);
  if (is_array_buffer) napi_is_detached_arraybuffer(env, buffer, &detached);
  if (detached) throw_type(env, std::string(key) + " refers to a detached buffer");
  View<T> view;
  view.array = array;
  view.length = length;
  view.data = static_cast<T*>(data);
  view.shared = !is_array_buffer;
  return view;
}

template <typename T>
std::optional<View<T>> typed_array(Napi::Object obj, const char* key, napi_typedarray_type type,
                                   const char* type_name, bool required) {
  Napi::Env env = obj.Env();
  Napi::Value value = obj.Get(key);
  if (value.IsUndefined() || value.IsNull()) {
    if (required) throw_type(env, std::string(key) + " is required and must be a " + type_name);
    return std::nullopt;
  }
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != type)
    throw_type(env, std::string(key) + " must be a " + type_name);
  return typed_array_view<T>(env, value.As<Napi::TypedArray>(), key);
}

template std::optional<View<float>> typed_array(Napi::Object, const char*, napi_typedarray_type, const char*, bool);
template std::optional<View<uint16_t>> typed_array(Napi::Object, const char*, napi_typedarray_type, const char*, bool);
template std::optional<View<int32_t>> typed_array(Napi::Object, const char*, napi_typedarray_type, const char*, bool);
template std::optional<View<uint8_t>> typed_array(Napi::Object, const char*, napi_typedarray_type, const char*, bool);
template View<float> typed_array_view(Napi::Env, Napi::TypedArray, const char*);
template View<uint16_t> typed_array_view(Napi::Env, Napi::TypedArray, const char*);
template View<int32_t> typed_array_view(Napi::Env, Napi::TypedArray, const char*);
template View<uint8_t> typed_array_view(Napi::Env, Napi::TypedArray, const char*);

std::optional<double> number(Napi::Object obj, const char* key) {
  Napi::Value value = obj.Get(key);
  if (value.IsUndefined()) return std::nullopt;
  if (!value.IsNumber()) throw_type(obj.Env(), std::string(key) + " must be a number");
  double d = value.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d)) throw_range(obj.Env(), std::string(key) + " must be finite");
  return d;
}

std::optional<bool> boolean(Napi::Object obj, const char* key) {
  Napi::Value value = obj.Get(key);
  if (value.IsUndefined()) return std::nullopt;
  if (!value.IsBoolean()) throw_type(obj.Env(), std::string(key) + " must be a boolean");
  return value.As<Napi::Boolean>().Value();
}

std::optional<std::string> string(Napi::Object obj, const char* key) {
  Napi::Value value = obj.Get(key);
  if (value.IsUndefined()) return std::nullopt;
  if (!value.IsString()) throw_type(obj.Env(), std::string(key) + " must be a string");
  return value.As<Napi::String>().Utf8Value();
}

size_t integer_value(Napi::Env env, double value, const char* key, size_t min) {
  if (!(value >= static_cast<double>(min)) || value > kMaxSafeInteger || value != std::floor(value))
    throw_range(env, std::string(key) + " must be " +
                         (min == 0 ? std::string("a non-negative integer")
                          : min == 1 ? std::string("a positive integer")
                                     : "an integer >= " + std::to_string(min)) +
                         " below 2^53, got " + Napi::Number::New(env, value).ToString().Utf8Value());
  return static_cast<size_t>(value);
}

std::optional<size_t> integer(Napi::Object obj, const char* key, size_t min) {
  Napi::Value value = obj.Get(key);
  if (value.IsUndefined()) return std::nullopt;
  if (!value.IsNumber()) throw_type(obj.Env(), std::string(key) + " must be a number");
  return integer_value(obj.Env(), value.As<Napi::Number>().DoubleValue(), key, min);
}

// ---------------------------------------------------------------------------------------------
// CallArrays

namespace {

// The array's memory now, or nullptr when it was detached.
void* current_data(Napi::Env env, napi_value array, size_t* bytes) {
  napi_typedarray_type type;
  size_t length = 0, offset = 0;
  void* data = nullptr;
  napi_value buffer;
  if (napi_get_typedarray_info(env, array, &type, &length, &data, &buffer, &offset) != napi_ok) return nullptr;
  bool is_array_buffer = false, detached = false;
  napi_is_arraybuffer(env, buffer, &is_array_buffer);
  if (is_array_buffer) napi_is_detached_arraybuffer(env, buffer, &detached);
  if (detached) return nullptr;
  size_t width = 1;
  switch (type) {
    case napi_int16_array: case napi_uint16_array: width = 2; break;
    case napi_int32_array: case napi_uint32_array: case napi_float32_array: width = 4; break;
    case napi_float64_array: case napi_bigint64_array: case napi_biguint64_array: width = 8; break;
    default: break;
  }
  *bytes = length * width;
  return data;
}

Napi::Error detached_error(Napi::Env env, const std::string& key, const char* when) {
  return make_error(env, ErrorKind::Type, "ERR_DAPO_DETACHED", key + " was detached or resized " + when);
}

}  // namespace

void* CallArrays::hold(Napi::TypedArray array, void* data, size_t bytes, bool shared, const char* key, bool output) {
  size_t now = 0;
  if (bytes > 0 && (current_data(array.Env(), array, &now) != data || now != bytes))
    throw detached_error(array.Env(), key, "while the arguments were read");
  Entry entry{Napi::Persistent(Napi::Value(array)), data, bytes, key, {}, output};
  void* use = data;
  if (async_ && !shared && bytes > 0) {
    entry.own.resize(bytes);
    if (!output) std::memcpy(entry.own.data(), data, bytes);
    use = entry.own.data();
  }
  entries_.push_back(std::move(entry));
  return use;
}

void CallArrays::recheck(Napi::Env env) const {
  for (const Entry& e : entries_) {
    if (!e.own.empty()) continue;  // a copy of its own: nothing the caller does can touch it
    size_t bytes = 0;
    void* data = current_data(env, e.array.Value(), &bytes);
    if (e.bytes > 0 && (data != e.data || bytes != e.bytes))
      throw detached_error(env, e.key, "while the arguments were read");
  }
}

void CallArrays::finish(Napi::Env env) {
  for (Entry& e : entries_) {
    if (!e.output || e.own.empty()) continue;
    size_t bytes = 0;
    void* data = current_data(env, e.array.Value(), &bytes);
    if (!data || bytes != e.bytes)
      throw detached_error(env, e.key, "while the call ran; its result is lost");
    std::memcpy(data, e.own.data(), e.bytes);
    e.own.clear();
    e.own.shrink_to_fit();
  }
}

}  // namespace dapo::bind
