#include "bindings/policy_call.h"

#include <algorithm>
#include <cfloat>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "bindings/loss_call.h"
#include "common/bf16.h"
#include "common/checked.h"
#include "model/sampler.h"

namespace dapo::bind {

TokenOutputs token_outputs(Napi::Env env, size_t targets, bool want_entropy) {
  Napi::Float32Array lp = Napi::Float32Array::New(env, targets);
  Napi::Float32Array ent = Napi::Float32Array::New(env, want_entropy ? targets : 0);
  auto refs = std::make_shared<KeepAlive>();
  refs->push_back(Napi::Persistent(Napi::Value(lp)));
  refs->push_back(Napi::Persistent(Napi::Value(ent)));
  return TokenOutputs{refs, lp.Data(), want_entropy ? ent.Data() : nullptr};
}

size_t size_arg(Napi::Env env, Napi::Object obj, const char* key, bool required, size_t fallback) {
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

Job::Job(Napi::Env env, const char* name, Napi::Object owner, std::atomic<bool>* busy, std::function<void()> work,
         std::function<Napi::Value(Napi::Env)> done)
    : Napi::AsyncWorker(env, name),
      deferred_(Napi::Promise::Deferred::New(env)),
      owner_(Napi::Persistent(owner)),
      busy_(busy),
      work_(std::move(work)),
      done_(std::move(done)) {}

void Job::Execute() {
  try {
    work_();
  } catch (...) {
    error_ = std::current_exception();
  }
}

void Job::OnOK() {
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

void require_ready(Napi::Env env, bool disposed, bool busy) {
  if (disposed) throw make_error(env, ErrorKind::Runtime, "ERR_DAPO_DISPOSED", "the policy has been disposed");
  if (busy)
    throw make_error(env, ErrorKind::Runtime, "ERR_DAPO_BUSY", "the policy is busy with another call; await it first");
}

Napi::Value queue_job(Napi::Env env, std::atomic<bool>& busy, const std::function<std::unique_ptr<Job>()>& make) {
  std::unique_ptr<Job> job;
  try {
    job = make();
  } catch (const Napi::Error& err) {
    auto d = Napi::Promise::Deferred::New(env);
    d.Reject(with_code(err).Value());
    return d.Promise();
  } catch (const std::exception& err) {
    auto d = Napi::Promise::Deferred::New(env);
    d.Reject(to_js_error(env, err).Value());
    return d.Promise();
  }
  busy.store(true);
  Napi::Promise p = job->promise();
  job.release()->Queue();
  return p;
}

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

double checked_temperature(Napi::Env env, double t, bool allow_greedy) {
  if (allow_greedy && t == 0) return t;
  if (!(t >= kMinTemperature) || !std::isfinite(t))
    throw_range(env, std::string("temperature must be ") + (allow_greedy ? "0 (greedy) or " : "") + "a finite number >= " +
                         shown(kMinTemperature) + ", got " + shown(t));
  return t;
}

double logit_temperature(Napi::Env env, Napi::Object o) {
  return checked_temperature(env, number(o, "temperature").value_or(1.0), false);
}

std::shared_ptr<ForwardLogitsCall> parse_forward_logits(const Napi::CallbackInfo& info, const ModelConfig& config) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
    throw_type(env, "ids must be an Int32Array");
  auto call = std::make_shared<ForwardLogitsCall>();
  const View<int32_t> ids = typed_array_view<int32_t>(env, info[0].As<Napi::TypedArray>(), "ids");
  call->t = ids.length;
  if (call->t == 0) throw_range(env, "ids must not be empty");
  call->ids = call->arrays.input(ids, "ids");
  // Past INT32_MAX ids the end offset is clamped; count_targets then refuses the length.
  const int32_t offsets[2] = {0, static_cast<int32_t>(std::min<size_t>(call->t, INT32_MAX))};
  PackedBatch b;
  b.tokens = call->ids;
  b.n_tokens = call->t;
  b.offsets = offsets;
  b.n_seqs = 1;
  count_targets(config, b);  // range checks on the main thread
  Napi::Float32Array out = Napi::Float32Array::New(env, checked_mul(call->t, config.vocab, "ids.length * vocabSize"));
  call->logits = out.Data();
  call->result = Napi::Persistent(Napi::Value(out));
  return call;
}

LogprobsCall parse_logprobs(const Napi::CallbackInfo& info, const ModelConfig& config) {
  Napi::Env env = info.Env();
  LogprobsCall call;
  call.args = parse_batch(env, require_object(info, 0, "batch"));
  if (info.Length() > 1 && !info[1].IsUndefined()) {
    Napi::Object opts = require_object(info, 1, "logprobs options");
    call.want_entropy = boolean(opts, "entropy").value_or(false);
    call.temperature = logit_temperature(env, opts);
  }
  call.outputs = token_outputs(env, count_targets(config, call.args->batch), call.want_entropy);
  return call;
}

Napi::Value logprobs_result(Napi::Env env, const LogprobsCall& call) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("logprobs", (*call.outputs.refs)[0].Value());
  if (call.want_entropy) o.Set("entropy", (*call.outputs.refs)[1].Value());
  return o;
}

Napi::Array params_array(Napi::Env env, const std::vector<ParamInfo>& params) {
  Napi::Array out = Napi::Array::New(env, params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    const ParamInfo& p = params[i];
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
}

size_t param_index(const Napi::CallbackInfo& info, size_t count) {
  if (info.Length() < 1 || !info[0].IsNumber()) throw_type(info.Env(), "index must be a number");
  const double i = info[0].As<Napi::Number>().DoubleValue();
  if (!(i >= 0) || i >= static_cast<double>(count) || i != static_cast<double>(static_cast<size_t>(i)))
    throw_range(info.Env(), "index must be an integer in [0, " + std::to_string(count) + ")");
  return static_cast<size_t>(i);
}

InitRandomArgs parse_init_random(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber()) throw_type(env, "initRandom(seed, std) takes two numbers");
  const double seed = info[0].As<Napi::Number>().DoubleValue();
  const double sd = info[1].As<Napi::Number>().DoubleValue();
  if (!(seed >= 0) || seed > 9007199254740991.0) throw_range(env, "seed must be an integer in [0, 2^53)");
  // Beyond 1e37 the normal draws themselves overflow float32.
  if (!(sd > 0 && sd <= 1e37)) throw_range(env, "std must be in (0, 1e37], got " + shown(sd));
  return InitRandomArgs{static_cast<uint64_t>(seed), static_cast<float>(sd)};
}

namespace {

// Bytes of a Float32Array, Uint16Array or Uint8Array (SharedArrayBuffer or not), as a Uint8 view.
View<uint8_t> byte_view(Napi::Env env, Napi::TypedArray array, const char* key) {
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

float half_to_float(uint16_t h) {
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

}  // namespace

void require_finite(Napi::Env env, const float* x, size_t n, const std::string& name) {
  for (size_t i = 0; i < n; ++i)
    if (!std::isfinite(x[i]))
      throw make_error(env, ErrorKind::Range, "ERR_DAPO_NONFINITE",
                       name + " holds a non-finite value (" + shown(x[i]) + ") at flat index " + std::to_string(i));
}

std::vector<float> parse_param_values(const Napi::CallbackInfo& info, const ParamInfo& p) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[1].IsTypedArray() || !info[2].IsString())
    throw_type(env, "setParam(index, data: Uint8Array | Float32Array, dtype: string)");
  const std::string dtype = info[2].As<Napi::String>().Utf8Value();
  const size_t width = dtype == "F32" ? 4 : (dtype == "BF16" || dtype == "F16") ? 2 : 0;
  if (!width) throw_range(env, "dtype must be 'F32', 'BF16' or 'F16', got '" + dtype + "'");
  const View<uint8_t> arr = byte_view(env, info[1].As<Napi::TypedArray>(), "data");
  if (arr.length != p.size * width)
    throw_range(env, p.name + ": got " + std::to_string(arr.length) + " bytes of " + dtype + ", expected " +
                         std::to_string(p.size) + " values (" + std::to_string(p.size * width) + " bytes)");
  std::vector<float> values(p.size);
  if (width == 4) {
    std::memcpy(values.data(), arr.data, arr.length);
  } else {
    for (size_t i = 0; i < p.size; ++i) {
      uint16_t bits;
      std::memcpy(&bits, arr.data + 2 * i, 2);
      values[i] = dtype == "BF16" ? bf16_to_float(bits) : half_to_float(bits);
    }
  }
  require_finite(env, values.data(), values.size(), p.name);
  return values;
}

std::string param_dtype(const Napi::CallbackInfo& info, size_t index) {
  return info.Length() > index && info[index].IsString() ? info[index].As<Napi::String>().Utf8Value() : "F32";
}

Napi::Value param_array(Napi::Env env, const float* src, size_t n, const std::string& dtype) {
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

char parse_moment(const Napi::CallbackInfo& info) {
  if (info.Length() < 2 || !info[1].IsString()) throw_type(info.Env(), "moment must be 'm' or 'v'");
  const std::string which = info[1].As<Napi::String>().Utf8Value();
  if (which == "m" || which == "v") return which[0];
  throw_range(info.Env(), "moment must be 'm' or 'v', got '" + which + "'");
}

const float* parse_moment_state(const Napi::CallbackInfo& info, const ParamInfo& p) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[2].IsTypedArray() || info[2].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throw_type(env, "state must be a Float32Array");
  const View<float> a = typed_array_view<float>(env, info[2].As<Napi::TypedArray>(), "state");
  if (a.length != p.size)
    throw_range(env, p.name + ": optimizer state has " + std::to_string(a.length) + " values, expected " +
                         std::to_string(p.size));
  require_finite(env, a.data, a.length, p.name + " (optimizer state)");
  return a.data;
}

uint64_t parse_steps(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) throw_type(env, "steps must be a number");
  const double s = info[0].As<Napi::Number>().DoubleValue();
  if (!(s >= 0) || s != static_cast<double>(static_cast<uint64_t>(s))) throw_range(env, "steps must be a non-negative integer");
  return static_cast<uint64_t>(s);
}

namespace {

LossOptions parse_dapo_options(Napi::Env env, Napi::Object lo) {
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
  return opts;
}

}  // namespace

AccumulateCall parse_accumulate(Napi::Env env, Napi::Object bo, Napi::Object lo, size_t targets, CallArrays& arrays) {
  AccumulateCall call;
  auto kind = string(lo, "kind");
  if (!kind || (*kind != "dapo" && *kind != "nll")) throw_type(env, "loss.kind must be 'dapo' or 'nll'");
  auto mask = typed_array<uint8_t>(bo, "mask", napi_uint8_array, "Uint8Array", false);
  auto check_len = [&](size_t len, const char* key) {
    if (len != targets)
      throw_range(env, std::string(key) + " has length " + std::to_string(len) + " but the batch has " +
                           std::to_string(targets) + " target tokens");
  };
  if (mask) {
    check_len(mask->length, "mask");
    call.mask = arrays.input(*mask, "mask");
  }
  call.want_entropy = boolean(lo, "entropy").value_or(false);
  call.outputs = token_outputs(env, targets, call.want_entropy);
  if (*kind == "nll") {
    call.nll = true;
    AggregationConfig divisors;
    parse_divisors(lo, divisors);
    call.token_count = divisors.token_count;
    return call;
  }
  auto old_lp = typed_array<float>(bo, "oldLogprobs", napi_float32_array, "Float32Array", true);
  auto adv = typed_array<float>(bo, "advantages", napi_float32_array, "Float32Array", true);
  check_len(old_lp->length, "oldLogprobs");
  check_len(adv->length, "advantages");
  call.options = parse_dapo_options(env, lo);
  auto ref = typed_array<float>(bo, "refLogprobs", napi_float32_array, "Float32Array", false);
  if (auto kl = number(lo, "klCoef")) {
    if (*kl < 0) throw_range(env, "klCoef must be >= 0, got " + std::to_string(*kl));
    call.options.kl_coef = static_cast<float>(*kl);
  }
  if (call.options.kl_coef > 0 && !ref) throw_type(env, "refLogprobs (Float32Array) is required when klCoef > 0");
  if (ref) check_len(ref->length, "refLogprobs");
  call.ref_logprobs = ref && call.options.kl_coef > 0 ? arrays.input(*ref, "refLogprobs") : nullptr;
  call.old_logprobs = arrays.input(*old_lp, "oldLogprobs");
  call.advantages = arrays.input(*adv, "advantages");
  call.temperature = logit_temperature(env, lo);
  return call;
}

Napi::Value accumulate_result(Napi::Env env, const AccumulateCall& call, const LossStats& stats) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("loss", stats.loss);
  o.Set("tokens", static_cast<double>(stats.tokens));
  o.Set("logprobs", (*call.outputs.refs)[0].Value());
  if (call.want_entropy) o.Set("entropy", (*call.outputs.refs)[1].Value());
  o.Set("stats", loss_stats_object(env, stats));
  return o;
}

AdamWOptions parse_step(Napi::Env env, Napi::Object o) {
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
  return opt;
}

Napi::Value step_result(Napi::Env env, const AdamWStats& stats) {
  Napi::Object r = Napi::Object::New(env);
  r.Set("gradNorm", stats.grad_norm);
  r.Set("clipped", stats.clipped);
  r.Set("step", static_cast<double>(stats.step));
  return r;
}

std::shared_ptr<GenerateCall> parse_generate(Napi::Env env, Napi::Object o) {
  auto call = std::make_shared<GenerateCall>();
  CallArrays& held = call->arrays;
  // Each array is copied as soon as it is read: a getter of a later key could detach it.
  auto toks = typed_array<int32_t>(o, "promptTokens", napi_int32_array, "Int32Array", true);
  const int32_t* tokens = held.input(*toks, "promptTokens");
  auto offs = typed_array<int32_t>(o, "promptOffsets", napi_int32_array, "Int32Array", true);
  const int32_t* offsets = held.input(*offs, "promptOffsets");
  auto stop = typed_array<int32_t>(o, "stop", napi_int32_array, "Int32Array", false);
  const int32_t* stops = stop ? held.input(*stop, "stop") : nullptr;
  if (offs->length < 2) throw_range(env, "prompts must hold at least one prompt");
  const size_t np = offs->length - 1;
  if (offsets[0] != 0) throw_range(env, "promptOffsets must start at 0");
  if (static_cast<size_t>(offsets[np]) != toks->length) throw_range(env, "promptOffsets must end at promptTokens.length");
  for (size_t i = 0; i < np; ++i)
    if (offsets[i + 1] < offsets[i]) throw_range(env, "promptOffsets must not decrease");
  GenerateArgs& g = call->args;
  std::vector<uint64_t>& prompt_ids = call->prompt_ids;
  prompt_ids.assign(np, 0);
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
      prompt_ids[i] = static_cast<uint64_t>(d);
    }
  } else {
    for (size_t i = 0; i < np; ++i) prompt_ids[i] = i;
  }
  g.prompt_tokens = tokens;
  g.prompt_offsets = offsets;
  g.n_prompts = np;
  g.prompt_ids = prompt_ids.data();
  g.n = size_arg(env, o, "n", false, 1);
  if (g.n < 1) throw_range(env, "n must be >= 1");
  g.max_new_tokens = size_arg(env, o, "maxNewTokens", true);
  g.sampling.temperature = checked_temperature(env, number(o, "temperature").value_or(1.0), true);
  g.sampling.top_p = number(o, "topP").value_or(1.0);
  if (!(g.sampling.top_p > 0 && g.sampling.top_p <= 1)) throw_range(env, "topP must be in (0, 1]");
  g.sampling.top_k = size_arg(env, o, "topK", false, 0);
  const double seed = number(o, "seed").value_or(0);
  if (!(seed >= 0) || seed > 9007199254740991.0 || seed != static_cast<double>(static_cast<uint64_t>(seed)))
    throw_range(env, "seed must be an integer in [0, 2^53)");
  g.seed = static_cast<uint64_t>(seed);
  if (stop) {
    g.stop = stops;
    g.n_stop = stop->length;
  }
  return call;
}

Napi::Value generate_result(Napi::Env env, const GenerateResult& result) {
  Napi::Object r = Napi::Object::New(env);
  Napi::Int32Array t = Napi::Int32Array::New(env, result.tokens.size());
  std::memcpy(t.Data(), result.tokens.data(), result.tokens.size() * 4);
  Napi::Float32Array lp = Napi::Float32Array::New(env, result.logprobs.size());
  std::memcpy(lp.Data(), result.logprobs.data(), result.logprobs.size() * 4);
  Napi::Int32Array off = Napi::Int32Array::New(env, result.offsets.size());
  std::memcpy(off.Data(), result.offsets.data(), result.offsets.size() * 4);
  Napi::Uint8Array fin = Napi::Uint8Array::New(env, result.finished.size());
  std::memcpy(fin.Data(), result.finished.data(), result.finished.size());
  r.Set("tokens", t);
  r.Set("logprobs", lp);
  r.Set("offsets", off);
  r.Set("finished", fin);
  return r;
}

}  // namespace dapo::bind
