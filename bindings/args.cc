#include "bindings/args.h"

#include <cmath>

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
  return make_error(env, ErrorKind::Runtime, "ERR_DAPO_NATIVE", e.what());
}

Napi::Object require_object(const Napi::CallbackInfo& info, size_t index, const char* name) {
  if (info.Length() <= index || !info[index].IsObject() || info[index].IsArray())
    throw_type(info.Env(), std::string(name) + " must be an object");
  return info[index].As<Napi::Object>();
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
  Napi::TypedArray array = value.As<Napi::TypedArray>();
  if (array.ArrayBuffer().ByteLength() != 0 && array.ArrayBuffer().Data() == nullptr)
    throw_type(env, std::string(key) + " refers to a detached buffer");
  View<T> view;
  view.array = array;
  view.length = array.ElementLength();
  view.data = reinterpret_cast<T*>(static_cast<uint8_t*>(array.ArrayBuffer().Data()) + array.ByteOffset());
  return view;
}

template std::optional<View<float>> typed_array(Napi::Object, const char*, napi_typedarray_type, const char*, bool);
template std::optional<View<uint16_t>> typed_array(Napi::Object, const char*, napi_typedarray_type, const char*, bool);
template std::optional<View<int32_t>> typed_array(Napi::Object, const char*, napi_typedarray_type, const char*, bool);
template std::optional<View<uint8_t>> typed_array(Napi::Object, const char*, napi_typedarray_type, const char*, bool);

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

}  // namespace dapo::bind
