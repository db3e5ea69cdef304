// dapoLossFromHidden (CPU twin, native/loss/dapo_loss_hidden.cc) and cudaDapoLossFromHidden
// (native/cuda/dapo_loss_hidden.cu): the LM-head loss from hidden states and the head weight.
// Both parse the same arguments; only CUDA accepts DeviceTensors and needs bfloat16.
#include <memory>

#include "bindings/cuda_bindings.h"
#include "bindings/loss_call.h"
#include "common/checked.h"
#include "loss/dapo_loss_hidden.h"

namespace dapo::bind {
namespace {

constexpr std::initializer_list<const char*> kArrayKeys = {"hidden", "weight", "tokens", "oldLogprobs",
                                                           "advantages", "mask", "seqIds", "refLogprobs"};

struct HiddenCall {
  CommonCall common;
  Operand hidden, weight;
  size_t h = 0, v = 0, chunk = 0, max_chunk_bytes = 0;
  Napi::Reference<Napi::Value> grad_hidden, grad_weight;
  float* grad_hidden_host = nullptr;
  float* grad_weight_host = nullptr;
};

size_t required_count(Napi::Env env, Napi::Object args, const char* key) {
  auto value = integer(args, key, 1);
  if (!value) throw_type(env, std::string(key) + " is required");
  return *value;
}

// Shapes and chunking, after the arrays: hiddenSize, vocabSize, chunkSize, maxChunkBytes.
void parse_hidden_shape(Napi::Env env, Napi::Object args, bool cuda, HiddenCall& call) {
  const CommonCall& c = call.common;
  call.h = required_count(env, args, "hiddenSize");
  call.v = required_count(env, args, "vocabSize");
  if (call.hidden.dtype != call.weight.dtype) throw_type(env, "hidden and weight must have the same dtype");
  if (cuda && call.hidden.dtype != DType::BF16)
    throw_type(env, "on CUDA, hidden and weight must be bfloat16 (Uint16Array or a 'bfloat16' DeviceTensor)");
  // Checked: a product past size_t would wrap to a small number a short array matches.
  if (call.hidden.length != checked_mul(c.n, call.h, "N * hiddenSize"))
    throw_range(env, "hidden has length " + std::to_string(call.hidden.length) + ", expected N * hiddenSize = " +
                         std::to_string(c.n) + " * " + std::to_string(call.h));
  if (call.weight.length != checked_mul(call.v, call.h, "vocabSize * hiddenSize"))
    throw_range(env, "weight has length " + std::to_string(call.weight.length) + ", expected vocabSize * hiddenSize = " +
                         std::to_string(call.v) + " * " + std::to_string(call.h));
  if (auto chunk = integer(args, "chunkSize", 1)) call.chunk = *chunk;
  if (auto bytes = integer(args, "maxChunkBytes", 1)) call.max_chunk_bytes = *bytes;
}

// Gradients live where their inputs live; fresh either way, so no JavaScript can reach them
// before the call returns.
void make_grad(Napi::Env env, const Operand& like, size_t length, Napi::Reference<Napi::Value>& ref, float*& out) {
  if (like.on_device) {
    DeviceBuffer buffer;
    ref = Napi::Persistent(Napi::Value(new_device_tensor(env, DType::F32, length, &buffer)));
    out = static_cast<float*>(buffer.ptr);
  } else {
    Napi::Float32Array array = Napi::Float32Array::New(env, length);
    ref = Napi::Persistent(Napi::Value(array));
    out = array.Data();
  }
}

// `cuda`: for the CUDA kernel (DeviceTensors allowed, bfloat16 only). `async`: the kernel runs
// after control returns to JavaScript, so typed arrays over an ArrayBuffer are copied now
// (CallArrays); a synchronous call checks them again after the last getter ran.
std::unique_ptr<HiddenCall> parse_hidden(const Napi::CallbackInfo& info, bool cuda, bool async) {
  Napi::Env env = info.Env();
  Napi::Object args = require_object(info, 0, "dapoLossFromHidden options");
  if (!cuda && any_device_tensor(env, args, kArrayKeys))
    throw_type(env, "DeviceTensor inputs need device: 'cuda'");
  auto call = std::make_unique<HiddenCall>();
  CommonCall& c = call->common;
  c.operands.arrays.set_async(async);
  call->hidden = operand(env, args.Get("hidden"), "hidden", {DType::BF16, DType::F32}, true, c.operands);
  call->weight = operand(env, args.Get("weight"), "weight", {DType::BF16, DType::F32}, true, c.operands);
  parse_common(env, args, true, c);
  parse_hidden_shape(env, args, cuda, *call);
  make_grad(env, call->hidden, c.n * call->h, call->grad_hidden, call->grad_hidden_host);
  make_grad(env, call->weight, call->v * call->h, call->grad_weight, call->grad_weight_host);
  if (!async) c.operands.arrays.recheck(env);
  return call;
}

Napi::Object hidden_result(Napi::Env env, HiddenCall& call, const LossStats& stats) {
  Napi::Object result = Napi::Object::New(env);
  result.Set("loss", stats.loss);
  result.Set("gradHidden", call.grad_hidden.Value());
  result.Set("gradWeight", call.grad_weight.Value());
  result.Set("logprobs", call.common.logprobs.Value());
  if (!call.common.entropy.IsEmpty()) result.Set("entropy", call.common.entropy.Value());
  result.Set("stats", loss_stats_object(env, stats));
  return result;
}

Napi::Value DapoLossFromHidden(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    auto call = parse_hidden(info, false, false);
    const CommonCall& c = call->common;
    HiddenLossInputs in;
    in.n = c.n;
    in.hidden = call->h;
    in.vocab = call->v;
    const bool f32 = call->hidden.dtype == DType::F32;
    in.hidden_f32 = f32 ? static_cast<const float*>(call->hidden.ptr) : nullptr;
    in.hidden_bf16 = f32 ? nullptr : static_cast<const uint16_t*>(call->hidden.ptr);
    in.weight_f32 = f32 ? static_cast<const float*>(call->weight.ptr) : nullptr;
    in.weight_bf16 = f32 ? nullptr : static_cast<const uint16_t*>(call->weight.ptr);
    in.tokens = static_cast<const int32_t*>(c.tokens.ptr);
    in.old_logprobs = static_cast<const float*>(c.old_logprobs.ptr);
    in.advantages = static_cast<const float*>(c.advantages.ptr);
    in.mask = static_cast<const uint8_t*>(c.mask.ptr);
    in.seq_ids = static_cast<const int32_t*>(c.seq_ids.ptr);
    in.ref_logprobs = static_cast<const float*>(c.ref_logprobs.ptr);  // set only with klCoef > 0
    if (call->chunk) in.vocab_chunk = call->chunk;
    HiddenLossOutputs out;
    out.grad_hidden = call->grad_hidden_host;
    out.grad_weight = call->grad_weight_host;
    out.logprobs = c.logprobs.Value().Data();
    out.entropy = c.entropy.IsEmpty() ? nullptr : c.entropy.Value().Data();
    return hidden_result(env, *call, dapo_loss_from_hidden(in, c.options, out));
  });
}

dapo_cuda_hidden_args hidden_abi(const HiddenCall& call) {
  dapo_cuda_hidden_args a{};
  a.common = to_abi(call.common);
  a.hidden = call.h;
  a.vocab = call.v;
  a.hidden_states = call.hidden.in();
  a.weight = call.weight.in();
  a.grad_hidden = dapo_cuda_out{call.grad_hidden_host, call.hidden.on_device ? 1 : 0};
  a.grad_weight = dapo_cuda_out{call.grad_weight_host, call.weight.on_device ? 1 : 0};
  a.chunk_rows = call.chunk;
  a.max_chunk_bytes = call.max_chunk_bytes;
  return a;
}

Napi::Object cuda_hidden_result(Napi::Env env, HiddenCall& call, const dapo_cuda_loss_stats& s) {
  Napi::Object result = hidden_result(env, call, loss_stats_of(s));
  result.Set("kernelMs", s.kernel_ms);
  result.Set("peakExtraBytes", static_cast<double>(s.peak_extra_bytes));
  return result;
}

Napi::Value CudaDapoLossFromHidden(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    auto call = parse_hidden(info, true, false);
    const CudaModule& cuda = require_cuda();  // after the arguments, as the CPU reports them
    const dapo_cuda_hidden_args args = hidden_abi(*call);
    dapo_cuda_loss_stats stats{};
    char message[1024] = {0};
    check_cuda(cuda.dapo_loss_hidden(&args, &stats, message, sizeof message), message);
    return cuda_hidden_result(env, *call, stats);
  });
}

Napi::Value CudaDapoLossFromHiddenAsync(const Napi::CallbackInfo& info) {
  return queue_cuda_loss(info.Env(), "cudaDapoLossFromHiddenAsync", [&] {
    std::shared_ptr<HiddenCall> call = parse_hidden(info, true, true);
    const CudaModule& cuda = require_cuda();
    auto args = std::make_shared<dapo_cuda_hidden_args>(hidden_abi(*call));
    return CudaLossJob{[&cuda, call, args](dapo_cuda_loss_stats* stats, char* message, size_t size) {
                         return cuda.dapo_loss_hidden(args.get(), stats, message, size);
                       },
                       [call](Napi::Env env, const dapo_cuda_loss_stats& stats) { return cuda_hidden_result(env, *call, stats); }};
  });
}

}  // namespace

void register_hidden_loss(Napi::Env env, Napi::Object exports) {
  exports.Set("dapoLossFromHidden", Napi::Function::New(env, DapoLossFromHidden, "dapoLossFromHidden"));
  exports.Set("cudaDapoLossFromHidden", Napi::Function::New(env, CudaDapoLossFromHidden, "cudaDapoLossFromHidden"));
  exports.Set("cudaDapoLossFromHiddenAsync",
              Napi::Function::New(env, CudaDapoLossFromHiddenAsync, "cudaDapoLossFromHiddenAsync"));
}

}  // namespace dapo::bind
