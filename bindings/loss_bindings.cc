// dapoLoss, dapoLossAsync and groupAdvantages: argument checks and typed-array views around
// native/loss. No arithmetic here.
#include "bindings/args.h"
#include "bindings/bindings.h"
#include "bindings/loss_call.h"
#include "loss/group_advantages.h"

namespace dapo::bind {
namespace {

Napi::Value DapoLoss(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    auto call = parse_loss_call(info);
    LossStats stats = dapo_loss(call->inputs, call->options, call->outputs);
    return result_object(env, *call, stats);
  });
}

class LossWorker : public Napi::AsyncWorker {
 public:
  LossWorker(Napi::Env env, std::unique_ptr<LossCall> call)
      : Napi::AsyncWorker(env, "dapoLossAsync"), deferred_(Napi::Promise::Deferred::New(env)), call_(std::move(call)) {}
  Napi::Promise promise() { return deferred_.Promise(); }

  void Execute() override {
    try {
      stats_ = dapo_loss(call_->inputs, call_->options, call_->outputs);
    } catch (const std::exception& e) {
      error_ = std::current_exception();
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    try {
      if (error_) std::rethrow_exception(error_);
      deferred_.Resolve(result_object(env, *call_, stats_));  // throws when gradOut was detached
    } catch (const Napi::Error& e) {
      deferred_.Reject(with_code(e).Value());
    } catch (const std::exception& e) {
      deferred_.Reject(to_js_error(env, e).Value());
    }
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::unique_ptr<LossCall> call_;
  LossStats stats_;
  std::exception_ptr error_;
};

Napi::Value DapoLossAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto deferred = Napi::Promise::Deferred::New(env);
  std::unique_ptr<LossCall> call;
  try {
    call = parse_loss_call(info, true);
  } catch (const Napi::Error& e) {
    deferred.Reject(with_code(e).Value());
    return deferred.Promise();
  } catch (const std::exception& e) {
    deferred.Reject(to_js_error(env, e).Value());
    return deferred.Promise();
  }
  auto* worker = new LossWorker(env, std::move(call));
  Napi::Promise promise = worker->promise();
  worker->Queue();
  return promise;
}

Napi::Value GroupAdvantages(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    if (info.Length() < 1 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
      throw_type(env, "rewards must be a Float32Array");
    if (info.Length() < 2 || !info[1].IsNumber()) throw_type(env, "groupSize must be a number");
    const size_t group_size = integer_value(env, info[1].As<Napi::Number>().DoubleValue(), "groupSize", 1);
    bool use_std = true;
    double eps = 1e-6;
    if (info.Length() > 2 && !info[2].IsUndefined()) {
      if (!info[2].IsObject()) throw_type(env, "options must be an object");
      Napi::Object opts = info[2].As<Napi::Object>();
      use_std = boolean(opts, "std").value_or(true);
      eps = number(opts, "eps").value_or(1e-6);
      if (eps < 0) throw_range(env, "eps must be >= 0");
    }
    // Read after the options, whose getters could otherwise detach it in between.
    const View<float> rewards = typed_array_view<float>(env, info[0].As<Napi::TypedArray>(), "rewards");
    if (rewards.length % group_size != 0)
      throw_range(env, "rewards has length " + std::to_string(rewards.length) + ", not a multiple of groupSize " +
                           std::to_string(group_size));
    Napi::Float32Array out = Napi::Float32Array::New(env, rewards.length);
    group_advantages(rewards.data, rewards.length, group_size, use_std, eps, out.Data());
    return out;
  });
}

}  // namespace

void register_loss(Napi::Env env, Napi::Object exports) {
  exports.Set("dapoLoss", Napi::Function::New(env, DapoLoss, "dapoLoss"));
  exports.Set("dapoLossAsync", Napi::Function::New(env, DapoLossAsync, "dapoLossAsync"));
  exports.Set("groupAdvantages", Napi::Function::New(env, GroupAdvantages, "groupAdvantages"));
}

}  // namespace dapo::bind
