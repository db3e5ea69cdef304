// What the CPU and CUDA policy engines' bindings share (policy_bindings.cc,
// cuda_policy_bindings.cc), so both check every argument the same way, with the same messages,
// on the main thread, and return the same objects: the model config, packed batches, the
// accumulate / step / generate options, per-target outputs, parameter reads, and the async job.
// An async call's input arrays are copied when it is called (CallArrays, args.h): JavaScript can
// transfer an ArrayBuffer while the engine reads it, and N-API cannot pin one.
#pragma once
#include <napi.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bindings/args.h"
#include "loss/dapo_loss.h"
#include "model/engine.h"
#include "optim/adamw.h"

namespace dapo::bind {

using KeepAlive = std::vector<Napi::Reference<Napi::Value>>;

// Per-target outputs of logprobs/accumulate, allocated on the main thread and kept referenced
// while the job runs: log-probs always, entropy when asked (else an empty array).
struct TokenOutputs {
  std::shared_ptr<KeepAlive> refs;  // [0] log-probs, [1] entropy
  float* logprobs;
  float* entropy;
};
TokenOutputs token_outputs(Napi::Env env, size_t targets, bool want_entropy);

// obj[key] as an integer in [0, 2^53); `fallback` when absent and not required.
size_t size_arg(Napi::Env env, Napi::Object obj, const char* key, bool required, size_t fallback = 0);
ModelConfig parse_config(Napi::Env env, Napi::Object o);

// A worker that runs `work` off the main thread and resolves with `done(env)`. `busy` is set
// by queue_job and cleared when the job settles; `owner` (the engine object) stays referenced.
class Job : public Napi::AsyncWorker {
 public:
  Job(Napi::Env env, const char* name, Napi::Object owner, std::atomic<bool>* busy, std::function<void()> work,
      std::function<Napi::Value(Napi::Env)> done);
  Napi::Promise promise() { return deferred_.Promise(); }

  void Execute() override;
  void OnOK() override;

 private:
  Napi::Promise::Deferred deferred_;
  Napi::ObjectReference owner_;
  std::atomic<bool>* busy_;
  std::function<void()> work_;
  std::function<Napi::Value(Napi::Env)> done_;
  std::exception_ptr error_;
};

// Throws ERR_DAPO_DISPOSED or ERR_DAPO_BUSY when an engine cannot take a call now.
void require_ready(Napi::Env env, bool disposed, bool busy);

// Queues the job `make` builds (parsing the arguments on the main thread), or returns a
// rejected promise when the arguments were bad.
Napi::Value queue_job(Napi::Env env, std::atomic<bool>& busy, const std::function<std::unique_ptr<Job>()>& make);

// A packed batch and its per-target arrays, copied for the job.
struct BatchArgs {
  PackedBatch batch;
  CallArrays arrays{true};
};
std::shared_ptr<BatchArgs> parse_batch(Napi::Env env, Napi::Object o);

// A number as %g prints it, for messages.
std::string shown(double x);
// A sampling temperature: 0 (greedy, where allowed) or at least kMinTemperature, below which
// logits / temperature overflow float32 and log-probs become infinite.
double checked_temperature(Napi::Env env, double t, bool allow_greedy);
// The `temperature` option of logprobs and the dapo loss: the logits are divided by it.
double logit_temperature(Napi::Env env, Napi::Object o);

// forwardLogits(ids): the ids copied and checked against the model, the [t, vocab] logits allocated.
struct ForwardLogitsCall {
  CallArrays arrays{true};
  const int32_t* ids = nullptr;
  size_t t = 0;
  float* logits = nullptr;
  Napi::Reference<Napi::Value> result;  // the logits array
};
std::shared_ptr<ForwardLogitsCall> parse_forward_logits(const Napi::CallbackInfo& info, const ModelConfig& config);

// logprobs(batch, { entropy, temperature }): the batch copied and checked against the model,
// the outputs allocated.
struct LogprobsCall {
  std::shared_ptr<BatchArgs> args;
  bool want_entropy = false;
  double temperature = 1.0;
  TokenOutputs outputs;
};
LogprobsCall parse_logprobs(const Napi::CallbackInfo& info, const ModelConfig& config);
Napi::Value logprobs_result(Napi::Env env, const LogprobsCall& call);

// params(): one { name, shape, size, decay } per parameter.
Napi::Array params_array(Napi::Env env, const std::vector<ParamInfo>& params);
// The parameter index of info[0], checked against the layout.
size_t param_index(const Napi::CallbackInfo& info, size_t count);
// initRandom(seed, std), std in (0, 1e37].
struct InitRandomArgs {
  uint64_t seed;
  float std;
};
InitRandomArgs parse_init_random(const Napi::CallbackInfo& info);
// setParam(index, data, dtype): the raw little-endian bytes of one parameter ('F32', 'BF16' or
// 'F16', in any typed array, over a SharedArrayBuffer or not), converted to float32 into a copy
// of its own. A value that is NaN or infinite is a RangeError (ERR_DAPO_NONFINITE) naming the
// tensor, so the engine keeps its old weights.
std::vector<float> parse_param_values(const Napi::CallbackInfo& info, const ParamInfo& p);
// A RangeError (ERR_DAPO_NONFINITE) naming `name` and the first value that is not finite.
void require_finite(Napi::Env env, const float* x, size_t n, const std::string& name);
// getParam's dtype argument ('F32' by default) and the copy of n floats in that dtype.
std::string param_dtype(const Napi::CallbackInfo& info, size_t index);
Napi::Value param_array(Napi::Env env, const float* src, size_t n, const std::string& dtype);
// The moment argument of get/setOptimizerState: 'm' or 'v'.
char parse_moment(const Napi::CallbackInfo& info);
// setOptimizerState's state array, of the parameter's size and finite; read in place (the call
// is synchronous).
const float* parse_moment_state(const Napi::CallbackInfo& info, const ParamInfo& p);
uint64_t parse_steps(const Napi::CallbackInfo& info);

// accumulate(batch, loss): the loss spec and the per-target arrays, checked against the
// batch's target count; the arrays used are copied into `arrays` (the batch's).
struct AccumulateCall {
  bool nll = false;
  const uint8_t* mask = nullptr;
  const float* old_logprobs = nullptr;
  const float* advantages = nullptr;
  const float* ref_logprobs = nullptr;  // set only with kl_coef > 0
  LossOptions options;                  // dapo
  double token_count = -1;              // nll: < 0 counts the mask
  double temperature = 1.0;             // dapo
  bool want_entropy = false;
  TokenOutputs outputs;
};
AccumulateCall parse_accumulate(Napi::Env env, Napi::Object batch, Napi::Object loss, size_t targets, CallArrays& arrays);
Napi::Value accumulate_result(Napi::Env env, const AccumulateCall& call, const LossStats& stats);

// step(options): lr, eps and weightDecay must survive the cast to float32 the update runs in.
AdamWOptions parse_step(Napi::Env env, Napi::Object o);
Napi::Value step_result(Napi::Env env, const AdamWStats& stats);

// generate({ promptTokens, promptOffsets, promptIds?, n, maxNewTokens, temperature, topP, topK,
// seed, stop }): the arrays are copied into `arrays`; args points into them and into prompt_ids.
struct GenerateCall {
  GenerateArgs args;
  std::vector<uint64_t> prompt_ids;
  CallArrays arrays{true};
};
std::shared_ptr<GenerateCall> parse_generate(Napi::Env env, Napi::Object o);
Napi::Value generate_result(Napi::Env env, const GenerateResult& result);

}  // namespace dapo::bind
