// DeviceTensor: a handle on device memory, so callers keep data on the GPU between calls.
//   DeviceTensor.upload(typedArray) / DeviceTensor.empty(dtype, length) -> DeviceTensor
//   t.download(out?) -> typed array, t.dispose(), t.dtype, t.length, t.byteLength, t.disposed
// Memory is freed by dispose() or, failing that, when the object is collected; a dispose()
// while a call uses the tensor frees it when that call ends (DeviceTensorHold).
#include "bindings/cuda_bindings.h"
#include "common/checked.h"

namespace dapo::bind {

class DeviceTensor : public Napi::ObjectWrap<DeviceTensor> {
 public:
  static Napi::FunctionReference* constructor;

  static Napi::Function Init(Napi::Env env) {
    Napi::Function cls = DefineClass(
        env, "DeviceTensor",
        {StaticMethod("upload", &DeviceTensor::Upload), StaticMethod("empty", &DeviceTensor::Empty),
         InstanceMethod("download", &DeviceTensor::Download), InstanceMethod("dispose", &DeviceTensor::Dispose),
         InstanceAccessor("dtype", &DeviceTensor::GetDtype, nullptr),
         InstanceAccessor("length", &DeviceTensor::GetLength, nullptr),
         InstanceAccessor("byteLength", &DeviceTensor::GetByteLength, nullptr),
         InstanceAccessor("disposed", &DeviceTensor::GetDisposed, nullptr)});
    constructor = new Napi::FunctionReference(Napi::Persistent(cls));
    return cls;
  }

  // Only the static factories construct: they pass a token so user code cannot.
  explicit DeviceTensor(const Napi::CallbackInfo& info) : Napi::ObjectWrap<DeviceTensor>(info) {
    if (info.Length() != 1 || !info[0].IsExternal())
      throw_type(info.Env(), "use DeviceTensor.upload(typedArray) or DeviceTensor.empty(dtype, length)");
  }
  // Collected: no call holds it (a hold references the object).
  ~DeviceTensor() override { release(); }

  static Napi::Object Create(Napi::Env env, DType dtype, size_t length) {
    const size_t bytes = checked_mul(length, dtype_bytes(dtype), "the DeviceTensor's byte length");
    const CudaModule& cuda = require_cuda();
    void* ptr = nullptr;
    char message[512] = {0};
    check_cuda(cuda.malloc(&ptr, bytes, message, sizeof message), message);
    Napi::Object obj = constructor->New({Napi::External<void>::New(env, nullptr)});
    DeviceTensor* t = Unwrap(obj);
    t->ptr_ = ptr;
    t->length_ = length;
    t->dtype_ = dtype;
    return obj;
  }

  bool buffer(DeviceBuffer* out) const {
    if (disposed_) return false;
    out->ptr = ptr_;
    out->length = length_;
    out->dtype = dtype_;
    return true;
  }

  void hold() { ++holds_; }
  void unhold() {
    if (--holds_ == 0 && disposed_) release();
  }

 private:
  void release() {
    if (!ptr_) return;
    if (const CudaModule* cuda = cuda_module()) {
      char message[256];
      cuda->free(ptr_, message, sizeof message);
    }
    ptr_ = nullptr;
  }

  static Napi::Value Upload(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guarded(env, [&]() -> Napi::Value {
      DType dtype;
      if (info.Length() < 1 || !info[0].IsTypedArray() || !dtype_of_typed_array(info[0].As<Napi::TypedArray>().TypedArrayType(), &dtype))
        throw_type(env, "DeviceTensor.upload takes a Float32Array, Uint16Array (bfloat16 bits), Int32Array or Uint8Array");
      // Over an ArrayBuffer or a SharedArrayBuffer; a detached one is a TypeError.
      const View<uint8_t> array = typed_array_view<uint8_t>(env, info[0].As<Napi::TypedArray>(), "array");
      Napi::Object obj = Create(env, dtype, array.length);
      DeviceTensor* t = Unwrap(obj);
      char message[512] = {0};
      check_cuda(require_cuda().upload(t->ptr_, array.data, array.length * dtype_bytes(dtype), message, sizeof message), message);
      return obj;
    });
  }

  static Napi::Value Empty(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guarded(env, [&]() -> Napi::Value {
      if (info.Length() < 2 || !info[0].IsString() || !info[1].IsNumber())
        throw_type(env, "DeviceTensor.empty(dtype, length): dtype 'float32' | 'bfloat16' | 'int32' | 'uint8'");
      const std::string name = info[0].As<Napi::String>().Utf8Value();
      DType dtype;
      if (name == "float32") dtype = DType::F32;
      else if (name == "bfloat16") dtype = DType::BF16;
      else if (name == "int32") dtype = DType::I32;
      else if (name == "uint8") dtype = DType::U8;
      else throw_range(env, "dtype must be 'float32', 'bfloat16', 'int32' or 'uint8', got '" + name + "'");
      return Create(env, dtype, integer_value(env, info[1].As<Napi::Number>().DoubleValue(), "length", 0));
    });
  }

  Napi::Value Download(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guarded(env, [&]() -> Napi::Value {
      if (disposed_) throw_type(env, "this DeviceTensor has been disposed");
      Napi::TypedArray out;
      if (info.Length() > 0 && !info[0].IsUndefined()) {
        if (!info[0].IsTypedArray()) throw_type(env, "out must be a typed array");
        out = info[0].As<Napi::TypedArray>();
        DType d;
        if (!dtype_of_typed_array(out.TypedArrayType(), &d) || d != dtype_)
          throw_type(env, std::string("out must match the tensor's dtype ") + dtype_name(dtype_));
        if (out.ElementLength() != length_)
          throw_range(env, "out has length " + std::to_string(out.ElementLength()) + ", expected " + std::to_string(length_));
      } else {
        switch (dtype_) {
          case DType::F32: out = Napi::Float32Array::New(env, length_); break;
          case DType::BF16: out = Napi::Uint16Array::New(env, length_); break;
          case DType::I32: out = Napi::Int32Array::New(env, length_); break;
          case DType::U8: out = Napi::Uint8Array::New(env, length_); break;
        }
      }
      // Over an ArrayBuffer or a SharedArrayBuffer; a detached one is a TypeError.
      const View<uint8_t> dst = typed_array_view<uint8_t>(env, out, "out");
      char message[512] = {0};
      check_cuda(require_cuda().download(dst.data, ptr_, length_ * dtype_bytes(dtype_), message, sizeof message), message);
      return out;
    });
  }

  // Held by a running call: the memory goes when the call ends (DeviceTensorHold).
  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    disposed_ = true;
    if (holds_ == 0) release();
    return info.Env().Undefined();
  }
  Napi::Value GetDtype(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), dtype_name(dtype_)); }
  Napi::Value GetLength(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), static_cast<double>(length_)); }
  Napi::Value GetByteLength(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(length_ * dtype_bytes(dtype_)));
  }
  Napi::Value GetDisposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), disposed_); }

  void* ptr_ = nullptr;
  size_t length_ = 0;
  DType dtype_ = DType::F32;
  bool disposed_ = false;
  size_t holds_ = 0;  // calls using the memory now
};

Napi::FunctionReference* DeviceTensor::constructor = nullptr;

DeviceTensorHold::DeviceTensorHold(Napi::Object tensor)
    : ref_(Napi::Persistent(tensor)), tensor_(DeviceTensor::Unwrap(tensor)) {
  tensor_->hold();
}

DeviceTensorHold::DeviceTensorHold(DeviceTensorHold&& other) noexcept
    : ref_(std::move(other.ref_)), tensor_(other.tensor_) {
  other.tensor_ = nullptr;
}

// Before the reference goes: the reference keeps tensor_ alive.
DeviceTensorHold::~DeviceTensorHold() {
  if (tensor_) tensor_->unhold();
}

const char* dtype_name(DType d) {
  switch (d) {
    case DType::F32: return "float32";
    case DType::BF16: return "bfloat16";
    case DType::I32: return "int32";
    default: return "uint8";
  }
}

bool dtype_of_typed_array(napi_typedarray_type type, DType* out) {
  switch (type) {
    case napi_float32_array: *out = DType::F32; return true;
    case napi_uint16_array: *out = DType::BF16; return true;
    case napi_int32_array: *out = DType::I32; return true;
    case napi_uint8_array: *out = DType::U8; return true;
    default: return false;
  }
}

size_t dtype_bytes(DType d) { return d == DType::F32 || d == DType::I32 ? 4 : d == DType::BF16 ? 2 : 1; }

bool device_tensor_of(Napi::Env env, Napi::Value value, const char* key, DeviceBuffer* out) {
  if (!DeviceTensor::constructor || !value.IsObject()) return false;
  Napi::Object obj = value.As<Napi::Object>();
  if (!obj.InstanceOf(DeviceTensor::constructor->Value())) return false;
  if (!DeviceTensor::Unwrap(obj)->buffer(out)) throw_type(env, std::string(key) + " is a disposed DeviceTensor");
  return true;
}

Napi::Object new_device_tensor(Napi::Env env, DType dtype, size_t length, DeviceBuffer* out) {
  Napi::Object obj = DeviceTensor::Create(env, dtype, length);
  DeviceTensor::Unwrap(obj)->buffer(out);
  return obj;
}

void register_cuda_tensor(Napi::Env env, Napi::Object exports) { exports.Set("DeviceTensor", DeviceTensor::Init(env)); }

}  // namespace dapo::bind
