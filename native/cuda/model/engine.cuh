// The CUDA policy engine: the twin of dapo::Engine (native/model/engine.h) with the same
// contracts, behind the C ABI of api.h (engine_api.cu). One class template over the compute
// type T: bf16 (what users run) or float (the test mode, compared with the CPU engine).
//
// State: fp32 master weights at the CPU engine's flat offsets (model/params.h), a compute copy in
// T at the same offsets (the master itself when T is float), fp32 gradients and AdamW moments
// (allocated when training starts), RoPE tables made by dapo::Rope, activation buffers kept
// between calls, and generation's KV cache and CUDA graphs.
//
// Files: engine_params.cu (weights, read / write, step, memory), engine_forward.cu (the layers'
// forward, forward_logits, logprobs), engine_backward.cu (accumulate and the backward pass),
// engine_generate.cu (prefill, decode, continuous batching, CUDA graphs).
#pragma once
#include <cuda_runtime.h>

#include <memory>
#include <type_traits>
#include <vector>

#include "cuda/api.h"
#include "cuda/model/engine_inputs.h"
#include "cuda/model/engine_memory.cuh"
#include "cuda/model/ops.cuh"
#include "model/config.h"
#include "model/params.h"
#include "model/rope.h"

namespace dapo::cuda::model {

// What the C ABI calls; engine_api.cu turns the EngineErrors these throw into statuses.
class CudaEngineBase {
 public:
  virtual ~CudaEngineBase() = default;
  virtual const ModelConfig& config() const = 0;
  virtual void write(int what, size_t offset, size_t count, const void* host, int host_dtype) = 0;
  virtual void read(int what, size_t offset, size_t count, float* host) = 0;
  virtual uint64_t steps() const = 0;
  virtual void set_steps(uint64_t steps) = 0;
  virtual void zero_grad() = 0;
  virtual void release_buffers() = 0;
  virtual void forward_logits(const int32_t* tokens, size_t t, float* logits) = 0;
  virtual void logprobs(const dapo_cuda_packed_batch& batch, double temperature, float* out, float* entropy) = 0;
  virtual dapo_cuda_accumulate_stats accumulate(const dapo_cuda_accumulate_args& args) = 0;
  virtual dapo_cuda_step_result step(const dapo_cuda_step_args& args) = 0;
  virtual void generate(const dapo_cuda_generate_args& args, int32_t* tokens, float* logprobs, size_t* lengths,
                        uint8_t* finished) = 0;
  virtual dapo_cuda_memory_stats memory(bool reset_peak) = 0;
};

// An engine of this config in options.dtype. Throws EngineError.
std::unique_ptr<CudaEngineBase> make_engine(const ModelConfig& config, const dapo_cuda_engine_options& options);

// One layer's activations over t rows (row-major, T unless said).
template <typename T>
struct LayerActs {
  T* x_in = nullptr;                           // [t, hidden] the layer's input (residual stream)
  float* rstd1 = nullptr;                      // [t]
  T* h1 = nullptr;                             // input_layernorm(x_in)
  T* q_pre = nullptr;                          // qk-norm models: q before its norm [t, heads * head_dim]
  T* k_pre = nullptr;                          // and k [t, kv_heads * head_dim]
  float* q_rstd = nullptr;                     // [t * heads]
  float* k_rstd = nullptr;                     // [t * kv_heads]
  T* q = nullptr;                              // after the norm and RoPE
  T* k = nullptr;
  T* v = nullptr;
  T* attn = nullptr;                           // attention output [t, heads * head_dim]
  float* lse = nullptr;                        // [t, heads]
  T* x_mid = nullptr;                          // x_in + o_proj(attn)
  float* rstd2 = nullptr;
  T* h2 = nullptr;                             // post_attention_layernorm(x_mid)
  T* gate_up = nullptr;                        // [t, 2 * intermediate]: gate_proj | up_proj
};

// Which activations a forward pass keeps.
enum class Keep {
  kNone,    // forward only: one set of buffers, the residual stream updated in place
  kAll,     // every layer's activations, for the backward pass
  kInputs,  // each layer's input only; the backward recomputes the layer (options.recompute)
};

// The buffers of one forward (and backward) pass over `rows` rows, carved from one allocation.
template <typename T>
struct Activations {
  Keep keep = Keep::kNone;
  std::vector<LayerActs<T>> sets;  // one per layer (kAll) or one
  std::vector<T*> inputs;          // kInputs: each layer's input
  T* x_final = nullptr;            // the last layer's output
  float* rstd_f = nullptr;
  T* hf = nullptr;                 // model.norm(x_final), what the LM head reads
  T* y = nullptr;                  // [rows, hidden] o_proj / down_proj output before its residual add
  T* act = nullptr;                // [rows, intermediate] SwiGLU output

  // Layer l's buffers (x_in set to its own input when only inputs are kept).
  LayerActs<T> layer(size_t l) const {
    LayerActs<T> a = sets[keep == Keep::kAll ? l : 0];
    if (keep == Keep::kInputs) a.x_in = inputs[l];
    return a;
  }
};

// The backward pass's buffers.
template <typename T>
struct Gradients {
  T* dx = nullptr;      // [t, hidden] gradient of the residual stream
  T* dh = nullptr;      // [t, hidden] gradient of a norm's output (final norm, ln2, ln1)
  T* d_act = nullptr;   // [t, intermediate]
  T* dgu = nullptr;     // [t, 2 * intermediate]
  T* d_attn = nullptr;  // [t, heads * head_dim]
  T* dq = nullptr;      // after RoPE (and the q norm)
  T* dk = nullptr;
  T* dv = nullptr;
  T* dq_pre = nullptr;  // qk-norm models: before the norm
  T* dk_pre = nullptr;
  T* targets_h = nullptr;   // [targets, hidden] hf rows that predict targets (the LM head's input)
  T* targets_dh = nullptr;  // their gradient
  void* scratch = nullptr;  // rmsnorm / column-sum / attention backward scratch
};

// The rows a forward pass runs over, as device arrays.
template <typename T>
struct Rows {
  size_t t = 0;
  const int32_t* tokens = nullptr;     // [t]
  const int32_t* positions = nullptr;  // [t] position of each row in its sequence
  // Causal attention over packed sequences of these rows (training, logprobs, prefill).
  const int32_t* cu_seqlens = nullptr;
  size_t n_seqs = 0, max_seqlen = 0;
  // Generation: k and v also go to the KV cache at (slots[r], positions[r]); decoding attends
  // over the cache (lengths[r] keys) instead of over the rows.
  const KvCache<T>* caches = nullptr;  // per layer
  const int32_t* slots = nullptr;
  const int32_t* lengths = nullptr;    // non-null: decode
  size_t cache_positions = 0;          // decode: the cache's capacity (sizes the launch)
  void* decode_scratch = nullptr;      // decode: attention_decode's scratch
};

// Rows rounded up when sizing kept buffers, so batches of similar sizes reuse them.
inline size_t row_capacity(size_t rows) { return (rows + 255) / 256 * 256; }

template <typename T>
struct GenerationState;
template <typename T>
class Generator;

template <typename T>
class CudaEngine final : public CudaEngineBase {
 public:
  CudaEngine(const ModelConfig& config, const dapo_cuda_engine_options& options);
  ~CudaEngine() override;

  const ModelConfig& config() const override { return c_; }
  void write(int what, size_t offset, size_t count, const void* host, int host_dtype) override;
  void read(int what, size_t offset, size_t count, float* host) override;
  uint64_t steps() const override { return steps_; }
  void set_steps(uint64_t steps) override { steps_ = steps; }
  void zero_grad() override;
  void release_buffers() override;
  void forward_logits(const int32_t* tokens, size_t t, float* logits) override;
  void logprobs(const dapo_cuda_packed_batch& batch, double temperature, float* out, float* entropy) override;
  dapo_cuda_accumulate_stats accumulate(const dapo_cuda_accumulate_args& args) override;
  dapo_cuda_step_result step(const dapo_cuda_step_args& args) override;
  void generate(const dapo_cuda_generate_args& args, int32_t* tokens, float* logprobs, size_t* lengths,
                uint8_t* finished) override;
  dapo_cuda_memory_stats memory(bool reset_peak) override;

 private:
  static constexpr int kType = std::is_same<T, float>::value ? DAPO_CUDA_F32 : DAPO_CUDA_BF16;
  // Training, logprobs and forward_logits run on the legacy default stream, where the loss
  // preparation (loss_prep.cuh) runs; generation runs on its own stream (gen_stream_), which a
  // CUDA graph can capture. Every call synchronises before it returns.
  static constexpr cudaStream_t kTrainStream = nullptr;

  // engine_params.cu
  // What the current call does, so that running short of memory frees the other kind's buffers.
  enum class Phase { kTrain, kGenerate };
  bool reclaim();
  void release_training_buffers();
  const T* weights_c() const;              // the compute copy
  const T* W(size_t offset) const { return weights_c() + offset; }
  float* G(size_t offset) { return grads_.get() + offset; }
  float* ensure_grads();
  void ensure_moments();
  void refresh_compute_copy(size_t offset, size_t count);
  void ensure_rope(size_t positions);
  void sync(cudaStream_t stream, const char* what);

  // engine_forward.cu
  Activations<T> carve_activations(Carver& carver, size_t rows, Keep keep) const;
  void embed_and_forward(const Rows<T>& rows, const Activations<T>& acts, Gemm& gemm, cudaStream_t stream);
  void layer_forward(size_t l, const Rows<T>& rows, const LayerActs<T>& a, const Activations<T>& acts, Gemm& gemm,
                     cudaStream_t stream);
  AttentionArgs<T> attention_args(const Rows<T>& rows, const LayerActs<T>& a) const;
  void lm_head_logits(const T* hidden, size_t rows, float* logits, Gemm& gemm, cudaStream_t stream);
  Rows<T> packed_rows(const PackedPlan& plan, const int32_t* ints) const;
  const int32_t* upload_plan(const PackedPlan& plan, const std::vector<int32_t>& extra);

  // engine_backward.cu
  Gradients<T> carve_gradients(Carver& carver, size_t rows, size_t targets) const;
  size_t backward_scratch_bytes(const Rows<T>& rows) const;
  void backward(const Rows<T>& rows, const Activations<T>& acts, const Gradients<T>& g, const int32_t* target_rows,
                size_t n_targets, const TokenRows& groups);
  void layer_backward(size_t l, const Rows<T>& rows, const LayerActs<T>& a, const Activations<T>& acts,
                      const Gradients<T>& g);

  // engine_generate.cu (the Generator runs one generate call over the engine's state)
  friend class Generator<T>;
  void drop_graphs();

  ModelConfig c_;
  ParamLayout layout_;
  dapo_cuda_engine_options options_;
  DeviceAllocator alloc_;
  Buffer<float> master_, grads_, adam_m_, adam_v_;
  Buffer<T> compute_;                        // unused when T is float
  Buffer<AdamWSpanDevice> spans_;
  Buffer<double> norm_;
  Buffer<char> norm_scratch_;
  uint64_t steps_ = 0;
  Phase phase_ = Phase::kTrain;
  Rope rope_;
  Buffer<float> rope_cos_, rope_sin_;
  size_t rope_positions_ = 0;
  Gemm gemm_, gemm_gen_;                     // training / generation (separate plans and workspaces)
  cudaStream_t gen_stream_ = nullptr;
  // Kept between calls (release_buffers frees them).
  Buffer<char> train_arena_;
  Buffer<int32_t> batch_ints_;
  Buffer<float> target_floats_;
  Buffer<uint8_t> target_mask_;
  Buffer<float> logits_;
  std::unique_ptr<GenerationState<T>> gen_;
};

}  // namespace dapo::cuda::model
