// The CUDA backend of dapoLoss and groupAdvantages (cudaDapoLoss, cudaDapoLossAsync,
// cudaGroupAdvantages), plus cudaCopyBench and cudaMemInfo for the benchmark. Calls with
// typed arrays only are checked by parse_loss_call, exactly as on the CPU; calls with
// DeviceTensors go through the operand parser below, which uses the same messages.
#include <memory>

#include "bindings/cuda_bindings.h"
#include "bindings/loss_call.h"

namespace dapo::bind {

const CudaModule& require_cuda() {
  const CudaModule* module = cuda_module();
  if (!module)
    throw Error(ErrorKind::Runtime, "ERR_DAPO_CUDA_UNAVAILABLE", "CUDA is not available: " + cuda_status().reason);
  return *module;
}

void check_cuda(int status, const char* message) {
  if (status == 0) return;
  const std::string m = message;
  switch (status) {
    case DAPO_CUDA_ERR_RANGE: throw Error(ErrorKind::Range, "ERR_DAPO_RANGE", m);
    case DAPO_CUDA_ERR_CUBLAS: throw Error(ErrorKind::Runtime, "ERR_DAPO_CUBLAS", m);
    case DAPO_CUDA_ERR_ARGS: throw Error(ErrorKind::Runtime, "ERR_DAPO_NATIVE", m);
    // The module's message names what was being allocated, the bytes asked and the bytes free.
    case DAPO_CUDA_ERR_OOM: throw Error(ErrorKind::Runtime, "E_OOM", "out of GPU memory: " + m);
    case DAPO_CUDA_ERR_DEVICE_LOST:
      throw Error(ErrorKind::Runtime, "E_DEVICE_LOST",
                  "the CUDA context is lost (" + m + "); this engine refuses every later call: restart the process");
    case DAPO_CUDA_ERR_KERNEL: throw Error(ErrorKind::Runtime, "E_KERNEL", "a CUDA kernel failed: " + m);
    case DAPO_CUDA_ERR_NONFINITE: throw Error(ErrorKind::Range, "ERR_DAPO_NONFINITE", m);
    default: throw Error(ErrorKind::Runtime, "ERR_DAPO_CUDA", "CUDA error: " + m);
  }
}

namespace {

const char* array_name(DType d) {
  switch (d) {
    case DType::F32: return "Float32Array";
    case DType::BF16: return "Uint16Array";
    case DType::I32: return "Int32Array";
    default: return "Uint8Array";
  }
}

bool dtype_of(napi_typedarray_type type, DType* out) {
  switch (type) {
    case napi_float32_array: *out = DType::F32; return true;
    case napi_uint16_array: *out = DType::BF16; return true;
    case napi_int32_array: *out = DType::I32; return true;
    case napi_uint8_array: *out = DType::U8; return true;
    default: return false;
  }
}

std::string allowed(std::initializer_list<DType> dtypes) {
  std::string s;
  for (DType d : dtypes) s += (s.empty() ? "" : " or ") + std::string(array_name(d));
  return s + " (or a DeviceTensor of that type)";
}

Aggregation parse_aggregation(Napi::Env env, const std::optional<std::string>& name) {
  if (!name || *name == "token-mean") return Aggregation::TokenMean;
  if (*name == "seq-mean-token-mean") return Aggregation::SeqMeanTokenMean;
  if (*name == "seq-mean-token-sum") return Aggregation::SeqMeanTokenSum;
  throw_range(env, "aggregation must be 'token-mean', 'seq-mean-token-mean' or 'seq-mean-token-sum', got '" + *name + "'");
}

void check_length(Napi::Env env, const Operand& op, const char* key, size_t n) {
  if (op.present && op.length != n)
    throw_range(env, std::string(key) + " has length " + std::to_string(op.length) + " but oldLogprobs has N = " +
                         std::to_string(n));
}

}  // namespace

Operand operand(Napi::Object args, const char* key, std::initializer_list<DType> dtypes, bool required,
                std::vector<Napi::Reference<Napi::Value>>& keep_alive) {
  Napi::Env env = args.Env();
  Napi::Value value = args.Get(key);
  Operand op;
  if (value.IsUndefined() || value.IsNull()) {
    if (required) throw_type(env, std::string(key) + " is required and must be a " + allowed(dtypes));
    return op;
  }
  DeviceBuffer buffer;
  DType dtype;
  if (device_tensor_of(env, value, key, &buffer)) {
    op.on_device = true;
    op.ptr = buffer.ptr;
    op.length = buffer.length;
    dtype = buffer.dtype;
  } else {
    if (!value.IsTypedArray() || !dtype_of(value.As<Napi::TypedArray>().TypedArrayType(), &dtype))
      throw_type(env, std::string(key) + " must be a " + allowed(dtypes));
    // typed_array_view reads SharedArrayBuffers too and refuses detached buffers.
    const View<uint8_t> view = typed_array_view<uint8_t>(env, value.As<Napi::TypedArray>(), key);
    op.ptr = view.data;
    op.length = view.length;
  }
  bool ok = false;
  for (DType d : dtypes) ok |= d == dtype;
  if (!ok) throw_type(env, std::string(key) + " must be a " + allowed(dtypes));
  op.dtype = dtype;
  op.present = true;
  keep_alive.push_back(Napi::Persistent(value));
  return op;
}

bool any_device_tensor(Napi::Env env, Napi::Object args, std::initializer_list<const char*> keys) {
  DeviceBuffer buffer;
  for (const char* key : keys)
    if (device_tensor_of(env, args.Get(key), key, &buffer)) return true;
  return false;
}

void parse_common(Napi::Env env, Napi::Object args, bool need_tokens, CommonCall& call) {
  auto& keep = call.keep_alive;
  call.old_logprobs = operand(args, "oldLogprobs", {DType::F32}, true, keep);
  call.advantages = operand(args, "advantages", {DType::F32}, true, keep);
  call.mask = operand(args, "mask", {DType::U8}, true, keep);
  call.tokens = operand(args, "tokens", {DType::I32}, false, keep);
  call.seq_ids = operand(args, "seqIds", {DType::I32}, false, keep);
  Operand ref_logprobs = operand(args, "refLogprobs", {DType::F32}, false, keep);
  const size_t n = call.n = call.old_logprobs.length;
  check_length(env, call.advantages, "advantages", n);
  check_length(env, call.mask, "mask", n);
  check_length(env, call.tokens, "tokens", n);
  check_length(env, call.seq_ids, "seqIds", n);
  check_length(env, ref_logprobs, "refLogprobs", n);

  ClipConfig& clip = call.options.clip;
  clip.clip_low = static_cast<float>(number(args, "clipLow").value_or(0.2));
  clip.clip_high = static_cast<float>(number(args, "clipHigh").value_or(0.28));
  if (clip.clip_low < 0 || clip.clip_low >= 1) throw_range(env, "clipLow must be in [0, 1), got " + std::to_string(clip.clip_low));
  if (clip.clip_high < 0) throw_range(env, "clipHigh must be >= 0, got " + std::to_string(clip.clip_high));
  if (auto c = number(args, "clipC")) {
    if (*c <= 1) throw_range(env, "clipC must be greater than 1, got " + std::to_string(*c));
    clip.clip_c = static_cast<float>(*c);
    clip.use_dual_clip = true;
  }
  if (auto kl = number(args, "klCoef")) {
    if (!(*kl >= 0)) throw_range(env, "klCoef must be >= 0, got " + std::to_string(*kl));
    if (*kl > 0 && !ref_logprobs.present) throw_type(env, "refLogprobs (Float32Array) is required when klCoef > 0");
    call.options.kl_coef = static_cast<float>(*kl);
  }
  if (call.options.kl_coef > 0) call.ref_logprobs = ref_logprobs;
  AggregationConfig& agg = call.options.aggregation;
  agg.mode = parse_aggregation(env, string(args, "aggregation"));
  if (auto t = number(args, "tokenCount")) {
    if (*t < 0) throw_range(env, "tokenCount must be >= 0");
    agg.token_count = *t;
  }
  if (auto s = number(args, "seqCount")) {
    if (*s < 0) throw_range(env, "seqCount must be >= 0");
    agg.seq_count = *s;
  }
  if (agg.mode != Aggregation::TokenMean && !call.seq_ids.present)
    throw_type(env, "seqIds (Int32Array) is required by the seq-mean aggregations");
  call.options.entropy = boolean(args, "entropy").value_or(false);
  if (need_tokens && !call.tokens.present) throw_type(env, "tokens (Int32Array) is required with logits");

  call.logprobs = Napi::Persistent(Napi::Float32Array::New(env, n));
  if (call.options.entropy && need_tokens) call.entropy = Napi::Persistent(Napi::Float32Array::New(env, n));
}

dapo_cuda_loss_common to_abi(const CommonCall& call) {
  dapo_cuda_loss_common c{};
  c.n = call.n;
  c.tokens = call.tokens.in();
  c.old_logprobs = call.old_logprobs.in();
  c.advantages = call.advantages.in();
  c.mask = call.mask.in();
  c.seq_ids = call.seq_ids.in();
  c.clip_low = call.options.clip.clip_low;
  c.clip_high = call.options.clip.clip_high;
  c.clip_c = call.options.clip.clip_c;
  c.use_dual_clip = call.options.clip.use_dual_clip ? 1 : 0;
  c.aggregation = call.options.aggregation.mode == Aggregation::TokenMean          ? DAPO_CUDA_TOKEN_MEAN
                  : call.options.aggregation.mode == Aggregation::SeqMeanTokenMean ? DAPO_CUDA_SEQ_MEAN_TOKEN_MEAN
                                                                                   : DAPO_CUDA_SEQ_MEAN_TOKEN_SUM;
  c.token_count = call.options.aggregation.token_count;
  c.seq_count = call.options.aggregation.seq_count;
  c.entropy = call.entropy.IsEmpty() ? 0 : 1;
  c.ref_logprobs = call.ref_logprobs.in();
  c.kl_coef = call.options.kl_coef > 0 ? call.options.kl_coef : 0.0;
  c.logprobs_out = dapo_cuda_out{call.logprobs.Value().Data(), 0};
  c.entropy_out = dapo_cuda_out{call.entropy.IsEmpty() ? nullptr : call.entropy.Value().Data(), 0};
  return c;
}

Napi::Object stats_object(Napi::Env env, const dapo_cuda_loss_stats& s) {
  LossStats stats;
  stats.clip_frac_low = s.clip_frac_low;
  stats.clip_frac_high = s.clip_frac_high;
  stats.clip_frac_dual = s.clip_frac_dual;
  stats.approx_kl = s.approx_kl;
  stats.kl_ref = s.kl_ref;
  stats.tokens = static_cast<size_t>(s.tokens);
  return loss_stats_object(env, stats);
}

namespace {

// One dapoLoss call on CUDA, gathered on the main thread.
struct CudaLossCall {
  std::unique_ptr<LossCall> host;  // typed arrays only: checked by parse_loss_call
  CommonCall common;               // with DeviceTensors
  dapo_cuda_loss_args args{};
  Napi::Reference<Napi::Value> grad;
};

// async: the module runs after control returns to JavaScript (see CallArrays). Typed-array
// calls then copy their arrays; host typed arrays mixed with DeviceTensors are still read in
// place (a caller must not transfer them while the call runs).
std::unique_ptr<CudaLossCall> parse_cuda_loss(const Napi::CallbackInfo& info, bool async) {
  Napi::Env env = info.Env();
  auto call = std::make_unique<CudaLossCall>();
  dapo_cuda_loss_args& a = call->args;
  Napi::Object args = require_object(info, 0, "dapoLoss options");
  const bool device = any_device_tensor(env, args, {"logits", "logprobs", "tokens", "oldLogprobs", "advantages", "mask",
                                                    "seqIds", "refLogprobs", "gradOut"});
  if (!device) {
    if (boolean(args, "inPlace").value_or(false)) throw_type(env, "inPlace needs logits as a DeviceTensor");
    call->host = parse_loss_call(info, async);
    const LossInputs& in = call->host->inputs;
    const LossOptions& o = call->host->options;
    CommonCall& c = call->common;
    c.n = in.n;
    c.options = o;
    a.common.n = in.n;
    a.common.tokens = dapo_cuda_in{in.tokens, 0};
    a.common.old_logprobs = dapo_cuda_in{in.old_logprobs, 0};
    a.common.advantages = dapo_cuda_in{in.advantages, 0};
    a.common.mask = dapo_cuda_in{in.mask, 0};
    a.common.seq_ids = dapo_cuda_in{in.seq_ids, 0};
    a.common.ref_logprobs = dapo_cuda_in{in.ref_logprobs, 0};  // set only with klCoef > 0
    a.common.kl_coef = in.ref_logprobs && o.kl_coef > 0 ? o.kl_coef : 0.0;
    CommonCall scratch;
    scratch.options = o;
    dapo_cuda_loss_common abi = to_abi(scratch);  // clip and aggregation fields
    a.common.clip_low = abi.clip_low, a.common.clip_high = abi.clip_high, a.common.clip_c = abi.clip_c;
    a.common.use_dual_clip = abi.use_dual_clip;
    a.common.aggregation = abi.aggregation;
    a.common.token_count = abi.token_count, a.common.seq_count = abi.seq_count;
    a.common.entropy = call->host->outputs.entropy ? 1 : 0;
    a.common.logprobs_out = dapo_cuda_out{call->host->outputs.logprobs, 0};
    a.common.entropy_out = dapo_cuda_out{call->host->outputs.entropy, 0};
    a.vocab = in.vocab;
    a.logits_dtype = in.logits_f32 ? DAPO_CUDA_F32 : in.logits_bf16 ? DAPO_CUDA_BF16 : 0;
    a.logits = dapo_cuda_in{in.logits_f32 ? static_cast<const void*>(in.logits_f32) : in.logits_bf16, 0};
    a.logprobs = dapo_cuda_in{in.logprobs, 0};
    a.grad = dapo_cuda_out{call->host->outputs.grad, 0};
    a.grad_dtype = DAPO_CUDA_F32;
    return call;
  }

  CommonCall& c = call->common;
  Operand logits = operand(args, "logits", {DType::F32, DType::BF16}, false, c.keep_alive);
  Operand logprobs = operand(args, "logprobs", {DType::F32}, false, c.keep_alive);
  parse_common(env, args, logits.present, c);
  if (logits.present == logprobs.present)
    throw_type(env, logits.present ? "pass either logits or logprobs, not both" : "logits or logprobs is required");
  const size_t n = c.n;
  check_length(env, logprobs, "logprobs", n);
  size_t grad_length = n;
  if (logits.present) {
    auto vocab = number(args, "vocabSize");
    if (!vocab) throw_type(env, "vocabSize is required with logits");
    if (*vocab < 1 || *vocab != static_cast<double>(static_cast<size_t>(*vocab)))
      throw_range(env, "vocabSize must be a positive integer");
    a.vocab = static_cast<size_t>(*vocab);
    if (logits.length != n * a.vocab)
      throw_range(env, "logits has length " + std::to_string(logits.length) + ", expected N * vocabSize = " +
                           std::to_string(n) + " * " + std::to_string(a.vocab));
    grad_length = n * a.vocab;
    a.logits_dtype = logits.dtype == DType::F32 ? DAPO_CUDA_F32 : DAPO_CUDA_BF16;
    a.logits = logits.in();
  } else {
    a.logprobs = logprobs.in();
  }
  a.common = to_abi(c);
  a.grad_dtype = DAPO_CUDA_F32;

  const bool in_place = boolean(args, "inPlace").value_or(false);
  Napi::Value grad_out = args.Get("gradOut");
  if (in_place) {
    if (!logits.present || !logits.on_device) throw_type(env, "inPlace needs logits as a DeviceTensor");
    if (!grad_out.IsUndefined()) throw_type(env, "pass either inPlace or gradOut, not both");
    a.grad = dapo_cuda_out{const_cast<void*>(logits.ptr), 1};
    a.grad_dtype = a.logits_dtype;
    call->grad = Napi::Persistent(args.Get("logits"));
  } else if (!grad_out.IsUndefined()) {
    Operand g = operand(args, "gradOut", {DType::F32}, true, c.keep_alive);
    if (g.length != grad_length)
      throw_range(env, "gradOut has length " + std::to_string(g.length) + ", expected " + std::to_string(grad_length));
    a.grad = dapo_cuda_out{const_cast<void*>(g.ptr), g.on_device ? 1 : 0};
    call->grad = Napi::Persistent(grad_out);
  } else if ((logits.present && logits.on_device) || (logprobs.present && logprobs.on_device)) {
    DeviceBuffer buffer;
    Napi::Object t = new_device_tensor(env, DType::F32, grad_length, &buffer);
    a.grad = dapo_cuda_out{buffer.ptr, 1};
    call->grad = Napi::Persistent(Napi::Value(t));
  } else {
    Napi::Float32Array g = Napi::Float32Array::New(env, grad_length);
    a.grad = dapo_cuda_out{g.Data(), 0};
    call->grad = Napi::Persistent(Napi::Value(g));
  }
  return call;
}

Napi::Object cuda_loss_result(Napi::Env env, CudaLossCall& call, const dapo_cuda_loss_stats& s) {
  if (call.host) {
    LossStats stats;
    stats.loss = s.loss;
    stats.clip_frac_low = s.clip_frac_low, stats.clip_frac_high = s.clip_frac_high;
    stats.clip_frac_dual = s.clip_frac_dual, stats.approx_kl = s.approx_kl;
    stats.kl_ref = s.kl_ref;
    stats.tokens = static_cast<size_t>(s.tokens);
    Napi::Object result = result_object(env, *call.host, stats);
    result.Set("kernelMs", s.kernel_ms);
    return result;
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("loss", s.loss);
  result.Set("grad", call.grad.Value());
  result.Set("logprobs", call.common.logprobs.Value());
  if (!call.common.entropy.IsEmpty()) result.Set("entropy", call.common.entropy.Value());
  result.Set("stats", stats_object(env, s));
  result.Set("kernelMs", s.kernel_ms);
  return result;
}

Napi::Value CudaDapoLoss(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    const CudaModule& cuda = require_cuda();
    auto call = parse_cuda_loss(info, false);
    dapo_cuda_loss_stats stats{};
    char message[1024] = {0};
    check_cuda(cuda.dapo_loss(&call->args, &stats, message, sizeof message), message);
    return cuda_loss_result(env, *call, stats);
  });
}

Napi::Value CudaDapoLossAsync(const Napi::CallbackInfo& info) {
  return queue_cuda_loss(info.Env(), "cudaDapoLossAsync", [&] {
    const CudaModule& cuda = require_cuda();
    std::shared_ptr<CudaLossCall> call = parse_cuda_loss(info, true);
    return CudaLossJob{[&cuda, call](dapo_cuda_loss_stats* stats, char* message, size_t size) {
                         return cuda.dapo_loss(&call->args, stats, message, size);
                       },
                       [call](Napi::Env env, const dapo_cuda_loss_stats& stats) { return cuda_loss_result(env, *call, stats); }};
  });
}

Napi::Value CudaGroupAdvantages(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    const CudaModule& cuda = require_cuda();
    if (info.Length() < 1) throw_type(env, "rewards must be a Float32Array");
    Napi::Object holder = Napi::Object::New(env);
    holder.Set("rewards", info[0]);
    std::vector<Napi::Reference<Napi::Value>> keep;
    Operand rewards = operand(holder, "rewards", {DType::F32}, true, keep);
    if (info.Length() < 2 || !info[1].IsNumber()) throw_type(env, "groupSize must be a number");
    const double group = info[1].As<Napi::Number>().DoubleValue();
    if (!(group >= 1) || group != static_cast<double>(static_cast<size_t>(group)))
      throw_range(env, "groupSize must be a positive integer");
    const size_t group_size = static_cast<size_t>(group);
    if (rewards.length % group_size != 0)
      throw_range(env, "rewards has length " + std::to_string(rewards.length) + ", not a multiple of groupSize " +
                           std::to_string(group_size));
    bool use_std = true;
    double eps = 1e-6;
    if (info.Length() > 2 && !info[2].IsUndefined()) {
      if (!info[2].IsObject()) throw_type(env, "options must be an object");
      Napi::Object opts = info[2].As<Napi::Object>();
      use_std = boolean(opts, "std").value_or(true);
      eps = number(opts, "eps").value_or(1e-6);
      if (eps < 0) throw_range(env, "eps must be >= 0");
    }
    Napi::Value out;
    dapo_cuda_out dst{};
    if (rewards.on_device) {
      DeviceBuffer buffer;
      out = new_device_tensor(env, DType::F32, rewards.length, &buffer);
      dst = dapo_cuda_out{buffer.ptr, 1};
    } else {
      Napi::Float32Array array = Napi::Float32Array::New(env, rewards.length);
      out = array;
      dst = dapo_cuda_out{array.Data(), 0};
    }
    char message[512] = {0};
    check_cuda(cuda.group_advantages(rewards.in(), rewards.length, group_size, use_std ? 1 : 0, eps, dst, message,
                                     sizeof message),
               message);
    return out;
  });
}

Napi::Value CudaCopyBench(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    const CudaModule& cuda = require_cuda();
    if (info.Length() < 1 || !info[0].IsNumber()) throw_type(env, "bytes must be a number");
    const double bytes = info[0].As<Napi::Number>().DoubleValue();
    const int iterations = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : 20;
    if (!(bytes >= 1)) throw_range(env, "bytes must be positive");
    float ms = 0;
    char message[512] = {0};
    check_cuda(cuda.copy_bench(static_cast<size_t>(bytes), iterations, &ms, message, sizeof message), message);
    return Napi::Number::New(env, ms);
  });
}

Napi::Value CudaMemInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    const CudaModule& cuda = require_cuda();
    size_t free_bytes = 0, total = 0;
    char message[512] = {0};
    check_cuda(cuda.mem_info(&free_bytes, &total, message, sizeof message), message);
    Napi::Object out = Napi::Object::New(env);
    out.Set("free", static_cast<double>(free_bytes));
    out.Set("total", static_cast<double>(total));
    return out;
  });
}

}  // namespace

void register_cuda_loss(Napi::Env env, Napi::Object exports) {
  exports.Set("cudaDapoLoss", Napi::Function::New(env, CudaDapoLoss, "cudaDapoLoss"));
  exports.Set("cudaDapoLossAsync", Napi::Function::New(env, CudaDapoLossAsync, "cudaDapoLossAsync"));
  exports.Set("cudaGroupAdvantages", Napi::Function::New(env, CudaGroupAdvantages, "cudaGroupAdvantages"));
  exports.Set("cudaCopyBench", Napi::Function::New(env, CudaCopyBench, "cudaCopyBench"));
  exports.Set("cudaMemInfo", Napi::Function::New(env, CudaMemInfo, "cudaMemInfo"));
}

}  // namespace dapo::bind
