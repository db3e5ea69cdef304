// cudaOpCheck / cudaOpNames: the table-driven op test's entry (native/cuda/model/op_check.cuh).
// Synchronous: each case is small, and the test runs them one by one.
#include <cmath>
#include <string>
#include <vector>

#include "bindings/args.h"
#include "bindings/cuda_bindings.h"

namespace dapo::bind {
namespace {

// Reads obj[key] as an array of at most `limit` finite numbers.
std::vector<double> number_list(Napi::Env env, Napi::Object obj, const char* key, size_t limit) {
  std::vector<double> out;
  Napi::Value v = obj.Get(key);
  if (v.IsUndefined()) return out;
  if (!v.IsArray()) throw_type(env, std::string(key) + " must be an array of numbers");
  Napi::Array a = v.As<Napi::Array>();
  if (a.Length() > limit) throw_range(env, std::string(key) + " holds more than " + std::to_string(limit) + " values");
  for (uint32_t i = 0; i < a.Length(); ++i) {
    Napi::Value e = a.Get(i);
    if (!e.IsNumber() || !std::isfinite(e.As<Napi::Number>().DoubleValue()))
      throw_type(env, std::string(key) + "[" + std::to_string(i) + "] must be a finite number");
    out.push_back(e.As<Napi::Number>().DoubleValue());
  }
  return out;
}

Napi::Value CudaOpCheck(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    Napi::Object o = require_object(info, 0, "case");
    const std::optional<std::string> op = string(o, "op");
    if (!op) throw_type(env, "op must be a string naming a registered op check");
    const std::optional<std::string> dtype = string(o, "dtype");
    if (!dtype || (*dtype != "f32" && *dtype != "bf16")) throw_type(env, "dtype must be 'f32' or 'bf16'");
    const std::optional<double> seed = number(o, "seed");
    if (!seed || *seed < 0 || *seed > 9007199254740991.0 || std::floor(*seed) != *seed)
      throw_range(env, "seed must be an integer in [0, 2^53)");
    const std::vector<double> dims = number_list(env, o, "dims", 8);
    const std::vector<double> params = number_list(env, o, "params", 4);
    const std::vector<double> lengths_d = number_list(env, o, "lengths", 1u << 20);
    std::vector<int32_t> lengths;
    for (double d : lengths_d) {
      if (d < 0 || d > 2147483647.0 || std::floor(d) != d) throw_range(env, "lengths must be integers in [0, 2^31)");
      lengths.push_back(static_cast<int32_t>(d));
    }
    dapo_cuda_op_case c{};
    c.op = op->c_str();
    c.dtype = *dtype == "f32" ? DAPO_CUDA_F32 : DAPO_CUDA_BF16;
    c.seed = static_cast<uint64_t>(*seed);
    for (size_t i = 0; i < dims.size(); ++i) {
      if (std::floor(dims[i]) != dims[i]) throw_range(env, "dims[" + std::to_string(i) + "] must be an integer");
      c.dims[i] = static_cast<int64_t>(dims[i]);
    }
    for (size_t i = 0; i < params.size(); ++i) c.params[i] = params[i];
    c.lengths = lengths.empty() ? nullptr : lengths.data();
    c.n_lengths = lengths.size();
    const CudaModule& m = require_cuda();
    dapo_cuda_op_result r{};
    char message[1024] = {0};
    check_cuda(m.op_check(&c, &r, message, sizeof message), message);
    Napi::Object errors = Napi::Object::New(env);
    for (int i = 0; i < r.n_outputs; ++i) {
      Napi::Object e = Napi::Object::New(env);
      e.Set("abs", r.max_abs[i]);
      e.Set("rel", r.max_rel[i]);
      errors.Set(r.names[i], e);
    }
    Napi::Object out = Napi::Object::New(env);
    out.Set("errors", errors);
    out.Set("cudaMs", static_cast<double>(r.cuda_ms));
    return out;
  });
}

Napi::Value CudaOpNames(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    const CudaModule& m = require_cuda();
    std::vector<char> names(1 << 16, 0);
    m.op_names(names.data(), names.size());
    Napi::Array out = Napi::Array::New(env);
    std::string all(names.data());
    size_t start = 0;
    uint32_t k = 0;
    while (start < all.size()) {
      size_t comma = all.find(',', start);
      if (comma == std::string::npos) comma = all.size();
      out.Set(k++, all.substr(start, comma - start));
      start = comma + 1;
    }
    return out;
  });
}

}  // namespace

void register_cuda_op_check(Napi::Env env, Napi::Object exports) {
  exports.Set("cudaOpCheck", Napi::Function::New(env, CudaOpCheck, "cudaOpCheck"));
  exports.Set("cudaOpNames", Napi::Function::New(env, CudaOpNames, "cudaOpNames"));
}

}  // namespace dapo::bind
