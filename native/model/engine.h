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
#include "model/rope.h"
#include "model/sampler.h"
#include "optim/adamw.h"

namespace dapo {

struct ParamInfo {
  std::string name;            // Hugging Face name, e.g. model.layers.0.self_attn.q_proj.weight
  std::vector<size_t> shape;
  size_t offset = 0;           // into the flat parameter buffer
  size_t size = 0;
  bool decay = false;          // weight decay applies (matrices, not norms or biases)
};

// A packed batch. Sequence s is tokens[offsets[s], offsets[s+1]). The targets of s are its
// tokens at positions t >= max(promptLength, 1): each is predicted from the positions before
// it. Per-target arrays (log-probs, advantages, ...) list the targets of all sequences in order.
struct PackedBatch {
  const int32_t* tokens = nullptr;
  size_t n_tokens = 0;
  const int32_t* offsets = nullptr;  // [n_seqs + 1]
  size_t n_seqs = 0;
  const int32_t* prompt_lengths = nullptr;  // [n_seqs] or null (all zero)
};

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

class Engine {
 public:
  explicit Engine(const ModelConfig& config);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  const ModelConfig& config() const { return c_; }
  const std::vector<ParamInfo>& params() const { return params_; }
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
  struct LayerWeights;
  struct LayerBuf;
  struct KvPlan;
  struct Targets;
  struct Forward;
  struct PackedLayer;
  struct Scratch {
    std::vector<float> a, b, c, d, e, f, g;
  };

  size_t offset_of(const std::string& name) const;
  void add_param(const std::string& name, std::vector<size_t> shape, bool decay);
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
  std::vector<ParamInfo> params_;
  std::vector<float> w_, g_;
  std::vector<AdamW::Span> spans_;  // weight decay on or off, by runs of parameters
  std::vector<LayerWeights> layers_;
  size_t embed_ = 0, final_norm_ = 0, lm_head_ = 0;
  AdamW opt_;
  Rope rope_;
  // Activations kept between calls so their pages are not faulted in again each time.
  std::unique_ptr<Forward> fwd_;
  std::unique_ptr<Scratch> scratch_;
};

}  // namespace dapo
