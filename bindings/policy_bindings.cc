// PolicyEngine: the CPU policy engine (native/model) as a JavaScript class, plus the GEMM and
// the sampler's filtered distribution for tests and benchmarks. Argument checks, typed-array
// views and async workers only; the arithmetic lives in native/.
#include <algorithm>
#include <atomic>
#include <climits>
#include <cmath>
#include <cfloat>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <vector>

#include "bindings/args.h"
#include "bindings/bindings.h"
#include "bindings/loss_call.h"
#include "common/bf16.h"
#include "common/checked.h"
#include "model/engine.h"
#include "model/gemm.h"
#include "model/sampler.h"

namespace dapo::bind {
namespace {

// Per-target outputs of logprobs/accumulate, allocated on the main thread and kept referenced
// while the job runs: log-probs always, entropy when asked (else an empty array).
struct TokenOutputs {
  std::shared_ptr<std::vector<Napi::Reference<Napi::Value>>> refs;  // [0] log-probs, [1] entropy
  float* logprobs;
  float* entropy;
};

TokenOutputs token_outputs(Napi::Env env, size_t targets, bool want_entropy) {
  Napi::Float32Array lp = Napi::Float32Array::New(env, targets);
  Napi::Float32Array ent = Napi::Float32Array::New(env, want_entropy ? targets : 0);
  auto refs = std::make_shared<std::vector<Napi::Reference<Napi::Value>>>();
  refs->push_back(Napi::Persistent(Napi::Value(lp)));
  refs->push_back(Napi::Persistent(Napi::Value(ent)));
  return TokenOutputs{refs, lp.Data(), want_entropy ? ent.Data() : nullptr};
}

size_t size_arg(Napi::Env env, Napi::Object obj, const char* key, bool required, size_t fallback = 0) {
  auto v = number(obj, key);
  if (!v) {
    if (required) throw_type(env, std::string(key) + " is required and must be a number");
    return fallback;
  }
  return integer_value(env, *v, key, 0);
}

ModelConfig parse_config(Napi::Env env, Napi::Object o) {
  ModelConfig c;
  c.vocab = size_arg(env, o, "vocabSize", true);
  c.hidden = size_arg(env, o, "hiddenSize", true);
  c.intermediate = size_arg(env, o, "intermediateSize", true);
  c.layers = size_arg(env, o, "numLayers", true);
  c.heads = size_arg(env, o, "numHeads", true);
  c.kv_heads = size_arg(env, o, "numKvHeads", true);
  c.head_dim = size_arg(env, o, "headDim", true);
  c.max_positions = size_arg(env, o, "maxPositions", true);
  c.rope_theta = number(o, "ropeTheta").value_or(10000.0);
  c.rms_eps = number(o, "rmsNormEps").value_or(1e-6);
  c.qkv_bias = boolean(o, "qkvBias").value_or(false);
  c.qk_norm = boolean(o, "qkNorm").value_or(false);
  c.tie_embeddings = boolean(o, "tieWordEmbeddings").value_or(false);
  Napi::Value rs = o.Get("ropeScaling");
  if (!rs.IsUndefined() && !rs.IsNull()) {
    if (!rs.IsObject()) throw_type(env, "ropeScaling must be an object");
    Napi::Object r = rs.As<Napi::Object>();
    c.rope_llama3 = true;
    c.rope_factor = number(r, "factor").value_or(8.0);
    c.rope_low_freq_factor = number(r, "lowFreqFactor").value_or(1.0);
    c.rope_high_freq_factor = number(r, "highFreqFactor").value_or(4.0);
    c.rope_original_max_positions = number(r, "originalMaxPositions").value_or(8192.0);
  }
  return c;
}

// A worker that runs `work` off the main thread and resolves with `done(env)`.
class Job : public Napi::AsyncWorker {
 public:
  Job(Napi::Env env, const char* name, Napi::Object owner, std::atomic<bool>* busy, std::function<void()> work,
      std::function<Napi::Value(Napi::Env)> done)
      : Napi::AsyncWorker(env, name),
        deferred_(Napi::Promise::Deferred::New(env)),
        owner_(Napi::Persistent(owner)),
        busy_(busy),
        work_(std::move(work)),
        done_(std::move(done)) {}
  Napi::Promise promise() { return deferred_.Promise(); }

  void Execute() override {
    try {
      work_();
    } catch (...) {
      error_ = std::current_exception();
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    busy_->store(false);
    if (error_) {
      try {
        std::rethrow_exception(error_);
      } catch (const std::exception& e) {
        deferred_.Reject(to_js_error(env, e).Value());
      } catch (...) {
        deferred_.Reject(Napi::Error::New(env, "unknown native error").Value());
      }
      return;
    }
    try {
      deferred_.Resolve(done_(env));
    } catch (const Napi::Error& e) {
      deferred_.Reject(with_code(e).Value());
    } catch (const std::exception& e) {
      deferred_.Reject(to_js_error(env, e).Value());
    }
  }

 private:
  Napi::Promise::Deferred deferred_;
  Napi::ObjectReference owner_;
  std::atomic<bool>* busy_;
  std::function<void()> work_;
  std::function<Napi::Value(Napi::Env)> done_;
  std::exception_ptr error_;
};

// A packed batch and its per-target arrays, copied for the job (CallArrays: the caller could
// transfer an ArrayBuffer while the engine reads it).
struct BatchArgs {
  PackedBatch batch;
  CallArrays arrays{true};
};

std::shared_ptr<BatchArgs> parse_batch(Napi::Env env, Napi::Object o) {
  auto b = std::make_shared<BatchArgs>();
  auto tokens = typed_array<int32_t>(o, "tokens", napi_int32_array, "Int32Array", true);
  auto offsets = typed_array<int32_t>(o, "offsets", napi_int32_array, "Int32Array", true);
  auto prompt = typed_array<int32_t>(o, "promptLengths", napi_int32_array, "Int32Array", false);
  if (offsets->length < 2) throw_range(env, "offsets must hold at least two entries (one sequence)");
  b->batch.tokens = b->arrays.input(*tokens, "tokens");
  b->batch.n_tokens = tokens->length;
  b->batch.offsets = b->arrays.input(*offsets, "offsets");
  b->batch.n_seqs = offsets->length - 1;
  if (prompt) {
    if (prompt->length != b->batch.n_seqs)
      throw_range(env, "promptLengths has length " + std::to_string(prompt->length) + " but offsets describe " +
                           std::to_string(b->batch.n_seqs) + " sequences");
    b->batch.prompt_lengths = b->arrays.input(*prompt, "promptLengths");
  }
  return b;
}

std::string shown(double x) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", x);
  return text;
}

// A sampling temperature: 0 (greedy, where allowed) or at least kMinTemperature, below which
// logits / temperature overflow float32 and log-probs become infinite.
double checked_temperature(Napi::Env env, double t, bool allow_greedy) {
  if (allow_greedy && t == 0) return t;
  if (!(t >= kMinTemperature) || !std::isfinite(t))
    throw_range(env, std::string("temperature must be ") + (allow_greedy ? "0 (greedy) or " : "") + "a finite number >= " +
                         shown(kMinTemperature) + ", got " + shown(t));
  return t;
}

// The `temperature` option of logprobs and the dapo loss: the logits are divided by it.
double logit_temperature(Napi::Env env, Napi::Object o) {
  return checked_temperature(env, number(o, "temperature").value_or(1.0), false);
}

class PolicyEngine : public Napi::ObjectWrap<PolicyEngine> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "PolicyEngine",
                       {InstanceMethod("params", &PolicyEngine::Params),
                        InstanceMethod("numParameters", &PolicyEngine::NumParameters),
                        InstanceMethod("initRandom", &PolicyEngine::InitRandom),
                        InstanceMethod("setParam", &PolicyEngine::SetParam),
                        InstanceMethod("getParam", &PolicyEngine::GetParam),
                        InstanceMethod("getGrad", &PolicyEngine::GetGrad),
                        InstanceMethod("getOptimizerState", &PolicyEngine::GetOptimizerState),
                        InstanceMethod("setOptimizerState", &PolicyEngine::SetOptimizerState),
                        InstanceMethod("optimizerSteps", &PolicyEngine::OptimizerSteps),
                        InstanceMethod("setOptimizerSteps", &PolicyEngine::SetOptimizerSteps),
                        InstanceMethod("zeroGrad", &PolicyEngine::ZeroGrad),
                        InstanceMethod("forwardLogits", &PolicyEngine::ForwardLogits),
                        InstanceMethod("logprobs", &PolicyEngine::Logprobs),
                        InstanceMethod("accumulate", &PolicyEngine::Accumulate),
                        InstanceMethod("step", &PolicyEngine::Step),
                        InstanceMethod("generate", &PolicyEngine::Generate),
                        InstanceMethod("dispose", &PolicyEngine::Dispose)});
  }

  explicit PolicyEngine(const Napi::CallbackInfo& info) : Napi::ObjectWrap<PolicyEngine>(info) {
    Napi::Env env = info.Env();
    guarded(env, [&] {
      Napi::Object cfg = require_object(info, 0, "config");
      engine_ = std::make_unique<Engine>(parse_config(env, cfg));
      external_ = static_cast<int64_t>(engine_->num_parameters() * sizeof(float));
      Napi::MemoryManagement::AdjustExternalMemory(env, external_);
      return 0;
    });
  }

  // Collected without dispose(): give back the memory reported to V8.
  ~PolicyEngine() override {
    if (external_) Napi::MemoryManagement::AdjustExternalMemory(Env(), -external_);
  }

 private:
  Engine& engine(Napi::Env env) {
    if (!engine_) throw make_error(env, ErrorKind::Runtime, "ERR_DAPO_DISPOSED", "the policy has been disposed");
    if (busy_.load())
      throw make_error(env, ErrorKind::Runtime, "ERR_DAPO_BUSY",
                       "the policy is busy with another call; await it first");
    return *engine_;
  }

  size_t param_index(const Napi::CallbackInfo& info, Engine& e) {
    if (info.Length() < 1 || !info[0].IsNumber()) throw_type(info.Env(), "index must be a number");
    const double i = info[0].As<Napi::Number>().DoubleValue();
    if (!(i >= 0) || i >= static_cast<double>(e.params().size()) || i != static_cast<double>(static_cast<size_t>(i)))
      throw_range(info.Env(), "index must be an integer in [0, " + std::to_string(e.params().size()) + ")");
    return static_cast<size_t>(i);
  }

  Napi::Value Params(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guarded(env, [&]() -> Napi::Value {
      Engine& e = engine(env);
      Napi::Array out = Napi::Array::New(env, e.params().size());
      for (size_t i = 0; i < e.params().size(); ++i) {
        const ParamInfo& p = e.params()[i];
        Napi::Object o = Napi::Object::New(env);
        o.Set("name", p.name);
        Napi::Array shape = Napi::Array::New(env, p.shape.size());
        for (size_t d = 0; d < p.shape.size(); ++d) shape.Set(static_cast<uint32_t>(d), static_cast<double>(p.shape[d]));
        o.Set("shape", shape);
        o.Set("size", static_cast<double>(p.size));
        o.Set("decay", p.decay);
        out.Set(static_cast<uint32_t>(i), o);
      }
      return out;
    });
  }

  Napi::Value NumParameters(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guarded(env, [&]() -> Napi::Value { return Napi::Number::New(env, static_cast<double>(engine(env).num_parameters())); });
  }

  Napi::Value InitRandom(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guarded(env, [&]() -> Napi::Value {
      Engine& e = engine(env);
      if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber()) throw_type(env, "initRandom(seed, std) takes two numbers");
      const double seed = info[0].As<Napi::Number>().DoubleValue();
      const double sd = info[1].As<Napi::Number>().DoubleValue();
      if (!(seed >= 0) || seed > 9007199254740991.0) throw_range(env, "seed must be an integer in [0, 2^53)");
      // Beyond 1e37 the normal draws themselves overflow float32.
      if (!(sd > 0 && sd <= 1e37)) throw_range(env, "std must be in (0, 1e37], got " + shown(sd));
      e.init_random(static_cast<uint64_t>(seed), static_cast<float>(sd));
      return env.Undefined();
    });
  }

  // setParam(index, bytes: Uint8Array, dtype: 'F32' | 'BF16' | 'F16'): little-endian raw data.
  Napi::Value SetParam(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guarded(env, [&]() -> Napi::Value {
      Engine& e = engine(env);
      const size_t idx = param_index(info, e);
      const ParamInfo& p = e.params()[idx];
      if (info.Length() < 3 || !info[1].IsTypedArray() || !info[2].IsString())
        throw_type(env, "setParam(index, data: Uint8Array | Float32Array, dtype: string)");
      const std::string dtype = info[2].As<Napi::String>().Utf8Value();
      const size_t width = dtype == "F32" ? 4 : (dtype == "BF16" || dtype == "F16") ? 2 : 0;
      if (!width) throw_range(env, "dtype must be 'F32', 'BF16' or 'F16', got '" + dtype + "'");
      const View<uint8_t> arr = byte_view(env, info[1].As<Napi::TypedArray>(), "data");
      const size_t bytes = arr.length;
      if (bytes != p.size * width)
        throw_range(env, p.name + ": got " + std::to_string(bytes) + " bytes of " + dtype + ", expected " +
                             std::to_string(p.size) + " values (" + std::to_string(p.size * width) + " bytes)");
      const uint8_t* src = arr.data;
      // Converted into a scratch copy first: a weight that is NaN or infinite is refused, naming
      // the tensor, and the engine keeps its old values.
      std::vector<float> values(p.size);
      float* dst = values.data();
      if (width == 4) {
        std::memcpy(dst, src, bytes);
      } else if (dtype == "BF16") {
        for (size_t i = 0; i < p.size; ++i) {
          uint16_t bits;
          std::memcpy(&bits, src + 2 * i, 2);
          dst[i] = bf16_to_float(bits);
        }
      } else {
        for (size_t i = 0; i < p.size; ++i) {
          uint16_t bits;
          std::memcpy(&bits, src + 2 * i, 2);
          dst[i] = half_to_float(bits);
        }
      }
      require_finite(env, dst, p.size, p.name);
      std::memcpy(e.weights() + p.offset, dst, p.size * sizeof(float));
      return env.Undefined();
    });
  }

  // Bytes of any typed array (SharedArrayBuffer or not), as a Uint8 view.
  static View<uint8_t> byte_view(Napi::Env env, Napi::TypedArray array, const char* key) {
    const napi_typedarray_type type = array.TypedArrayType();
    View<uint8_t> v;
    if (type == napi_float32_array) {
      const View<float> f = typed_array_view<float>(env, array, key);
      v.data = reinterpret_cast<uint8_t*>(f.data), v.length = f.length * 4;
    } else if (type == napi_uint16_array) {
      const View<uint16_t> h = typed_array_view<uint16_t>(env, array, key);
      v.data = reinterpret_cast<uint8_t*>(h.data), v.length = h.length * 2;
    } else if (type == napi_uint8_array) {
      v = typed_array_view<uint8_t>(env, array, key);
    } else {
      throw_type(env, std::string(key) + " must be a Uint8Array, Uint16Array or Float32Array");
    }
    return v;
  }

  // A RangeError (ERR_DAPO_NONFINITE) naming the tensor and the first value that is not finite.
  static void require_finite(Napi::Env env, const float* x, size_t n, const std::string& name) {
    for (size_t i = 0; i < n; ++i)
      if (!std::isfinite(x[i]))
        throw make_error(env, ErrorKind::Range, "ERR_DAPO_NONFINITE",
                         name + " holds a non-finite value (" + shown(x[i]) + ") at flat index " + std::to_string(i));
  }

  static float half_to_float(uint16_t h) {
    const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
    if (exp == 0) {
      if (mant == 0) {
        bits = sign;
      } else {  // subnormal: normalise
        exp = 127 - 15 + 1;
        while (!(mant & 0x400)) {
          mant <<= 1;
          --exp;
        }
        bits = sign | (exp << 23) | ((mant & 0x3ff) << 13);
      }
    } else if (exp == 31) {
      bits = sign | 0x7f800000u | (mant << 13);
    } else {
      bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    }
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
  }

  Napi::Value copy_out(Napi::Env env, const float* src, size_t n, const std::string& dtype) {
    if (dtype == "F32") {
      Napi::Float32Array out = Napi::Float32Array::New(env, n);
      std::memcpy(out.Data(), src, n * sizeof(float));
      return out;
    }
    if (dtype == "BF16") {
      Napi::Uint16Array out = Napi::Uint16Array::New(env, n);
      for (size_t i = 0; i < n; ++i) out[i] = float_to_bf16(src[i]);
      return out;
    }
    throw_range(env, "dtype must be 'F32' or 'BF16', got '" + dtype + "'");
  }

  Napi::Value GetParam(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guarded(env, [&]() -> Napi::Value {
      Engine& e = engine(env);
      const ParamInfo& p = e.params()[param_index(info, e)];
      const std::string dtype = info.Length() > 1 && info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "F32";
      return copy_out(env, e.weights() + p.offset, p.size, dtype);
    });
  }

  Napi::Value GetGrad(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guarded(env, [&]() -> Napi::Value {
      Engine& e = engine(env);
      const ParamInfo& p = e.params()[param_index(info, e)];
      return copy_out(env, e.grads() + p.offset, p.size, "F32");
    });
  }

  std::vector<float>& moment(const Napi::CallbackInfo& info, Engine& e) {
    if (info.Length() < 2 || !info[1].IsString()) throw_type(info.Env(), "moment must be 'm' or 'v'");
    const std::string which = info[1].As<Napi::String>().Utf8Value();
    if (which == "m") return e.optimizer().m();
    if (which == "v") return e.optimizer().v();
    throw_range(info.Env(), "moment must be 'm' or 'v', got '" + which + "'");
  }

  Napi::Value GetOptimizerState(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guarded(env, [&]() -> Napi::Value {
      Engine& e = engine(env);
      const ParamInfo& p = e.params()[param_index(info, e)];
      std::vector<float>& m = moment(info, e);
      if (m.size() != e.num_parameters()) m.assign(e.num_parameters(), 0.0f);
      return copy_out(env, m.data() + p.offset, p.size, "F32");
    });
  }

  Napi::Value SetOptimizerState(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guarded(env, [&]() -> Napi::Value {
      Engine& e = engine(env);
      const ParamInfo& p = e.params()[param_index(info, e)];
      std::vector<float>& m = moment(info, e);
      if (info.Length() < 3 || !info[2].IsTypedArray() || info[2].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
        throw_type(env, "state must be a Float32Array");
      const View<float> a = typed_array_view<float>(env, info[2].As<Napi::TypedArray>(), "state");
      if (a.length != p.size)
        throw_range(env, p.name + ": optimizer state has " + std::to_string(a.length) + " values, expected " +
                             std::to_string(p.size));
      require_finite(env, a.data, a.length, p.name + " (optimizer state)");
      if (m.size() != e.num_parameters()) m.assign(e.num_parameters(), 0.0f);
      std::memcpy(m.data() + p.offset, a.data, p.size * sizeof(float));
      return env.Undefined();
    });
  }

  Napi::Value OptimizerSteps(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guarded(env, [&]() -> Napi::Value { return Napi::Number::New(env, static_cast<double>(engine(env).optimizer().steps())); });
  }

  Napi::Value SetOptimizerSteps(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guarded(env, [&]() -> Napi::Value {
      Engine& e = engine(env);
      if (info.Length() < 1 || !info[0].IsNumber()) throw_type(env, "steps must be a number");
      const double s = info[0].As<Napi::Number>().DoubleValue();
      if (!(s >= 0) || s != static_cast<double>(static_cast<uint64_t>(s))) throw_range(env, "steps must be a non-negative integer");
      e.optimizer().set_steps(static_cast<uint64_t>(s));
      return env.Undefined();
    });
  }

  Napi::Value ZeroGrad(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guarded(env, [&]() -> Napi::Value {
      engine(env).zero_grad();
      return env.Undefined();
    });
  }

  // Queues work, or returns a rejected promise when the arguments were bad.
  Napi::Value run_async(const Napi::CallbackInfo& info, const std::function<std::unique_ptr<Job>(Engine&)>& make) {
    Napi::Env env = info.Env();
    std::unique_ptr<Job> job;
    try {
      Engine& e = engine(env);
      job = make(e);
    } catch (const Napi::Error& err) {
      auto d = Napi::Promise::Deferred::New(env);
      d.Reject(with_code(err).Value());
      return d.Promise();
    } catch (const std::exception& err) {
      auto d = Napi::Promise::Deferred::New(env);
      d.Reject(to_js_error(env, err).Value());
      return d.Promise();
    }
    busy_.store(true);
    Napi::Promise p = job->promise();
    job.release()->Queue();
    return p;
  }

  Napi::Value ForwardLogits(const Napi::CallbackInfo& info) {
    return run_async(info, [&](Engine& e) {
      Napi::Env env = info.Env();
      if (info.Length() < 1 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
        throw_type(env, "ids must be an Int32Array");
      auto held = std::make_shared<CallArrays>(true);
      const View<int32_t> ids = typed_array_view<int32_t>(env, info[0].As<Napi::TypedArray>(), "ids");
      const size_t t = ids.length;
      if (t == 0) throw_range(env, "ids must not be empty");
      const int32_t* data = held->input(ids, "ids");
      const int32_t offsets[2] = {0, static_cast<int32_t>(std::min<size_t>(t, INT32_MAX))};
      PackedBatch b;
      b.tokens = data;
      b.n_tokens = t;
      b.offsets = offsets;
      b.n_seqs = 1;
      e.count_targets(b);  // range checks on the main thread
      Napi::Float32Array out = Napi::Float32Array::New(env, checked_mul(t, e.config().vocab, "ids.length * vocabSize"));
      float* dst = out.Data();
      auto job = std::make_unique<Job>(env, "forwardLogits", Value(), &busy_, [&e, held, data, t, dst] { e.forward_logits(data, t, dst); },
                                       [out_ref = std::make_shared<Napi::Reference<Napi::Value>>(Napi::Persistent(Napi::Value(out)))](
                                           Napi::Env) { return out_ref->Value(); });
      return job;
    });
  }

  Napi::Value Logprobs(const Napi::CallbackInfo& info) {
    return run_async(info, [&](Engine& e) {
      Napi::Env env = info.Env();
      Napi::Object bo = require_object(info, 0, "batch");
      auto args = parse_batch(env, bo);
      bool want_entropy = false;
      double temperature = 1.0;
      if (info.Length() > 1 && !info[1].IsUndefined()) {
        Napi::Object opts = require_object(info, 1, "logprobs options");
        want_entropy = boolean(opts, "entropy").value_or(false);
        temperature = logit_temperature(env, opts);
      }
      const size_t r = e.count_targets(args->batch);
      const TokenOutputs outputs = token_outputs(env, r, want_entropy);
      auto out = outputs.refs;
      float* lpd = outputs.logprobs;
      float* entd = outputs.entropy;
      return std::make_unique<Job>(env, "logprobs", Value(), &busy_,
                                   [&e, args, lpd, entd, temperature] { e.logprobs(args->batch, lpd, entd, temperature); },
                                   [out, want_entropy](Napi::Env env) -> Napi::Value {
                                     Napi::Object o = Napi::Object::New(env);
                                     o.Set("logprobs", (*out)[0].Value());
                                     if (want_entropy) o.Set("entropy", (*out)[1].Value());
                                     return o;
                                   });
    });
  }

  Napi::Value Accumulate(const Napi::CallbackInfo& info) {
    return run_async(info, [&](Engine& e) {
      Napi::Env env = info.Env();
      Napi::Object bo = require_object(info, 0, "batch");
      Napi::Object lo = require_object(info, 1, "loss");
      auto args = parse_batch(env, bo);
      const size_t r = e.count_targets(args->batch);
      auto kind = string(lo, "kind");
      if (!kind || (*kind != "dapo" && *kind != "nll")) throw_type(env, "loss.kind must be 'dapo' or 'nll'");
      auto mask = typed_array<uint8_t>(bo, "mask", napi_uint8_array, "Uint8Array", false);
      auto check_len = [&](size_t len, const char* key) {
        if (len != r)
          throw_range(env, std::string(key) + " has length " + std::to_string(len) + " but the batch has " +
                               std::to_string(r) + " target tokens");
      };
      if (mask) check_len(mask->length, "mask");
      const uint8_t* maskd = mask ? args->arrays.input(*mask, "mask") : nullptr;
      const bool want_entropy = boolean(lo, "entropy").value_or(false);
      const TokenOutputs outputs = token_outputs(env, r, want_entropy);
      auto out = outputs.refs;
      float* lpd = outputs.logprobs;
      float* entd = outputs.entropy;
      auto result = std::make_shared<AccumulateResult>();
      auto done = [out, result, want_entropy](Napi::Env env) -> Napi::Value {
        Napi::Object o = Napi::Object::New(env);
        o.Set("loss", result->stats.loss);
        o.Set("tokens", static_cast<double>(result->stats.tokens));
        o.Set("logprobs", (*out)[0].Value());
        if (want_entropy) o.Set("entropy", (*out)[1].Value());
        o.Set("stats", loss_stats_object(env, result->stats));
        return o;
      };
      if (*kind == "nll") {
        AggregationConfig divisors;
        parse_divisors(lo, divisors);
        const double token_count = divisors.token_count;
        return std::make_unique<Job>(env, "accumulate", Value(), &busy_,
                                     [&e, args, maskd, token_count, lpd, entd, result] {
                                       *result = e.accumulate_nll(args->batch, maskd, token_count, lpd, entd);
                                     },
                                     done);
      }
      auto old_lp = typed_array<float>(bo, "oldLogprobs", napi_float32_array, "Float32Array", true);
      auto adv = typed_array<float>(bo, "advantages", napi_float32_array, "Float32Array", true);
      check_len(old_lp->length, "oldLogprobs");
      check_len(adv->length, "advantages");
      LossOptions opts;
      opts.clip.clip_low = static_cast<float>(number(lo, "clipLow").value_or(0.2));
      opts.clip.clip_high = static_cast<float>(number(lo, "clipHigh").value_or(0.28));
      if (opts.clip.clip_low < 0 || opts.clip.clip_low >= 1) throw_range(env, "clipLow must be in [0, 1)");
      if (opts.clip.clip_high < 0) throw_range(env, "clipHigh must be >= 0");
      if (auto c = number(lo, "clipC")) {
        if (*c <= 1) throw_range(env, "clipC must be greater than 1, got " + std::to_string(*c));
        opts.clip.clip_c = static_cast<float>(*c);
        opts.clip.use_dual_clip = true;
      }
      auto agg = string(lo, "aggregation");
      if (!agg || *agg == "token-mean") opts.aggregation.mode = Aggregation::TokenMean;
      else if (*agg == "seq-mean-token-mean") opts.aggregation.mode = Aggregation::SeqMeanTokenMean;
      else if (*agg == "seq-mean-token-sum") opts.aggregation.mode = Aggregation::SeqMeanTokenSum;
      else throw_range(env, "aggregation must be 'token-mean', 'seq-mean-token-mean' or 'seq-mean-token-sum', got '" + *agg + "'");
      parse_divisors(lo, opts.aggregation);
      auto ref = typed_array<float>(bo, "refLogprobs", napi_float32_array, "Float32Array", false);
      if (auto kl = number(lo, "klCoef")) {
        if (*kl < 0) throw_range(env, "klCoef must be >= 0, got " + std::to_string(*kl));
        opts.kl_coef = static_cast<float>(*kl);
      }
      if (opts.kl_coef > 0 && !ref) throw_type(env, "refLogprobs (Float32Array) is required when klCoef > 0");
      if (ref) check_len(ref->length, "refLogprobs");
      const float* refd = ref && opts.kl_coef > 0 ? args->arrays.input(*ref, "refLogprobs") : nullptr;
      const float* oldd = args->arrays.input(*old_lp, "oldLogprobs");
      const float* advd = args->arrays.input(*adv, "advantages");
      const double temperature = logit_temperature(env, lo);
      return std::make_unique<Job>(env, "accumulate", Value(), &busy_,
                                   [&e, args, oldd, advd, maskd, opts, lpd, entd, refd, temperature, result] {
                                     *result = e.accumulate_dapo(args->batch, oldd, advd, maskd, opts, lpd, entd, refd, temperature);
                                   },
                                   done);
    });
  }

  Napi::Value Step(const Napi::CallbackInfo& info) {
    return run_async(info, [&](Engine& e) {
      Napi::Env env = info.Env();
      Napi::Object o = require_object(info, 0, "step options");
      AdamWOptions opt;
      auto lr = number(o, "lr");
      if (!lr) throw_type(env, "lr is required and must be a number");
      if (*lr < 0) throw_range(env, "lr must be >= 0");
      // The update runs in float32: an lr or eps that does not survive the cast (eps = 1e-300
      // becomes 0, and 0 / 0 is NaN) would silently write non-finite weights.
      if (*lr > FLT_MAX) throw_range(env, "lr must be a float32 number, got " + shown(*lr));
      opt.lr = *lr;
      opt.weight_decay = number(o, "weightDecay").value_or(0.0);
      if (opt.weight_decay < 0 || opt.weight_decay > FLT_MAX) throw_range(env, "weightDecay must be in [0, 3.4e38]");
      opt.eps = number(o, "eps").value_or(1e-8);
      if (!(opt.eps >= FLT_MIN && opt.eps <= FLT_MAX))
        throw_range(env, "eps must be a normal float32 number > 0 (at least 1.2e-38), got " + shown(opt.eps));
      opt.clip_grad_norm = number(o, "clipGradNorm").value_or(0.0);
      if (opt.clip_grad_norm < 0) throw_range(env, "clipGradNorm must be >= 0");
      Napi::Value betas = o.Get("betas");
      if (!betas.IsUndefined()) {
        if (!betas.IsArray() || betas.As<Napi::Array>().Length() != 2) throw_type(env, "betas must be an array of two numbers");
        Napi::Array b = betas.As<Napi::Array>();
        for (uint32_t i = 0; i < 2; ++i) {
          Napi::Value bi = b.Get(i);
          if (!bi.IsNumber()) throw_type(env, "betas must be an array of two numbers");
          const double d = bi.As<Napi::Number>().DoubleValue();
          if (!(d >= 0 && d < 1)) throw_range(env, "betas[" + std::to_string(i) + "] must be in [0, 1)");
          (i == 0 ? opt.beta1 : opt.beta2) = d;
        }
      }
      auto stats = std::make_shared<AdamWStats>();
      return std::make_unique<Job>(env, "step", Value(), &busy_, [&e, opt, stats] { *stats = e.step(opt); },
                                   [stats](Napi::Env env) -> Napi::Value {
                                     Napi::Object r = Napi::Object::New(env);
                                     r.Set("gradNorm", stats->grad_norm);
                                     r.Set("clipped", stats->clipped);
                                     r.Set("step", static_cast<double>(stats->step));
                                     return r;
                                   });
    });
  }

  // generate(promptTokens: Int32Array, promptOffsets: Int32Array, options)
  Napi::Value Generate(const Napi::CallbackInfo& info) {
    return run_async(info, [&](Engine& e) {
      Napi::Env env = info.Env();
      Napi::Object o = require_object(info, 0, "generate arguments");
      auto held = std::make_shared<CallArrays>(true);
      auto toks = typed_array<int32_t>(o, "promptTokens", napi_int32_array, "Int32Array", true);
      const int32_t* tokens = held->input(*toks, "promptTokens");
      auto offs = typed_array<int32_t>(o, "promptOffsets", napi_int32_array, "Int32Array", true);
      const int32_t* offsets = held->input(*offs, "promptOffsets");
      auto stop = typed_array<int32_t>(o, "stop", napi_int32_array, "Int32Array", false);
      const int32_t* stops = stop ? held->input(*stop, "stop") : nullptr;
      if (offs->length < 2) throw_range(env, "prompts must hold at least one prompt");
      const size_t np = offs->length - 1;
      if (offsets[0] != 0) throw_range(env, "promptOffsets must start at 0");
      if (static_cast<size_t>(offsets[np]) != toks->length) throw_range(env, "promptOffsets must end at promptTokens.length");
      for (size_t i = 0; i < np; ++i)
        if (offsets[i + 1] < offsets[i]) throw_range(env, "promptOffsets must not decrease");
      auto g = std::make_shared<GenerateArgs>();
      auto prompt_ids = std::make_shared<std::vector<uint64_t>>(np);
      Napi::Value pid = o.Get("promptIds");
      if (!pid.IsUndefined()) {
        if (!pid.IsArray() || pid.As<Napi::Array>().Length() != np)
          throw_type(env, "promptIds must be an array with one number per prompt");
        Napi::Array a = pid.As<Napi::Array>();
        for (uint32_t i = 0; i < np; ++i) {
          Napi::Value x = a.Get(i);
          const double d = x.IsNumber() ? x.As<Napi::Number>().DoubleValue() : -1;
          if (!(d >= 0) || d > 9007199254740991.0 || d != static_cast<double>(static_cast<uint64_t>(d)))
            throw_range(env, "promptIds[" + std::to_string(i) + "] must be an integer in [0, 2^53)");
          (*prompt_ids)[i] = static_cast<uint64_t>(d);
        }
      } else {
        for (size_t i = 0; i < np; ++i) (*prompt_ids)[i] = i;
      }
      g->prompt_tokens = tokens;
      g->prompt_offsets = offsets;
      g->n_prompts = np;
      g->prompt_ids = prompt_ids->data();
      g->n = size_arg(env, o, "n", false, 1);
      if (g->n < 1) throw_range(env, "n must be >= 1");
      g->max_new_tokens = size_arg(env, o, "maxNewTokens", true);
      g->sampling.temperature = checked_temperature(env, number(o, "temperature").value_or(1.0), true);
      g->sampling.top_p = number(o, "topP").value_or(1.0);
      if (!(g->sampling.top_p > 0 && g->sampling.top_p <= 1)) throw_range(env, "topP must be in (0, 1]");
      g->sampling.top_k = size_arg(env, o, "topK", false, 0);
      const double seed = number(o, "seed").value_or(0);
      if (!(seed >= 0) || seed > 9007199254740991.0 || seed != static_cast<double>(static_cast<uint64_t>(seed)))
        throw_range(env, "seed must be an integer in [0, 2^53)");
      g->seed = static_cast<uint64_t>(seed);
      if (stop) {
        g->stop = stops;
        g->n_stop = stop->length;
      }
      auto result = std::make_shared<GenerateResult>();
      auto job = std::make_unique<Job>(env, "generate", Value(), &busy_,
                                       [&e, g, prompt_ids, held, result] { *result = e.generate(*g); },
                                       [result](Napi::Env env) -> Napi::Value {
                                         Napi::Object r = Napi::Object::New(env);
                                         Napi::Int32Array t = Napi::Int32Array::New(env, result->tokens.size());
                                         std::memcpy(t.Data(), result->tokens.data(), result->tokens.size() * 4);
                                         Napi::Float32Array lp = Napi::Float32Array::New(env, result->logprobs.size());
                                         std::memcpy(lp.Data(), result->logprobs.data(), result->logprobs.size() * 4);
                                         Napi::Int32Array off = Napi::Int32Array::New(env, result->offsets.size());
                                         std::memcpy(off.Data(), result->offsets.data(), result->offsets.size() * 4);
                                         Napi::Uint8Array fin = Napi::Uint8Array::New(env, result->finished.size());
                                         std::memcpy(fin.Data(), result->finished.data(), result->finished.size());
                                         r.Set("tokens", t);
                                         r.Set("logprobs", lp);
                                         r.Set("offsets", off);
                                         r.Set("finished", fin);
                                         return r;
                                       });
      return job;
    });
  }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guarded(env, [&]() -> Napi::Value {
      if (!engine_) return env.Undefined();
      if (busy_.load())
        throw make_error(env, ErrorKind::Runtime, "ERR_DAPO_BUSY", "the policy is busy; await its call before dispose()");
      engine_.reset();
      Napi::MemoryManagement::AdjustExternalMemory(env, -external_);
      external_ = 0;
      return env.Undefined();
    });
  }

  std::unique_ptr<Engine> engine_;
  std::atomic<bool> busy_{false};
  int64_t external_ = 0;
};

// gemm({ a, b, m, n, k, transA?, transB?, naive? }) -> Float32Array C[m, n]
Napi::Value Gemm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    Napi::Object o = require_object(info, 0, "gemm arguments");
    CallArrays arrays;
    auto a = typed_array<float>(o, "a", napi_float32_array, "Float32Array", true);
    auto b = typed_array<float>(o, "b", napi_float32_array, "Float32Array", true);
    const size_t m = size_arg(env, o, "m", true), n = size_arg(env, o, "n", true), k = size_arg(env, o, "k", true);
    const bool ta = boolean(o, "transA").value_or(false), tb = boolean(o, "transB").value_or(false);
    if (a->length != checked_mul(m, k, "m * k")) throw_range(env, "a must hold m * k values");
    if (b->length != checked_mul(k, n, "k * n")) throw_range(env, "b must hold k * n values");
    const float* ad = arrays.input(*a, "a");
    const float* bd = arrays.input(*b, "b");
    const bool naive = boolean(o, "naive").value_or(false);
    arrays.recheck(env);  // no JavaScript runs from here until the product is written
    Napi::Float32Array c = Napi::Float32Array::New(env, checked_mul(m, n, "m * n"));
    GemmArgs g;
    g.m = m;
    g.n = n;
    g.k = k;
    g.a = ad;
    g.a_row = ta ? 1 : k;
    g.a_col = ta ? m : 1;
    g.b = bd;
    g.b_row = tb ? 1 : n;
    g.b_col = tb ? k : 1;
    g.c = c.Data();
    g.ldc = n;
    if (naive) sgemm_naive(g);
    else sgemm(g);
    return c;
  });
}

// samplingDistribution(logits: Float32Array, { temperature, topP, topK }) -> Float64Array
Napi::Value SamplingDistribution(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    if (info.Length() < 1 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
      throw_type(env, "logits must be a Float32Array");
    SamplingOptions s;
    if (info.Length() > 1 && !info[1].IsUndefined()) {
      Napi::Object o = require_object(info, 1, "sampling options");
      s.temperature = checked_temperature(env, number(o, "temperature").value_or(1.0), true);
      s.top_p = number(o, "topP").value_or(1.0);
      s.top_k = size_arg(env, o, "topK", false, 0);
      if (!(s.top_p > 0 && s.top_p <= 1)) throw_range(env, "topP must be in (0, 1]");
    }
    // Read after the options, whose getters could otherwise detach it in between.
    const View<float> z = typed_array_view<float>(env, info[0].As<Napi::TypedArray>(), "logits");
    if (z.length == 0) throw_range(env, "logits must not be empty");
    Napi::Float64Array out = Napi::Float64Array::New(env, z.length);
    SamplerScratch scratch;
    filtered_distribution(z.data, z.length, s, scratch, out.Data());
    return out;
  });
}

}  // namespace

void register_policy(Napi::Env env, Napi::Object exports) {
  exports.Set("PolicyEngine", PolicyEngine::Define(env));
  exports.Set("gemm", Napi::Function::New(env, Gemm, "gemm"));
  exports.Set("samplingDistribution", Napi::Function::New(env, SamplingDistribution, "samplingDistribution"));
}

}  // namespace dapo::bind
