// The CUDA backend of dapoLoss and groupAdvantages (cudaDapoLoss, cudaDapoLossAsync,
// cudaGroupAdvantages), plus cudaCopyBench and cudaMemInfo for the benchmark. Calls with
// typed arrays only are checked by parse_loss_call, exactly as on the CPU; calls with
// DeviceTensors go through the operand parser below, which shares the CPU's option parsing and
// messages. Both own their arrays as the CPU does (CallArrays) and hold their DeviceTensors
// (DeviceTensorHold) until the call ends.
#include <algorithm>
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

// The typed array of each dtype, as the CPU bindings name it in errors.
const char* array_name(DType d) {
  switch (d) {
    case DType::F32: return "Float32Array";
    case DType::BF16: return "Uint16Array (bfloat16 bits)";
    case DType::I32: return "Int32Array";
    default: return "Uint8Array";
  }
}

// "a Float32Array or a Uint16Array (bfloat16 bits), or a DeviceTensor of that dtype": the CPU's
// words first, so a message starts as the CPU's does for the same argument.
std::string allowed(std::initializer_list<DType> dtypes) {
  std::string s;
  for (DType d : dtypes) s += (s.empty() ? "a " : " or a ") + std::string(array_name(d));
  return s + ", or a DeviceTensor of that dtype";
}

void check_length(Napi::Env env, const Operand& op, const char* key, size_t n) {
  if (op.present) check_token_length(env, op.length, key, n);
}

// Reads and checks one operand; a host array is taken by take_host (an input or an output).
template <typename TakeHost>
Operand read_operand(Napi::Env env, Napi::Value value, const char* key, std::initializer_list<DType> dtypes, bool required,
                     CallOperands& owner, TakeHost take_host) {
  Operand op;
  if (value.IsUndefined() || value.IsNull()) {
    if (required) throw_type(env, std::string(key) + " is required and must be " + allowed(dtypes));
    return op;
  }
  DeviceBuffer buffer;
  const bool tensor = device_tensor_of(env, value, key, &buffer);
  DType dtype = buffer.dtype;
  if (!tensor && (!value.IsTypedArray() || !dtype_of_typed_array(value.As<Napi::TypedArray>().TypedArrayType(), &dtype)))
    throw_type(env, std::string(key) + " must be " + allowed(dtypes));
  if (std::find(dtypes.begin(), dtypes.end(), dtype) == dtypes.end())
    throw_type(env, std::string(key) + " must be " + allowed(dtypes));
  op.present = true;
  op.dtype = dtype;
  if (tensor) {
    // Used in place; held so that dispose() cannot free it under the kernel.
    owner.tensors.emplace_back(value.As<Napi::Object>());
    op.on_device = true;
    op.ptr = buffer.ptr;
    op.length = buffer.length;
  } else {
    // typed_array_view reads SharedArrayBuffers too and refuses detached buffers.
    const View<uint8_t> view = typed_array_view<uint8_t>(env, value.As<Napi::TypedArray>(), key);
    op.length = view.length;
    op.ptr = take_host(view, view.length * dtype_bytes(dtype));
  }
  return op;
}

}  // namespace

Operand operand(Napi::Env env, Napi::Value value, const char* key, std::initializer_list<DType> dtypes, bool required,
                CallOperands& owner) {
  return read_operand(env, value, key, dtypes, required, owner, [&](const View<uint8_t>& view, size_t bytes) {
    return owner.arrays.input_bytes(view.array, view.data, bytes, view.shared, key);
  });
}

Operand output_operand(Napi::Env env, Napi::Value value, const char* key, std::initializer_list<DType> dtypes,
                       CallOperands& owner) {
  return read_operand(env, value, key, dtypes, false, owner, [&](const View<uint8_t>& view, size_t bytes) {
    return static_cast<const void*>(owner.arrays.output_bytes(view.array, view.data, bytes, view.shared, key));
  });
}

bool any_device_tensor(Napi::Env env, Napi::Object args, std::initializer_list<const char*> keys) {
  DeviceBuffer buffer;
  for (const char* key : keys)
    if (device_tensor_of(env, args.Get(key), key, &buffer)) return true;
  return false;
}

void parse_common(Napi::Env env, Napi::Object args, bool need_tokens, CommonCall& call) {
  CallOperands& owner = call.operands;
  auto read = [&](const char* key, DType dtype, bool required) {
    return operand(env, args.Get(key), key, {dtype}, required, owner);
  };
  call.old_logprobs = read("oldLogprobs", DType::F32, true);
  call.advantages = read("advantages", DType::F32, true);
  call.mask = read("mask", DType::U8, true);
  call.tokens = read("tokens", DType::I32, false);
  call.seq_ids = read("seqIds", DType::I32, false);
  Operand ref_logprobs = read("refLogprobs", DType::F32, false);
  const size_t n = call.n = call.old_logprobs.length;
  check_length(env, call.advantages, "advantages", n);
  check_length(env, call.mask, "mask", n);
  check_length(env, call.tokens, "tokens", n);
  check_length(env, call.seq_ids, "seqIds", n);
  check_length(env, ref_logprobs, "refLogprobs", n);
  parse_loss_options(env, args, ref_logprobs.present, call.seq_ids.present, call.options);
  if (call.options.kl_coef > 0) call.ref_logprobs = ref_logprobs;
  if (need_tokens && !call.tokens.present) throw_type(env, "tokens (Int32Array) is required with logits");

  call.logprobs = Napi::Persistent(Napi::Float32Array::New(env, n));
  if (call.options.entropy && need_tokens) call.entropy = Napi::Persistent(Napi::Float32Array::New(env, n));
}

void options_to_abi(const LossOptions& options, dapo_cuda_loss_common& c) {
  c.clip_low = options.clip.clip_low;
  c.clip_high = options.clip.clip_high;
  c.clip_c = options.clip.clip_c;
  c.use_dual_clip = options.clip.use_dual_clip ? 1 : 0;
  c.aggregation = options.aggregation.mode == Aggregation::TokenMean          ? DAPO_CUDA_TOKEN_MEAN
                  : options.aggregation.mode == Aggregation::SeqMeanTokenMean ? DAPO_CUDA_SEQ_MEAN_TOKEN_MEAN
                                                                              : DAPO_CUDA_SEQ_MEAN_TOKEN_SUM;
  c.token_count = options.aggregation.token_count;
  c.seq_count = options.aggregation.seq_count;
  c.kl_coef = options.kl_coef > 0 ? options.kl_coef : 0.0;
}

dapo_cuda_loss_common to_abi(const CommonCall& call) {
  dapo_cuda_loss_common c{};
  c.n = call.n;
  c.tokens = call.tokens.in();
  c.old_logprobs = call.old_logprobs.in();
  c.advantages = call.advantages.in();
  c.mask = call.mask.in();
  c.seq_ids = call.seq_ids.in();
  options_to_abi(call.options, c);
  c.entropy = call.entropy.IsEmpty() ? 0 : 1;
  c.ref_logprobs = call.ref_logprobs.in();
  c.logprobs_out = dapo_cuda_out{call.logprobs.Value().Data(), 0};
  c.entropy_out = dapo_cuda_out{call.entropy.IsEmpty() ? nullptr : call.entropy.Value().Data(), 0};
  return c;
}

Napi::Object stats_object(Napi::Env env, const dapo_cuda_loss_stats& s) { return loss_stats_object(env, loss_stats_of(s)); }

namespace {

// One dapoLoss call on CUDA, gathered on the main thread.
struct CudaLossCall {
  std::unique_ptr<LossCall> host;  // typed arrays only: checked by parse_loss_call
  CommonCall common;               // with DeviceTensors
  dapo_cuda_loss_args args{};
  Napi::Reference<Napi::Value> grad;
};

constexpr std::initializer_list<const char*> kLossArrayKeys = {
    "logits", "logprobs", "tokens", "oldLogprobs", "advantages", "mask", "seqIds", "refLogprobs", "gradOut"};

// Typed arrays only: exactly the CPU's parsing (parse_loss_call), so the same checks, messages
// and ownership (an async call copies arrays over an ArrayBuffer; see CallArrays).
void parse_host_loss(const Napi::CallbackInfo& info, bool async, CudaLossCall& call) {
  call.host = parse_loss_call(info, async);
  const LossInputs& in = call.host->inputs;
  const LossOutputs& out = call.host->outputs;
  dapo_cuda_loss_args& a = call.args;
  options_to_abi(call.host->options, a.common);
  a.common.n = in.n;
  a.common.tokens = dapo_cuda_in{in.tokens, 0};
  a.common.old_logprobs = dapo_cuda_in{in.old_logprobs, 0};
  a.common.advantages = dapo_cuda_in{in.advantages, 0};
  a.common.mask = dapo_cuda_in{in.mask, 0};
  a.common.seq_ids = dapo_cuda_in{in.seq_ids, 0};
  a.common.ref_logprobs = dapo_cuda_in{in.ref_logprobs, 0};  // set only with klCoef > 0
  if (!in.ref_logprobs) a.common.kl_coef = 0.0;
  a.common.entropy = out.entropy ? 1 : 0;
  a.common.logprobs_out = dapo_cuda_out{out.logprobs, 0};
  a.common.entropy_out = dapo_cuda_out{out.entropy, 0};
  a.vocab = in.vocab;
  a.logits_dtype = in.logits_f32 ? DAPO_CUDA_F32 : in.logits_bf16 ? DAPO_CUDA_BF16 : 0;
  a.logits = dapo_cuda_in{in.logits_f32 ? static_cast<const void*>(in.logits_f32) : in.logits_bf16, 0};
  a.logprobs = dapo_cuda_in{in.logprobs, 0};
  a.grad = dapo_cuda_out{out.grad, 0};
  a.grad_dtype = DAPO_CUDA_F32;
}

// Where the gradient goes: over the logits (inPlace), into gradOut, else a new DeviceTensor
// (device logits or log-probs) or Float32Array.
void parse_grad_output(Napi::Env env, Napi::Object args, Napi::Value logits_value, const Operand& logits,
                       const Operand& logprobs, size_t grad_length, CudaLossCall& call) {
  dapo_cuda_loss_args& a = call.args;
  CallOperands& owner = call.common.operands;
  const bool in_place = boolean(args, "inPlace").value_or(false);
  Napi::Value grad_out_value = args.Get("gradOut");
  const Operand grad_out = output_operand(env, grad_out_value, "gradOut", {DType::F32}, owner);
  if (in_place) {
    if (!logits.present || !logits.on_device) throw_type(env, "inPlace needs logits as a DeviceTensor");
    if (grad_out.present) throw_type(env, "pass either inPlace or gradOut, not both");
    a.grad = dapo_cuda_out{const_cast<void*>(logits.ptr), 1};
    a.grad_dtype = a.logits_dtype;
    call.grad = Napi::Persistent(logits_value);
  } else if (grad_out.present) {
    check_grad_out_length(env, grad_out.length, grad_length);
    a.grad = dapo_cuda_out{const_cast<void*>(grad_out.ptr), grad_out.on_device ? 1 : 0};
    call.grad = Napi::Persistent(grad_out_value);
  } else if (logits.on_device || logprobs.on_device) {
    DeviceBuffer buffer;
    call.grad = Napi::Persistent(Napi::Value(new_device_tensor(env, DType::F32, grad_length, &buffer)));
    a.grad = dapo_cuda_out{buffer.ptr, 1};
  } else {
    Napi::Float32Array g = Napi::Float32Array::New(env, grad_length);
    call.grad = Napi::Persistent(Napi::Value(g));
    a.grad = dapo_cuda_out{g.Data(), 0};
  }
}

// Some array is a DeviceTensor: operands held in place, typed arrays owned as parse_loss_call
// owns them, the same checks in the same order with the same messages.
void parse_device_loss(Napi::Env env, Napi::Object args, bool async, CudaLossCall& call) {
  CommonCall& c = call.common;
  dapo_cuda_loss_args& a = call.args;
  c.operands.arrays.set_async(async);
  Napi::Value logits_value = args.Get("logits");
  const Operand logits = operand(env, logits_value, "logits", {DType::F32, DType::BF16}, false, c.operands);
  const Operand logprobs = operand(env, args.Get("logprobs"), "logprobs", {DType::F32}, false, c.operands);
  parse_common(env, args, logits.present, c);
  if (logits.present == logprobs.present)
    throw_type(env, logits.present ? "pass either logits or logprobs, not both" : "logits or logprobs is required");
  check_length(env, logprobs, "logprobs", c.n);
  size_t grad_length = c.n;
  if (logits.present) {
    auto vocab = integer(args, "vocabSize", 1);
    if (!vocab) throw_type(env, "vocabSize is required with logits");
    a.vocab = *vocab;
    grad_length = check_logits_length(env, logits.length, c.n, a.vocab);
    a.logits_dtype = logits.dtype == DType::F32 ? DAPO_CUDA_F32 : DAPO_CUDA_BF16;
    a.logits = logits.in();
  } else {
    a.logprobs = logprobs.in();
  }
  a.common = to_abi(c);
  a.grad_dtype = DAPO_CUDA_F32;
  parse_grad_output(env, args, logits_value, logits, logprobs, grad_length, call);
  if (!async) c.operands.arrays.recheck(env);
}

// async: the module runs after control returns to JavaScript, so typed arrays over an
// ArrayBuffer are copied now (CallArrays) and DeviceTensors held (DeviceTensorHold).
std::unique_ptr<CudaLossCall> parse_cuda_loss(const Napi::CallbackInfo& info, bool async) {
  Napi::Env env = info.Env();
  auto call = std::make_unique<CudaLossCall>();
  Napi::Object args = require_object(info, 0, "dapoLoss options");
  if (any_device_tensor(env, args, kLossArrayKeys)) {
    parse_device_loss(env, args, async, *call);
  } else {
    if (boolean(args, "inPlace").value_or(false)) throw_type(env, "inPlace needs logits as a DeviceTensor");
    parse_host_loss(info, async, *call);
  }
  return call;
}

Napi::Object cuda_loss_result(Napi::Env env, CudaLossCall& call, const dapo_cuda_loss_stats& s) {
  Napi::Object result;
  if (call.host) {
    result = result_object(env, *call.host, loss_stats_of(s));  // copies an async call's gradient into gradOut
  } else {
    call.common.operands.arrays.finish(env);
    result = Napi::Object::New(env);
    result.Set("loss", s.loss);
    result.Set("grad", call.grad.Value());
    result.Set("logprobs", call.common.logprobs.Value());
    if (!call.common.entropy.IsEmpty()) result.Set("entropy", call.common.entropy.Value());
    result.Set("stats", stats_object(env, s));
  }
  result.Set("kernelMs", s.kernel_ms);
  return result;
}

// Arguments first, then the module: a bad argument is the same error with or without a device.
Napi::Value CudaDapoLoss(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    auto call = parse_cuda_loss(info, false);
    const CudaModule& cuda = require_cuda();
    dapo_cuda_loss_stats stats{};
    char message[1024] = {0};
    check_cuda(cuda.dapo_loss(&call->args, &stats, message, sizeof message), message);
    return cuda_loss_result(env, *call, stats);
  });
}

// The job owns the call (its copies, its holds) until the Promise settles, on the main thread.
Napi::Value CudaDapoLossAsync(const Napi::CallbackInfo& info) {
  return queue_cuda_loss(info.Env(), "cudaDapoLossAsync", [&] {
    std::shared_ptr<CudaLossCall> call = parse_cuda_loss(info, true);
    const CudaModule& cuda = require_cuda();
    return CudaLossJob{[&cuda, call](dapo_cuda_loss_stats* stats, char* message, size_t size) {
                         return cuda.dapo_loss(&call->args, stats, message, size);
                       },
                       [call](Napi::Env env, const dapo_cuda_loss_stats& stats) { return cuda_loss_result(env, *call, stats); }};
  });
}

// groupAdvantages' checks in its order; the options' getters run after rewards was read, so a
// typed array is checked again before use (CallArrays::recheck) and a DeviceTensor held.
Napi::Value CudaGroupAdvantages(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    CallOperands owner;
    const Operand rewards = operand(env, info[0], "rewards", {DType::F32}, false, owner);
    if (!rewards.present) throw_type(env, "rewards must be " + allowed({DType::F32}));
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
    owner.arrays.recheck(env);
    if (rewards.length % group_size != 0)
      throw_range(env, "rewards has length " + std::to_string(rewards.length) + ", not a multiple of groupSize " +
                           std::to_string(group_size));
    const CudaModule& cuda = require_cuda();
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
    if (info.Length() < 1 || !info[0].IsNumber()) throw_type(env, "bytes must be a number");
    const size_t bytes = integer_value(env, info[0].As<Napi::Number>().DoubleValue(), "bytes", 1);
    size_t iterations = 20;
    if (info.Length() > 1 && !info[1].IsUndefined()) {
      if (!info[1].IsNumber()) throw_type(env, "iterations must be a number");
      iterations = integer_value(env, info[1].As<Napi::Number>().DoubleValue(), "iterations", 1);
      if (iterations > 1000000) throw_range(env, "iterations must be at most 1000000, got " + std::to_string(iterations));
    }
    const CudaModule& cuda = require_cuda();
    float ms = 0;
    char message[512] = {0};
    check_cuda(cuda.copy_bench(bytes, static_cast<int>(iterations), &ms, message, sizeof message), message);
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
