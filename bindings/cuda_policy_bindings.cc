// CudaPolicyEngine: the CUDA policy engine (libdapo_cuda.so, native/cuda/api.h) as a JavaScript
// class with PolicyEngine's surface (policy_bindings.cc): the same arguments, checked the same
// way on the main thread (policy_call.h), the same results, the long calls as async jobs that own
// copies of their input arrays (CallArrays). The fp32 master weights, gradients and AdamW
// moments live on the device at the CPU engine's flat offsets; reads and writes copy through the
// module. Beyond PolicyEngine: memory() (device bytes), and the `dtype` and
// `generationLogprobsExact` properties.
#include <algorithm>
#include <atomic>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "bindings/args.h"
#include "bindings/cuda_bindings.h"
#include "bindings/host_params.h"
#include "bindings/policy_call.h"
#include "common/checked.h"
#include "cuda/model/engine_inputs.h"

namespace dapo::bind {
namespace {

dapo_cuda_model_config to_abi(const ModelConfig& c) {
  dapo_cuda_model_config a{};
  a.vocab = c.vocab;
  a.hidden = c.hidden;
  a.intermediate = c.intermediate;
  a.layers = c.layers;
  a.heads = c.heads;
  a.kv_heads = c.kv_heads;
  a.head_dim = c.head_dim;
  a.max_positions = c.max_positions;
  a.rope_theta = c.rope_theta;
  a.rms_eps = c.rms_eps;
  a.qkv_bias = c.qkv_bias;
  a.qk_norm = c.qk_norm;
  a.tie_embeddings = c.tie_embeddings;
  a.rope_llama3 = c.rope_llama3;
  a.rope_factor = c.rope_factor;
  a.rope_low_freq_factor = c.rope_low_freq_factor;
  a.rope_high_freq_factor = c.rope_high_freq_factor;
  a.rope_original_max_positions = c.rope_original_max_positions;
  return a;
}

dapo_cuda_packed_batch to_abi(const PackedBatch& b) {
  return dapo_cuda_packed_batch{b.tokens, b.n_tokens, b.offsets, b.n_seqs, b.prompt_lengths};
}

int to_abi(Aggregation mode) {
  switch (mode) {
    case Aggregation::SeqMeanTokenMean: return DAPO_CUDA_SEQ_MEAN_TOKEN_MEAN;
    case Aggregation::SeqMeanTokenSum: return DAPO_CUDA_SEQ_MEAN_TOKEN_SUM;
    default: return DAPO_CUDA_TOKEN_MEAN;
  }
}

dapo_cuda_accumulate_args to_abi(const PackedBatch& batch, const AccumulateCall& c) {
  dapo_cuda_accumulate_args a{};
  a.batch = to_abi(batch);
  a.kind = c.nll ? DAPO_CUDA_LOSS_NLL : DAPO_CUDA_LOSS_DAPO;
  a.old_logprobs = c.old_logprobs;
  a.advantages = c.advantages;
  a.mask = c.mask;
  a.ref_logprobs = c.ref_logprobs;
  a.clip_low = c.options.clip.clip_low;
  a.clip_high = c.options.clip.clip_high;
  a.clip_c = c.options.clip.clip_c;
  a.use_dual_clip = c.options.clip.use_dual_clip;
  a.aggregation = to_abi(c.options.aggregation.mode);
  a.token_count = c.nll ? c.token_count : c.options.aggregation.token_count;
  a.seq_count = c.nll ? -1 : c.options.aggregation.seq_count;
  a.kl_coef = c.options.kl_coef;
  a.temperature = c.nll ? 1.0 : c.temperature;
  a.logprobs_out = c.outputs.logprobs;
  a.entropy_out = c.outputs.entropy;
  return a;
}

dapo_cuda_generate_args to_abi(const GenerateArgs& g) {
  dapo_cuda_generate_args a{};
  a.prompt_tokens = g.prompt_tokens;
  a.prompt_offsets = g.prompt_offsets;
  a.n_prompts = g.n_prompts;
  a.prompt_ids = g.prompt_ids;
  a.n = g.n;
  a.max_new_tokens = g.max_new_tokens;
  a.temperature = g.sampling.temperature;
  a.top_p = g.sampling.top_p;
  a.top_k = g.sampling.top_k;
  a.seed = g.seed;
  a.stop = g.stop;
  a.n_stop = g.n_stop;
  return a;
}

// The module's generate output (one slot of capacity[q] per sequence) and its compaction into
// the layout of GenerateResult.
struct GenerateSlots {
  dapo_cuda_generate_args args;
  std::vector<size_t> capacity, start, lengths;
  std::vector<int32_t> tokens;
  std::vector<float> logprobs;
  std::vector<uint8_t> finished;
  GenerateResult compact() const {
    GenerateResult r;
    const size_t nq = capacity.size();
    r.offsets.assign(nq + 1, 0);
    for (size_t q = 0; q < nq; ++q) r.offsets[q + 1] = r.offsets[q] + static_cast<int32_t>(lengths[q]);
    r.tokens.reserve(r.offsets[nq]);
    r.logprobs.reserve(r.offsets[nq]);
    for (size_t q = 0; q < nq; ++q) {
      r.tokens.insert(r.tokens.end(), tokens.begin() + start[q], tokens.begin() + start[q] + lengths[q]);
      r.logprobs.insert(r.logprobs.end(), logprobs.begin() + start[q], logprobs.begin() + start[q] + lengths[q]);
    }
    r.finished = finished;
    return r;
  }
};

constexpr size_t kMessage = 1024;

class CudaPolicyEngine : public Napi::ObjectWrap<CudaPolicyEngine> {
 public:
  static Napi::Function Define(Napi::Env env) {
    using E = CudaPolicyEngine;
    return DefineClass(env, "CudaPolicyEngine",
                       {InstanceMethod("params", &E::Params),
                        InstanceMethod("numParameters", &E::NumParameters),
                        InstanceMethod("initRandom", &E::InitRandom),
                        InstanceMethod("setParam", &E::SetParam),
                        InstanceMethod("getParam", &E::GetParam),
                        InstanceMethod("getGrad", &E::GetGrad),
                        InstanceMethod("getOptimizerState", &E::GetOptimizerState),
                        InstanceMethod("setOptimizerState", &E::SetOptimizerState),
                        InstanceMethod("optimizerSteps", &E::OptimizerSteps),
                        InstanceMethod("setOptimizerSteps", &E::SetOptimizerSteps),
                        InstanceMethod("zeroGrad", &E::ZeroGrad),
                        InstanceMethod("forwardLogits", &E::ForwardLogits),
                        InstanceMethod("logprobs", &E::Logprobs),
                        InstanceMethod("accumulate", &E::Accumulate),
                        InstanceMethod("step", &E::Step),
                        InstanceMethod("generate", &E::Generate),
                        InstanceMethod("memory", &E::Memory),
                        InstanceMethod("dispose", &E::Dispose),
                        InstanceAccessor("dtype", &E::Dtype, nullptr),
                        InstanceAccessor("generationLogprobsExact", &E::GenerationLogprobsExact, nullptr)});
  }

  // new CudaPolicyEngine(config, { dtype: 'bfloat16' | 'float32', recompute, cudaGraphs, device })
  // The arguments are checked before the device is asked for, so their errors do not depend on it.
  explicit CudaPolicyEngine(const Napi::CallbackInfo& info) : Napi::ObjectWrap<CudaPolicyEngine>(info) {
    Napi::Env env = info.Env();
    guarded(env, [&] {
      config_ = parse_config(env, require_object(info, 0, "config"));
      validate_config(config_);
      dapo_cuda_engine_options options = parse_options(info);
      api_ = &require_engine_api();
      if (options.device >= cuda_status().devices)
        throw_range(env, "device must be a CUDA device index in [0, " + std::to_string(cuda_status().devices) + "), got " +
                             std::to_string(options.device));
      layout_ = host_param_layout(config_);
      dtype_ = options.dtype;
      const dapo_cuda_model_config c = to_abi(config_);
      char message[kMessage] = {0};
      dapo_cuda_engine* engine = nullptr;
      check_cuda(api_->create(&c, &options, &engine, message, sizeof message), message);
      engine_ = engine;
      return 0;
    });
  }

  // Collected without dispose(): free the device memory. A running job holds a reference to
  // this object, so this never runs under one.
  ~CudaPolicyEngine() override {
    if (engine_) api_->destroy(engine_);
  }

 private:
  static dapo_cuda_engine_options parse_options(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    dapo_cuda_engine_options o{DAPO_CUDA_BF16, 0, 0, 1};
    if (info.Length() < 2 || info[1].IsUndefined()) return o;
    Napi::Object opts = require_object(info, 1, "options");
    const std::string dtype = string(opts, "dtype").value_or("bfloat16");
    if (dtype != "bfloat16" && dtype != "float32")
      throw_range(env, "dtype must be 'bfloat16' or 'float32', got '" + dtype + "'");
    o.dtype = dtype == "float32" ? DAPO_CUDA_F32 : DAPO_CUDA_BF16;
    o.recompute = boolean(opts, "recompute").value_or(false) ? 1 : 0;
    o.use_cuda_graphs = boolean(opts, "cudaGraphs").value_or(true) ? 1 : 0;
    const size_t device = size_arg(env, opts, "device", false, 0);
    if (device > 1024) throw_range(env, "device must be a CUDA device index, got " + std::to_string(device));
    o.device = static_cast<int>(device);
    return o;
  }

  static const CudaEngineApi& require_engine_api() {
    require_cuda();  // throws with the reason when the module or the device is unusable
    const CudaEngineApi* api = cuda_engine_api();
    if (!api)
      throw Error(ErrorKind::Runtime, "ERR_DAPO_CUDA_UNAVAILABLE",
                  "CUDA is not available for the policy engine: " + cuda_status().engine_reason);
    return *api;
  }

  dapo_cuda_engine* engine(Napi::Env env) {
    require_ready(env, engine_ == nullptr, busy_.load());
    if (lost_.load())
      throw make_error(env, ErrorKind::Runtime, "E_DEVICE_LOST",
                       "the CUDA context of this policy was lost in an earlier call; restart the process");
    return engine_;
  }

  // A module status to a JS error; a lost context is remembered so every later call refuses.
  void check(int status, const char* message) {
    if (status == DAPO_CUDA_ERR_DEVICE_LOST) lost_.store(true);
    check_cuda(status, message);
  }

  // A job whose work is one module call; `done` builds the result on the main thread.
  std::unique_ptr<Job> job(Napi::Env env, const char* name, std::function<int(char*, size_t)> call,
                           std::function<Napi::Value(Napi::Env)> done) {
    return std::make_unique<Job>(
        env, name, Value(), &busy_,
        [this, call = std::move(call)] {
          char message[kMessage] = {0};
          check(call(message, sizeof message), message);
        },
        std::move(done));
  }

  Napi::Value run_async(const Napi::CallbackInfo& info, const std::function<std::unique_ptr<Job>(dapo_cuda_engine*)>& make) {
    Napi::Env env = info.Env();
    return queue_job(env, busy_, [&] { return make(engine(env)); });
  }

  size_t num_parameters() const { return layout_.empty() ? 0 : layout_.back().offset + layout_.back().size; }

  void write(dapo_cuda_engine* e, int what, size_t offset, size_t count, const void* src, int host_dtype) {
    char message[kMessage] = {0};
    check(api_->write(e, what, offset, count, src, host_dtype, message, sizeof message), message);
  }

  void read(dapo_cuda_engine* e, int what, size_t offset, size_t count, float* dst) {
    char message[kMessage] = {0};
    check(api_->read(e, what, offset, count, dst, message, sizeof message), message);
  }

  // Writes zeros over all of `what`, a bounded block at a time.
  void write_zeros(dapo_cuda_engine* e, int what) {
    const size_t n = num_parameters();
    const std::vector<float> zeros(std::min<size_t>(n, size_t{1} << 22), 0.0f);
    for (size_t at = 0; at < n; at += zeros.size())
      write(e, what, at, std::min(zeros.size(), n - at), zeros.data(), DAPO_CUDA_HOST_F32);
  }

  // One parameter's values of `what`, in `dtype` ('F32' or 'BF16').
  Napi::Value read_param(Napi::Env env, dapo_cuda_engine* e, int what, const ParamInfo& p, const std::string& dtype) {
    if (dtype == "F32") {
      Napi::Float32Array out = Napi::Float32Array::New(env, p.size);
      read(e, what, p.offset, p.size, out.Data());
      return out;
    }
    if (dtype != "BF16") throw_range(env, "dtype must be 'F32' or 'BF16', got '" + dtype + "'");
    std::vector<float> values(p.size);
    read(e, what, p.offset, p.size, values.data());
    return param_array(env, values.data(), values.size(), dtype);
  }

  Napi::Value Params(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guarded(env, [&]() -> Napi::Value {
      engine(env);
      return params_array(env, layout_);
    });
  }

  Napi::Value NumParameters(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guarded(env, [&]() -> Napi::Value {
      engine(env);
      return Napi::Number::New(env, static_cast<double>(num_parameters()));
    });
  }

  // The CPU engine's initialisation, computed on the host and uploaded; a fresh optimizer.
  Napi::Value InitRandom(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guarded(env, [&]() -> Napi::Value {
      dapo_cuda_engine* e = engine(env);
      const InitRandomArgs a = parse_init_random(info);
      with_random_weights(config_, a.seed, a.std,
                          [&](const float* w, size_t n) { write(e, DAPO_CUDA_WEIGHTS, 0, n, w, DAPO_CUDA_HOST_F32); });
      char message[kMessage] = {0};
      check(api_->zero_grad(e, message, sizeof message), message);
      if (optimizer_touched_) {
        write_zeros(e, DAPO_CUDA_ADAM_M);
        write_zeros(e, DAPO_CUDA_ADAM_V);
        optimizer_touched_ = false;
      }
      check(api_->set_steps(e, 0, message, sizeof message), message);
      return env.Undefined();
    });
  }

  Napi::Value SetParam(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guarded(env, [&]() -> Napi::Value {
      dapo_cuda_engine* e = engine(env);
      const ParamInfo& p = layout_[param_index(info, layout_.size())];
      // Converted to float32 and checked on the host (a NaN is refused naming the tensor).
      const std::vector<float> values = parse_param_values(info, p);
      write(e, DAPO_CUDA_WEIGHTS, p.offset, p.size, values.data(), DAPO_CUDA_HOST_F32);
      return env.Undefined();
    });
  }

  Napi::Value GetParam(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guarded(env, [&]() -> Napi::Value {
      dapo_cuda_engine* e = engine(env);
      const ParamInfo& p = layout_[param_index(info, layout_.size())];
      return read_param(env, e, DAPO_CUDA_WEIGHTS, p, param_dtype(info, 1));
    });
  }

  Napi::Value GetGrad(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guarded(env, [&]() -> Napi::Value {
      dapo_cuda_engine* e = engine(env);
      const ParamInfo& p = layout_[param_index(info, layout_.size())];
      return read_param(env, e, DAPO_CUDA_GRADS, p, "F32");
    });
  }

  Napi::Value GetOptimizerState(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guarded(env, [&]() -> Napi::Value {
      dapo_cuda_engine* e = engine(env);
      const ParamInfo& p = layout_[param_index(info, layout_.size())];
      return read_param(env, e, parse_moment(info) == 'm' ? DAPO_CUDA_ADAM_M : DAPO_CUDA_ADAM_V, p, "F32");
    });
  }

  Napi::Value SetOptimizerState(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guarded(env, [&]() -> Napi::Value {
      dapo_cuda_engine* e = engine(env);
      const ParamInfo& p = layout_[param_index(info, layout_.size())];
      const int what = parse_moment(info) == 'm' ? DAPO_CUDA_ADAM_M : DAPO_CUDA_ADAM_V;
      write(e, what, p.offset, p.size, parse_moment_state(info, p), DAPO_CUDA_HOST_F32);
      optimizer_touched_ = true;
      return env.Undefined();
    });
  }

  Napi::Value OptimizerSteps(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guarded(env, [&]() -> Napi::Value {
      dapo_cuda_engine* e = engine(env);
      uint64_t steps = 0;
      char message[kMessage] = {0};
      check(api_->get_steps(e, &steps, message, sizeof message), message);
      return Napi::Number::New(env, static_cast<double>(steps));
    });
  }

  Napi::Value SetOptimizerSteps(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guarded(env, [&]() -> Napi::Value {
      dapo_cuda_engine* e = engine(env);
      const uint64_t steps = parse_steps(info);
      char message[kMessage] = {0};
      check(api_->set_steps(e, steps, message, sizeof message), message);
      return env.Undefined();
    });
  }

  Napi::Value ZeroGrad(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guarded(env, [&]() -> Napi::Value {
      dapo_cuda_engine* e = engine(env);
      char message[kMessage] = {0};
      check(api_->zero_grad(e, message, sizeof message), message);
      return env.Undefined();
    });
  }

  Napi::Value ForwardLogits(const Napi::CallbackInfo& info) {
    return run_async(info, [&](dapo_cuda_engine* e) {
      auto call = parse_forward_logits(info, config_);
      return job(
          info.Env(), "forwardLogits",
          [this, e, call](char* m, size_t ms) {
            const int status = api_->forward_logits(e, call->ids, call->t, call->logits, m, ms);
            // Overflowed logits are the CPU engine's ERR_DAPO_NONFINITE, not Infinity.
            if (status == 0) require_finite_logits(call->logits, call->t * config_.vocab);
            return status;
          },
          [call](Napi::Env) { return call->result.Value(); });
    });
  }

  Napi::Value Logprobs(const Napi::CallbackInfo& info) {
    return run_async(info, [&](dapo_cuda_engine* e) {
      auto call = std::make_shared<LogprobsCall>(parse_logprobs(info, config_));
      return job(
          info.Env(), "logprobs",
          [this, e, call](char* m, size_t ms) {
            const dapo_cuda_packed_batch b = to_abi(call->args->batch);
            return api_->logprobs(e, &b, call->temperature, call->outputs.logprobs, call->outputs.entropy, m, ms);
          },
          [call](Napi::Env env) { return logprobs_result(env, *call); });
    });
  }

  Napi::Value Accumulate(const Napi::CallbackInfo& info) {
    return run_async(info, [&](dapo_cuda_engine* e) {
      Napi::Env env = info.Env();
      Napi::Object bo = require_object(info, 0, "batch");
      Napi::Object lo = require_object(info, 1, "loss");
      auto args = parse_batch(env, bo);
      const size_t r = count_targets(config_, args->batch);
      auto call = std::make_shared<AccumulateCall>(parse_accumulate(env, bo, lo, r, args->arrays));
      auto stats = std::make_shared<dapo_cuda_accumulate_stats>();
      return job(
          env, "accumulate",
          [this, e, args, call, stats](char* m, size_t ms) {
            const dapo_cuda_accumulate_args a = to_abi(args->batch, *call);
            return api_->accumulate(e, &a, stats.get(), m, ms);
          },
          [call, stats](Napi::Env env) { return accumulate_result(env, *call, loss_stats_of(*stats)); });
    });
  }

  Napi::Value Step(const Napi::CallbackInfo& info) {
    return run_async(info, [&](dapo_cuda_engine* e) {
      Napi::Env env = info.Env();
      const AdamWOptions o = parse_step(env, require_object(info, 0, "step options"));
      const dapo_cuda_step_args a{o.lr, o.beta1, o.beta2, o.eps, o.weight_decay, o.clip_grad_norm};
      auto result = std::make_shared<dapo_cuda_step_result>();
      optimizer_touched_ = true;
      return job(
          env, "step", [this, e, a, result](char* m, size_t ms) { return api_->step(e, &a, result.get(), m, ms); },
          [result](Napi::Env env) {
            AdamWStats s;
            s.grad_norm = result->grad_norm;
            s.clipped = result->clipped != 0;
            s.step = result->step;
            return step_result(env, s);
          });
    });
  }

  // The module sizes each sequence's output slot (and checks the prompts) on the main thread;
  // the job fills the slots and compacts them into PolicyEngine's result layout.
  Napi::Value Generate(const Napi::CallbackInfo& info) {
    return run_async(info, [&](dapo_cuda_engine* e) {
      Napi::Env env = info.Env();
      auto call = parse_generate(env, require_object(info, 0, "generate arguments"));
      auto slots = std::make_shared<GenerateSlots>();
      slots->args = to_abi(call->args);
      // The module refuses more sequences than this too, but only after the slots are sized.
      const size_t nq = checked_mul(call->args.n_prompts, call->args.n, "n x prompts");
      if (nq > dapo::cuda::model::kMaxGenerateSequences)
        throw_range(env, "n x prompts = " + std::to_string(nq) + " sequences is more than one call generates (at most " +
                             std::to_string(dapo::cuda::model::kMaxGenerateSequences) + ")");
      slots->capacity.assign(nq, 0);
      char message[kMessage] = {0};
      check(api_->generate_capacity(e, &slots->args, slots->capacity.data(), message, sizeof message), message);
      slots->start.assign(nq, 0);
      size_t total = 0;
      for (size_t q = 0; q < nq; ++q) {
        slots->start[q] = total;
        total += slots->capacity[q];
      }
      if (total > static_cast<size_t>(INT32_MAX))
        throw_range(env, "generate would produce " + std::to_string(total) + " tokens, more than 2^31 - 1");
      slots->tokens.assign(total, 0);
      slots->logprobs.assign(total, 0.0f);
      slots->lengths.assign(nq, 0);
      slots->finished.assign(nq, 0);
      auto result = std::make_shared<GenerateResult>();
      return job(
          env, "generate",
          [this, e, slots, result, call](char* m, size_t ms) {
            GenerateSlots& s = *slots;
            const int status = api_->generate(e, &s.args, s.tokens.data(), s.logprobs.data(), s.lengths.data(),
                                              s.finished.data(), m, ms);
            if (status == 0) *result = s.compact();
            return status;
          },
          [result](Napi::Env env) { return generate_result(env, *result); });
    });
  }

  // memory({ resetPeak }) -> { allocated, peak, free, total } in bytes of device memory.
  Napi::Value Memory(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guarded(env, [&]() -> Napi::Value {
      dapo_cuda_engine* e = engine(env);
      bool reset = false;
      if (info.Length() > 0 && !info[0].IsUndefined()) reset = boolean(require_object(info, 0, "options"), "resetPeak").value_or(false);
      dapo_cuda_memory_stats s{};
      char message[kMessage] = {0};
      check(api_->memory(e, reset ? 1 : 0, &s, message, sizeof message), message);
      Napi::Object o = Napi::Object::New(env);
      o.Set("allocated", static_cast<double>(s.allocated_bytes));
      o.Set("peak", static_cast<double>(s.peak_allocated_bytes));
      o.Set("free", static_cast<double>(s.free_bytes));
      o.Set("total", static_cast<double>(s.total_bytes));
      return o;
    });
  }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guarded(env, [&]() -> Napi::Value {
      if (!engine_) return env.Undefined();
      if (busy_.load())
        throw make_error(env, ErrorKind::Runtime, "ERR_DAPO_BUSY", "the policy is busy; await its call before dispose()");
      api_->destroy(engine_);
      engine_ = nullptr;
      return env.Undefined();
    });
  }

  Napi::Value Dtype(const Napi::CallbackInfo& info) {
    return Napi::String::New(info.Env(), dtype_ == DAPO_CUDA_F32 ? "float32" : "bfloat16");
  }

  // Generation runs the decode kernels, logprobs() the packed ones: the same distribution, not
  // the same bits, so the trainer recomputes old log-probs (the CPU engine's are exact).
  Napi::Value GenerationLogprobsExact(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), false); }

  ModelConfig config_;
  std::vector<ParamInfo> layout_;
  const CudaEngineApi* api_ = nullptr;
  dapo_cuda_engine* engine_ = nullptr;
  int dtype_ = DAPO_CUDA_BF16;
  std::atomic<bool> busy_{false};
  std::atomic<bool> lost_{false};
  bool optimizer_touched_ = false;  // moments may be non-zero (initRandom must clear them)
};

}  // namespace

void register_cuda_policy(Napi::Env env, Napi::Object exports) {
  exports.Set("CudaPolicyEngine", CudaPolicyEngine::Define(env));
}

}  // namespace dapo::bind
