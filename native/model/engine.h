// The CPU policy engine: a Llama / Qwen2 / Qwen3 decoder in fp32 with its gradients, AdamW
// state and KV-cache generation. Batches are packed: sequences back to back, causal attention
// inside each sequence, no padding.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "loss/dapo_loss.h"
#include "model/config.h"
#include "model/gemm.h"
#include "model/packed_batch.h"
#include "model/params.h"
#include "model/rope.h"
#include "model/sampler.h"
#include "optim/adamw.h"

namespace dapo {

struct AccumulateResult {
  LossStats stats;  // loss (already weighted), clip fractions, approx KL, counted tokens
};

struct GenerateArgs {
  const int32_t* prompt_tokens = nullptr;  // prompts back to back
  const int32_t* prompt_offsets = nullptr; // [n_prompts + 1]
  size_t n_prompts = 0;
  const uint64_t* prompt_ids = nullptr;    // [n_prompts]: RNG stream of each prompt
  size_t n = 1;                            // samples per prompt
  size_t max_new_tokens = 0;
  SamplingOptions sampling;
  uint64_t seed = 0;
  const int32_t* stop = nullptr;
  size_t n_stop = 0;
};

struct GenerateResult {
  // Sequence q = prompt * n + sample; its tokens are tokens[offsets[q], offsets[q+1]).
  std::vector<int32_t> tokens;
  std::vector<float> logprobs;  // log-softmax of logits / temperature at each chosen token (untempered when greedy)
  std::vector<int32_t> offsets;
  std::vector<uint8_t> finished;  // 1: ended on a stop id; 0: cut at maxNewTokens or the context
};

// Throws ERR_DAPO_NONFINITE when any of count logits is NaN or infinite (weights or activations
// overflowed). Both engines' forwardLogits end with it.
void require_finite_logits(const float* logits, size_t count);

class Engine {
 public:
  explicit Engine(const ModelConfig& config);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  const ModelConfig& config() const { return c_; }
  const std::vector<ParamInfo>& params() const { return layout_.params; }
  size_t num_parameters() const { return w_.size(); }
  float* weights() { return w_.data(); }
  float* grads();  // allocated (zero) on first use
  AdamW& optimizer() { return opt_; }

  // Normal(0, std) weights from a seed, norms at 1, biases at 0.
  void init_random(uint64_t seed, float std);
  void zero_grad();

  // logits [T, V] for every position of one sequence.
  void forward_logits(const int32_t* tokens, size_t t, float* logits);
  // log p(target) per target; entropy of the predicting distribution when entropy != null.
  // temperature: the distribution is softmax(logits / temperature), as the sampler drew from.
  void logprobs(const PackedBatch& batch, float* out, float* entropy, double temperature = 1.0);
  // DAPO loss (the dapo_loss kernel) over the targets, gradients added to the accumulators.
  // ref_logprobs (may be null): the frozen reference policy's log-probs, for options.kl_coef > 0.
  // temperature: the loss sees logits / temperature (verl's actor), matching tempered old log-probs.
  AccumulateResult accumulate_dapo(const PackedBatch& batch, const float* old_logprobs, const float* advantages,
                                   const uint8_t* mask, const LossOptions& options, float* out_logprobs,
                                   float* out_entropy, const float* ref_logprobs = nullptr, double temperature = 1.0);
  // Mean negative log-likelihood: sum over masked targets of -log p / token_count (< 0: their count).
  AccumulateResult accumulate_nll(const PackedBatch& batch, const uint8_t* mask, double token_count,
                                  float* out_logprobs, float* out_entropy = nullptr);
  AdamWStats step(const AdamWOptions& options);
  GenerateResult generate(const GenerateArgs& args);

  // Frees the activation buffers kept between calls.
  void release_buffers();

  // Number of targets of a batch (checks the batch and throws a range error naming the field).
  size_t count_targets(const PackedBatch& batch) const;

 private:
  struct LayerBuf;
  struct KvPlan;
  struct Targets;
  struct Forward;
  struct PackedLayer;
  struct Scratch {
    std::vector<float> a, b, c, d, e, f, g;
  };

  void layer_forward(size_t l, size_t t, const size_t* pos, LayerBuf& b, float* x_out, const KvPlan& plan,
                     const PackedLayer* packed = nullptr);
  void layer_backward(size_t l, size_t t, const size_t* pos, const int32_t* offsets, size_t n_seqs, LayerBuf& b,
                      float* dx, Scratch& s);
  Targets targets_of(const PackedBatch& batch) const;
  size_t activation_bytes(size_t t, size_t sets) const;
  void forward_packed(const PackedBatch& batch, bool record, Forward& f);
  Forward& reuse_forward();
  void backward_packed(const PackedBatch& batch, Forward& f, std::vector<float>& dhf);
  std::vector<size_t> chunk_cuts(const Targets& tg, bool whole_sequences) const;
  void head_chunks(const Forward& f, const Targets& tg, const std::vector<size_t>& cuts, float* dhf,
                   double temperature, const std::function<void(size_t, size_t, const float*, float*)>& fn);

  ModelConfig c_;
  ParamLayout layout_;  // names, offsets, AdamW spans (model/params.h, shared with the CUDA engine)
  std::vector<float> w_, g_;
  AdamW opt_;
  Rope rope_;
  // Activations kept between calls so their pages are not faulted in again each time.
  std::unique_ptr<Forward> fwd_;
  std::unique_ptr<Scratch> scratch_;
};

}  // namespace dapo
