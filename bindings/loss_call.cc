#include "bindings/loss_call.h"

#include "common/checked.h"

namespace dapo::bind {
namespace {

Aggregation parse_aggregation(Napi::Env env, const std::optional<std::string>& name) {
  if (!name || *name == "token-mean") return Aggregation::TokenMean;
  if (*name == "seq-mean-token-mean") return Aggregation::SeqMeanTokenMean;
  if (*name == "seq-mean-token-sum") return Aggregation::SeqMeanTokenSum;
  throw_range(env, "aggregation must be 'token-mean', 'seq-mean-token-mean' or 'seq-mean-token-sum', got '" +
                       *name + "'");
}

template <typename T>
void check_length(Napi::Env env, const std::optional<View<T>>& view, const char* key, size_t n) {
  if (view) check_token_length(env, view->length, key, n);
}

void parse_clip(Napi::Env env, Napi::Object args, LossOptions& options) {
  options.clip.clip_low = static_cast<float>(number(args, "clipLow").value_or(0.2));
  options.clip.clip_high = static_cast<float>(number(args, "clipHigh").value_or(0.28));
  if (options.clip.clip_low < 0 || options.clip.clip_low >= 1)
    throw_range(env, "clipLow must be in [0, 1), got " + std::to_string(options.clip.clip_low));
  if (options.clip.clip_high < 0) throw_range(env, "clipHigh must be >= 0, got " + std::to_string(options.clip.clip_high));
  if (auto c = number(args, "clipC")) {
    if (*c <= 1) throw_range(env, "clipC must be greater than 1, got " + std::to_string(*c));
    options.clip.clip_c = static_cast<float>(*c);
    options.clip.use_dual_clip = true;
  }
}

}  // namespace

void parse_divisors(Napi::Object args, AggregationConfig& aggregation) {
  // Counts: a fraction such as 1e-300 would make every weight infinite.
  if (auto t = integer(args, "tokenCount", 1)) aggregation.token_count = static_cast<double>(*t);
  if (auto s = integer(args, "seqCount", 1)) aggregation.seq_count = static_cast<double>(*s);
}

void parse_loss_options(Napi::Env env, Napi::Object args, bool has_ref_logprobs, bool has_seq_ids, LossOptions& options) {
  parse_clip(env, args, options);
  if (auto kl = number(args, "klCoef")) {
    if (*kl < 0) throw_range(env, "klCoef must be >= 0, got " + std::to_string(*kl));
    if (*kl > 0 && !has_ref_logprobs) throw_type(env, "refLogprobs (Float32Array) is required when klCoef > 0");
    options.kl_coef = static_cast<float>(*kl);
  }
  options.aggregation.mode = parse_aggregation(env, string(args, "aggregation"));
  parse_divisors(args, options.aggregation);
  if (options.aggregation.mode != Aggregation::TokenMean && !has_seq_ids)
    throw_type(env, "seqIds (Int32Array) is required by the seq-mean aggregations");
  options.entropy = boolean(args, "entropy").value_or(false);
}

void check_token_length(Napi::Env env, size_t length, const char* key, size_t n) {
  if (length != n)
    throw_range(env, std::string(key) + " has length " + std::to_string(length) + " but oldLogprobs has N = " +
                         std::to_string(n));
}

size_t check_logits_length(Napi::Env env, size_t length, size_t n, size_t vocab) {
  // Checked: N * vocabSize past size_t would wrap to a small number a short array matches.
  if (length != checked_mul(n, vocab, "N * vocabSize"))
    throw_range(env, "logits has length " + std::to_string(length) + ", expected N * vocabSize = " + std::to_string(n) +
                         " * " + std::to_string(vocab));
  return length;
}

void check_grad_out_length(Napi::Env env, size_t length, size_t expected) {
  if (length != expected)
    throw_range(env, "gradOut has length " + std::to_string(length) + ", expected " + std::to_string(expected));
}

std::unique_ptr<LossCall> parse_loss_call(const Napi::CallbackInfo& info, bool async) {
  Napi::Env env = info.Env();
  Napi::Object args = require_object(info, 0, "dapoLoss options");
  auto call = std::make_unique<LossCall>();
  call->arrays.set_async(async);
  CallArrays& arrays = call->arrays;
  LossInputs& in = call->inputs;

  auto old_logprobs = typed_array<float>(args, "oldLogprobs", napi_float32_array, "Float32Array", true);
  auto advantages = typed_array<float>(args, "advantages", napi_float32_array, "Float32Array", true);
  auto mask = typed_array<uint8_t>(args, "mask", napi_uint8_array, "Uint8Array", true);
  auto logprobs = typed_array<float>(args, "logprobs", napi_float32_array, "Float32Array", false);
  auto tokens = typed_array<int32_t>(args, "tokens", napi_int32_array, "Int32Array", false);
  auto seq_ids = typed_array<int32_t>(args, "seqIds", napi_int32_array, "Int32Array", false);
  auto ref_logprobs = typed_array<float>(args, "refLogprobs", napi_float32_array, "Float32Array", false);
  const size_t n = old_logprobs->length;
  check_length(env, advantages, "advantages", n);
  check_length(env, mask, "mask", n);
  check_length(env, logprobs, "logprobs", n);
  check_length(env, tokens, "tokens", n);
  check_length(env, seq_ids, "seqIds", n);
  check_length(env, ref_logprobs, "refLogprobs", n);

  parse_loss_options(env, args, ref_logprobs.has_value(), seq_ids.has_value(), call->options);

  Napi::Value logits_value = args.Get("logits");
  const bool has_logits = !logits_value.IsUndefined() && !logits_value.IsNull();
  if (has_logits == static_cast<bool>(logprobs))
    throw_type(env, has_logits ? "pass either logits or logprobs, not both" : "logits or logprobs is required");

  size_t grad_length = n;
  if (has_logits) {
    if (!logits_value.IsTypedArray()) throw_type(env, "logits must be a Float32Array or a Uint16Array (bfloat16 bits)");
    auto kind = logits_value.As<Napi::TypedArray>().TypedArrayType();
    std::optional<View<float>> f32;
    std::optional<View<uint16_t>> bf16;
    if (kind == napi_float32_array) f32 = typed_array<float>(args, "logits", napi_float32_array, "Float32Array", true);
    else if (kind == napi_uint16_array) bf16 = typed_array<uint16_t>(args, "logits", napi_uint16_array, "Uint16Array", true);
    else throw_type(env, "logits must be a Float32Array or a Uint16Array (bfloat16 bits)");
    auto vocab = integer(args, "vocabSize", 1);
    if (!vocab) throw_type(env, "vocabSize is required with logits");
    if (!tokens) throw_type(env, "tokens (Int32Array) is required with logits");
    in.from_logits = true;
    in.vocab = *vocab;
    const size_t logits_length = check_logits_length(env, f32 ? f32->length : bf16->length, n, in.vocab);
    in.logits_f32 = f32 ? arrays.input(*f32, "logits") : nullptr;
    in.logits_bf16 = bf16 ? arrays.input(*bf16, "logits") : nullptr;
    grad_length = logits_length;
  }

  in.n = n;
  in.tokens = tokens ? arrays.input(*tokens, "tokens") : nullptr;
  in.logprobs = logprobs ? arrays.input(*logprobs, "logprobs") : nullptr;
  in.old_logprobs = arrays.input(*old_logprobs, "oldLogprobs");
  in.advantages = arrays.input(*advantages, "advantages");
  in.mask = arrays.input(*mask, "mask");
  in.seq_ids = seq_ids ? arrays.input(*seq_ids, "seqIds") : nullptr;
  in.ref_logprobs = ref_logprobs && call->options.kl_coef > 0 ? arrays.input(*ref_logprobs, "refLogprobs") : nullptr;

  // Outputs: the caller's gradOut when given (no allocation in a synchronous call), else fresh
  // arrays, which no JavaScript can reach before the call returns.
  auto grad_out = typed_array<float>(args, "gradOut", napi_float32_array, "Float32Array", false);
  if (grad_out) check_grad_out_length(env, grad_out->length, grad_length);
  Napi::Float32Array grad = grad_out ? grad_out->array.As<Napi::Float32Array>() : Napi::Float32Array::New(env, grad_length);
  Napi::Float32Array out_logprobs = Napi::Float32Array::New(env, n);
  call->outputs.grad = grad_out ? arrays.output(*grad_out, "gradOut") : grad.Data();
  call->outputs.logprobs = out_logprobs.Data();
  call->grad = Napi::Persistent(grad);
  call->logprobs = Napi::Persistent(out_logprobs);
  if (call->options.entropy && has_logits) {
    Napi::Float32Array entropy = Napi::Float32Array::New(env, n);
    call->outputs.entropy = entropy.Data();
    call->entropy = Napi::Persistent(entropy);
  }
  if (!async) arrays.recheck(env);
  return call;
}

Napi::Object result_object(Napi::Env env, LossCall& call, const LossStats& stats) {
  call.arrays.finish(env);
  Napi::Object result = Napi::Object::New(env);
  result.Set("loss", stats.loss);
  result.Set("grad", call.grad.Value());
  result.Set("logprobs", call.logprobs.Value());
  if (!call.entropy.IsEmpty()) result.Set("entropy", call.entropy.Value());
  result.Set("stats", loss_stats_object(env, stats));
  return result;
}

Napi::Object loss_stats_object(Napi::Env env, const LossStats& stats) {
  Napi::Object s = Napi::Object::New(env);
  s.Set("clipFracLow", stats.clip_frac_low);
  s.Set("clipFracHigh", stats.clip_frac_high);
  s.Set("clipFracDual", stats.clip_frac_dual);
  s.Set("approxKl", stats.approx_kl);
  s.Set("klRef", stats.kl_ref);
  s.Set("tokens", static_cast<double>(stats.tokens));
  return s;
}

}  // namespace dapo::bind
