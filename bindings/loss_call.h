// Parsing of dapoLoss arguments into native views, and building its result object; shared by
// the CPU bindings and the CUDA ones so both check arguments the same way.
#pragma once
#include <memory>
#include <vector>

#include "bindings/args.h"
#include "loss/dapo_loss.h"

namespace dapo::bind {

// Everything one dapoLoss call needs, gathered on the main thread so the arithmetic can run
// on any thread. `arrays` keeps the caller's arrays valid while the call runs (see CallArrays:
// an async call copies arrays over an ArrayBuffer, which a transfer could free under it).
struct LossCall {
  LossInputs inputs;
  LossOptions options;
  LossOutputs outputs;
  CallArrays arrays;
  Napi::Reference<Napi::Float32Array> grad, logprobs, entropy;
};

// Checks every argument (TypeError / RangeError naming it) and allocates the outputs. `async`:
// the arithmetic runs after control returns to JavaScript (dapoLossAsync).
std::unique_ptr<LossCall> parse_loss_call(const Napi::CallbackInfo& info, bool async = false);
// The result object; for an async call, first copies the gradient into the caller's gradOut.
Napi::Object result_object(Napi::Env env, LossCall& call, const LossStats& stats);
// tokenCount and seqCount (integers >= 1) into the aggregation's divisors.
void parse_divisors(Napi::Object args, AggregationConfig& aggregation);
// The options every dapoLoss backend takes: clipLow / clipHigh / clipC, klCoef (needs
// refLogprobs), aggregation with tokenCount / seqCount (the seq-mean modes need seqIds), entropy.
void parse_loss_options(Napi::Env env, Napi::Object args, bool has_ref_logprobs, bool has_seq_ids, LossOptions& options);
// Length checks whose messages every backend shares: a per-token array against N, the logits
// against N * vocabSize (computed without wrapping), gradOut against the gradient's length.
void check_token_length(Napi::Env env, size_t length, const char* key, size_t n);
size_t check_logits_length(Napi::Env env, size_t length, size_t n, size_t vocab);
void check_grad_out_length(Napi::Env env, size_t length, size_t expected);
// The `stats` member of a loss result (the same keys from every backend).
Napi::Object loss_stats_object(Napi::Env env, const LossStats& stats);

}  // namespace dapo::bind
