// PolicyEngine: the CPU policy engine (native/model) as a JavaScript class, plus the GEMM and
// the sampler's filtered distribution for tests and benchmarks. Argument checks, typed-array
// views and async workers only; the arithmetic lives in native/.
#include <atomic>
#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <vector>

#include "bindings/args.h"
#include "bindings/bindings.h"
#include "bindings/policy_call.h"
#include "common/checked.h"
#include "model/engine.h"
#include "model/gemm.h"
#include "model/sampler.h"

namespace dapo::bind {
namespace {

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
    require_ready(env, !engine_, busy_.load());
    return *engine_;
  }

  size_t param_index(const Napi::CallbackInfo& info, Engine& e) { return bind::param_index(info, e.params().size()); }

  Napi::Value Params(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guarded(env, [&]() -> Napi::Value { return params_array(env, engine(env).params()); });
  }

  Napi::Value NumParameters(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guarded(env, [&]() -> Napi::Value { return Napi::Number::New(env, static_cast<double>(engine(env).num_parameters())); });
  }

  Napi::Value InitRandom(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guarded(env, [&]() -> Napi::Value {
      Engine& e = engine(env);
      const InitRandomArgs a = parse_init_random(info);
      e.init_random(a.seed, a.std);
      return env.Undefined();
    });
  }

  // setParam(index, bytes: Uint8Array, dtype: 'F32' | 'BF16' | 'F16'): little-endian raw data.
  // Converted and checked into a copy first, so a refused tensor leaves the weights as they were.
  Napi::Value SetParam(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guarded(env, [&]() -> Napi::Value {
      Engine& e = engine(env);
      const ParamInfo& p = e.params()[param_index(info, e)];
      const std::vector<float> values = parse_param_values(info, p);
      std::memcpy(e.weights() + p.offset, values.data(), p.size * sizeof(float));
      return env.Undefined();
    });
  }

  Napi::Value GetParam(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guarded(env, [&]() -> Napi::Value {
      Engine& e = engine(env);
      const ParamInfo& p = e.params()[param_index(info, e)];
      return param_array(env, e.weights() + p.offset, p.size, param_dtype(info, 1));
    });
  }

  Napi::Value GetGrad(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guarded(env, [&]() -> Napi::Value {
      Engine& e = engine(env);
      const ParamInfo& p = e.params()[param_index(info, e)];
      return param_array(env, e.grads() + p.offset, p.size, "F32");
    });
  }

  static AdamW::Moment moment_of(const Napi::CallbackInfo& info) {
    return parse_moment(info) == 'm' ? AdamW::Moment::First : AdamW::Moment::Second;
  }

  // Zeros while the optimizer has no moments (as the CUDA engine reads them); reading makes none.
  Napi::Value GetOptimizerState(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guarded(env, [&]() -> Napi::Value {
      Engine& e = engine(env);
      const ParamInfo& p = e.params()[param_index(info, e)];
      const AdamW& opt = e.optimizer();
      const std::vector<float>& m = moment_of(info) == AdamW::Moment::First ? opt.m() : opt.v();
      if (m.size() != e.num_parameters()) return Napi::Float32Array::New(env, p.size);
      return param_array(env, m.data() + p.offset, p.size, "F32");
    });
  }

  // AdamW makes both moments when one is first set, so a later step never meets an unsized one.
  Napi::Value SetOptimizerState(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guarded(env, [&]() -> Napi::Value {
      Engine& e = engine(env);
      const ParamInfo& p = e.params()[param_index(info, e)];
      const AdamW::Moment which = moment_of(info);
      const float* state = parse_moment_state(info, p);
      std::memcpy(e.optimizer().moment(which, e.num_parameters()) + p.offset, state, p.size * sizeof(float));
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
      e.optimizer().set_steps(parse_steps(info));
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
    return queue_job(env, busy_, [&] { return make(engine(env)); });
  }

  Napi::Value ForwardLogits(const Napi::CallbackInfo& info) {
    return run_async(info, [&](Engine& e) {
      auto call = parse_forward_logits(info, e.config());
      return std::make_unique<Job>(info.Env(), "forwardLogits", Value(), &busy_,
                                   [&e, call] { e.forward_logits(call->ids, call->t, call->logits); },
                                   [call](Napi::Env) { return call->result.Value(); });
    });
  }

  Napi::Value Logprobs(const Napi::CallbackInfo& info) {
    return run_async(info, [&](Engine& e) {
      auto call = std::make_shared<LogprobsCall>(parse_logprobs(info, e.config()));
      return std::make_unique<Job>(
          info.Env(), "logprobs", Value(), &busy_,
          [&e, call] { e.logprobs(call->args->batch, call->outputs.logprobs, call->outputs.entropy, call->temperature); },
          [call](Napi::Env env) { return logprobs_result(env, *call); });
    });
  }

  Napi::Value Accumulate(const Napi::CallbackInfo& info) {
    return run_async(info, [&](Engine& e) {
      Napi::Env env = info.Env();
      Napi::Object bo = require_object(info, 0, "batch");
      Napi::Object lo = require_object(info, 1, "loss");
      auto args = parse_batch(env, bo);
      const size_t r = e.count_targets(args->batch);
      auto call = std::make_shared<AccumulateCall>(parse_accumulate(env, bo, lo, r, args->arrays));
      auto result = std::make_shared<AccumulateResult>();
      return std::make_unique<Job>(
          env, "accumulate", Value(), &busy_,
          [&e, args, call, result] {
            const AccumulateCall& c = *call;
            *result = c.nll ? e.accumulate_nll(args->batch, c.mask, c.token_count, c.outputs.logprobs, c.outputs.entropy)
                            : e.accumulate_dapo(args->batch, c.old_logprobs, c.advantages, c.mask, c.options,
                                                c.outputs.logprobs, c.outputs.entropy, c.ref_logprobs, c.temperature);
          },
          [call, result](Napi::Env env) { return accumulate_result(env, *call, result->stats); });
    });
  }

  Napi::Value Step(const Napi::CallbackInfo& info) {
    return run_async(info, [&](Engine& e) {
      Napi::Env env = info.Env();
      const AdamWOptions opt = parse_step(env, require_object(info, 0, "step options"));
      auto stats = std::make_shared<AdamWStats>();
      return std::make_unique<Job>(env, "step", Value(), &busy_, [&e, opt, stats] { *stats = e.step(opt); },
                                   [stats](Napi::Env env) { return step_result(env, *stats); });
    });
  }

  // generate(promptTokens: Int32Array, promptOffsets: Int32Array, options)
  Napi::Value Generate(const Napi::CallbackInfo& info) {
    return run_async(info, [&](Engine& e) {
      Napi::Env env = info.Env();
      auto call = parse_generate(env, require_object(info, 0, "generate arguments"));
      auto result = std::make_shared<GenerateResult>();
      return std::make_unique<Job>(env, "generate", Value(), &busy_, [&e, call, result] { *result = e.generate(call->args); },
                                   [result](Napi::Env env) { return generate_result(env, *result); });
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
