// Parsing of dapoLoss arguments into native views, and building its result object; shared by
// the CPU bindings and the CUDA ones so both check arguments the same way.
#pragma once
#include <memory>
#include <vector>

#include "bindings/args.h"
#include "loss/dapo_loss.h"

namespace dapo::bind {

// Everything one dapoLoss call needs, gathered on the main thread so the arithmetic can run
// on any thread. The references keep the caller's arrays alive while async work runs.
struct LossCall {
  LossInputs inputs;
  LossOptions options;
  LossOutputs outputs;
  std::vector<Napi::Reference<Napi::TypedArray>> keep_alive;
  Napi::Reference<Napi::Float32Array> grad, logprobs, entropy;
};

// Checks every argument (TypeError / RangeError naming it) and allocates the outputs.
std::unique_ptr<LossCall> parse_loss_call(const Napi::CallbackInfo& info);
Napi::Object result_object(Napi::Env env, LossCall& call, const LossStats& stats);
// The `stats` member of a loss result (the same keys from every backend).
Napi::Object loss_stats_object(Napi::Env env, const LossStats& stats);

}  // namespace dapo::bind
