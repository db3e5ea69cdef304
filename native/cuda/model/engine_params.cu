// The CUDA engine's parameters and optimizer: creation, read / write at flat offsets, the AdamW
// step, the RoPE tables, memory statistics (engine.cuh).
#include <cuda_fp16.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "common/bf16.h"
#include "cuda/model/engine.cuh"
#include "cuda/model/engine_error.cuh"
#include "cuda/model/engine_generate.cuh"
#include "cuda/model/engine_gemm.cuh"

namespace dapo::cuda::model {

namespace {

// Host values converted per write, through a buffer of this many floats.
constexpr size_t kConvertChunk = size_t(4) << 20;

float f16_to_float(uint16_t bits) {
  __half_raw raw;
  raw.x = bits;
  return __half2float(__half(raw));
}

const char* name_of(int what) {
  switch (what) {
    case DAPO_CUDA_WEIGHTS: return "weights";
    case DAPO_CUDA_GRADS: return "gradients";
    case DAPO_CUDA_ADAM_M: return "AdamW's first moments";
    default: return "AdamW's second moments";
  }
}

void check_span(int what, size_t offset, size_t count, size_t total, const void* host) {
  if (what < DAPO_CUDA_WEIGHTS || what > DAPO_CUDA_ADAM_V)
    throw_args("what must be DAPO_CUDA_WEIGHTS, _GRADS, _ADAM_M or _ADAM_V, got " + std::to_string(what));
  if (count > total || offset > total - count)
    throw_range("offset " + std::to_string(offset) + " + count " + std::to_string(count) + " is beyond the " +
                std::to_string(total) + " parameters");
  if (count > 0 && !host) throw_args("the host buffer is null");
}

}  // namespace

void run_gemm(Gemm& gemm, const GemmCall& call, cudaStream_t stream, const char* what) {
  char message[512] = {0};
  check_status(gemm.run(call, stream, message, sizeof message), what, message);
}

template <typename T>
CudaEngine<T>::CudaEngine(const ModelConfig& config, const dapo_cuda_engine_options& options)
    : c_(config), layout_(param_layout(config)), options_(options) {
  const size_t n = layout_.total;
  for (const LayerParams& p : layout_.layers)
    if (p.wu != p.wg + c_.intermediate * c_.hidden)
      throw_args("gate_proj and up_proj must be adjacent in the parameter layout (one GEMM computes both)");
  rope_.init(c_);
  alloc_.set_reclaim([this] { return reclaim(); });
  master_.ensure(alloc_, n, "the fp32 master weights");
  check_cuda(cudaMemsetAsync(master_.get(), 0, n * sizeof(float), kTrainStream), "cudaMemsetAsync (weights)");
  if (!std::is_same<T, float>::value) {
    compute_.ensure(alloc_, n, "the bf16 compute copy of the weights");
    check_cuda(cudaMemsetAsync(compute_.get(), 0, n * sizeof(T), kTrainStream), "cudaMemsetAsync (weights)");
  }
  std::vector<AdamWSpanDevice> spans;
  for (const AdamW::Span& s : layout_.spans) spans.push_back(AdamWSpanDevice{s.begin, s.end, s.decay ? 1 : 0});
  spans_.ensure(alloc_, spans.size(), "AdamW's parameter spans");
  check_cuda(cudaMemcpy(spans_.get(), spans.data(), spans.size() * sizeof(AdamWSpanDevice), cudaMemcpyHostToDevice),
             "cudaMemcpy (AdamW spans)");
  norm_.ensure(alloc_, 1, "the gradient norm");
  norm_scratch_.ensure(alloc_, grad_norm_scratch_bytes(n), "the gradient norm's partial sums");
  sync(kTrainStream, "engine creation");
  // Last: a constructor that throws leaves nothing behind (its buffers free themselves).
  check_cuda(cudaStreamCreateWithFlags(&gen_stream_, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
}

template <typename T>
CudaEngine<T>::~CudaEngine() {
  gen_.reset();  // graphs and cache first, while the stream exists
  if (gen_stream_) cudaStreamDestroy(gen_stream_);
}

std::unique_ptr<CudaEngineBase> make_engine(const ModelConfig& config, const dapo_cuda_engine_options& options) {
  if (options.dtype == DAPO_CUDA_F32) return std::make_unique<CudaEngine<float>>(config, options);
  if (options.dtype == DAPO_CUDA_BF16) return std::make_unique<CudaEngine<bf16>>(config, options);
  throw_args("dtype must be DAPO_CUDA_F32 or DAPO_CUDA_BF16, got " + std::to_string(options.dtype));
}

template <typename T>
const T* CudaEngine<T>::weights_c() const {
  if constexpr (std::is_same<T, float>::value) return master_.get();
  else return compute_.get();
}

template <typename T>
void CudaEngine<T>::sync(cudaStream_t stream, const char* what) {
  check_cuda(cudaStreamSynchronize(stream), what);
}

// Gradients exist from the first accumulate (or write) on, as on the CPU.
template <typename T>
float* CudaEngine<T>::ensure_grads() {
  if (!grads_.get()) {
    grads_.ensure(alloc_, layout_.total, "the fp32 gradients");
    check_cuda(cudaMemsetAsync(grads_.get(), 0, layout_.total * sizeof(float), kTrainStream), "cudaMemsetAsync (gradients)");
  }
  return grads_.get();
}

template <typename T>
void CudaEngine<T>::ensure_moments() {
  if (adam_m_.get()) return;
  adam_m_.ensure(alloc_, layout_.total, "AdamW's first moments");
  adam_v_.ensure(alloc_, layout_.total, "AdamW's second moments");
  check_cuda(cudaMemsetAsync(adam_m_.get(), 0, layout_.total * sizeof(float), kTrainStream), "cudaMemsetAsync (moments)");
  check_cuda(cudaMemsetAsync(adam_v_.get(), 0, layout_.total * sizeof(float), kTrainStream), "cudaMemsetAsync (moments)");
}

template <typename T>
void CudaEngine<T>::refresh_compute_copy(size_t offset, size_t count) {
  if constexpr (!std::is_same<T, float>::value)
    check_launch(cast<T, float>(master_.get() + offset, compute_.get() + offset, count, kTrainStream), "cast");
}

// cos / sin tables as dapo::Rope makes them (one definition of the frequencies), grown in
// doublings so a longer batch seldom re-uploads them.
template <typename T>
void CudaEngine<T>::ensure_rope(size_t positions) {
  if (positions <= rope_positions_) return;
  const size_t grown = std::min(c_.max_positions, std::max<size_t>(4096, 2 * rope_positions_));
  const size_t n = std::max(positions, grown), half = c_.head_dim / 2;
  rope_.ensure(n);
  drop_graphs();  // captured decode steps read the old tables
  rope_cos_.ensure(alloc_, n * half, "the RoPE cos table");
  rope_sin_.ensure(alloc_, n * half, "the RoPE sin table");
  check_cuda(cudaMemcpy(rope_cos_.get(), rope_.cos_table(), n * half * sizeof(float), cudaMemcpyHostToDevice),
             "cudaMemcpy (RoPE table)");
  check_cuda(cudaMemcpy(rope_sin_.get(), rope_.sin_table(), n * half * sizeof(float), cudaMemcpyHostToDevice),
             "cudaMemcpy (RoPE table)");
  rope_positions_ = n;
}

template <typename T>
void CudaEngine<T>::write(int what, size_t offset, size_t count, const void* host, int host_dtype) {
  phase_ = Phase::kTrain;
  check_span(what, offset, count, layout_.total, host);
  if (host_dtype != DAPO_CUDA_HOST_F32 && host_dtype != DAPO_CUDA_HOST_BF16 && host_dtype != DAPO_CUDA_HOST_F16)
    throw_args("host dtype must be DAPO_CUDA_HOST_F32, _BF16 or _F16, got " + std::to_string(host_dtype));
  float* dst = nullptr;
  if (what == DAPO_CUDA_WEIGHTS) dst = master_.get();
  else if (what == DAPO_CUDA_GRADS) dst = ensure_grads();
  else {
    ensure_moments();
    dst = what == DAPO_CUDA_ADAM_M ? adam_m_.get() : adam_v_.get();
  }
  dst += offset;
  if (host_dtype == DAPO_CUDA_HOST_F32) {
    check_cuda(cudaMemcpy(dst, host, count * sizeof(float), cudaMemcpyHostToDevice), "cudaMemcpy (write)");
  } else {
    const uint16_t* bits = static_cast<const uint16_t*>(host);
    std::vector<float> chunk(std::min(count, kConvertChunk));
    for (size_t i0 = 0; i0 < count; i0 += kConvertChunk) {
      const size_t m = std::min(kConvertChunk, count - i0);
      for (size_t i = 0; i < m; ++i)
        chunk[i] = host_dtype == DAPO_CUDA_HOST_BF16 ? bf16_to_float(bits[i0 + i]) : f16_to_float(bits[i0 + i]);
      check_cuda(cudaMemcpy(dst + i0, chunk.data(), m * sizeof(float), cudaMemcpyHostToDevice), "cudaMemcpy (write)");
    }
  }
  if (what == DAPO_CUDA_WEIGHTS) refresh_compute_copy(offset, count);
  sync(kTrainStream, "write");
}

template <typename T>
void CudaEngine<T>::read(int what, size_t offset, size_t count, float* host) {
  check_span(what, offset, count, layout_.total, host);
  const float* src = what == DAPO_CUDA_WEIGHTS ? master_.get()
                     : what == DAPO_CUDA_GRADS ? grads_.get()
                     : what == DAPO_CUDA_ADAM_M ? adam_m_.get()
                                                : adam_v_.get();
  if (!src) {  // not allocated yet: zero, as the CPU engine's fresh buffers
    std::fill(host, host + count, 0.0f);
    return;
  }
  check_cuda(cudaMemcpy(host, src + offset, count * sizeof(float), cudaMemcpyDeviceToHost),
             (std::string("cudaMemcpy (read of the ") + name_of(what) + ")").c_str());
}

template <typename T>
void CudaEngine<T>::zero_grad() {
  if (!grads_.get()) return;
  check_cuda(cudaMemsetAsync(grads_.get(), 0, layout_.total * sizeof(float), kTrainStream), "cudaMemsetAsync (zero_grad)");
  sync(kTrainStream, "zero_grad");
}

// As AdamW::step with zero_grad: the global norm first (a non-finite norm changes nothing), then
// one update over all parameters that also zeroes the gradients and refreshes the compute copy.
template <typename T>
dapo_cuda_step_result CudaEngine<T>::step(const dapo_cuda_step_args& a) {
  phase_ = Phase::kTrain;
  if (!(a.lr >= 0) || !std::isfinite(a.lr)) throw_range("lr must be >= 0");
  if (!(a.beta1 >= 0 && a.beta1 < 1)) throw_range("betas[0] must be in [0, 1)");
  if (!(a.beta2 >= 0 && a.beta2 < 1)) throw_range("betas[1] must be in [0, 1)");
  if (!(a.eps > 0) || !std::isfinite(a.eps)) throw_range("eps must be > 0");
  if (!(a.weight_decay >= 0) || !std::isfinite(a.weight_decay)) throw_range("weightDecay must be >= 0");
  if (!(a.clip_grad_norm >= 0) || std::isnan(a.clip_grad_norm)) throw_range("clipGradNorm must be >= 0");
  const size_t n = layout_.total;
  float* g = ensure_grads();
  if (!adam_m_.get()) {
    ensure_moments();
    steps_ = 0;  // as AdamW::resize when the moments are first made
  }
  check_launch(grad_norm_squared(g, n, norm_.get(), norm_scratch_.get(), kTrainStream), "grad_norm_squared");
  double squared = 0;
  check_cuda(cudaMemcpy(&squared, norm_.get(), sizeof squared, cudaMemcpyDeviceToHost), "cudaMemcpy (gradient norm)");
  dapo_cuda_step_result r{};
  r.grad_norm = std::sqrt(squared);
  if (!std::isfinite(r.grad_norm))
    throw EngineError(DAPO_CUDA_ERR_NONFINITE, "the gradient holds a non-finite value (norm " +
                                                   std::to_string(r.grad_norm) + "); the step was not taken");
  r.clipped = a.clip_grad_norm > 0 && r.grad_norm > a.clip_grad_norm;
  AdamWScalars s{a.lr, a.beta1, a.beta2, a.eps, a.weight_decay, a.clip_grad_norm, steps_ + 1};
  T* compute = nullptr;
  if constexpr (!std::is_same<T, float>::value) compute = compute_.get();
  check_launch(adamw_update<T>(master_.get(), g, adam_m_.get(), adam_v_.get(), n, spans_.get(), layout_.spans.size(), s,
                               norm_.get(), compute, kTrainStream),
               "adamw_update");
  sync(kTrainStream, "step");
  r.step = ++steps_;
  return r;
}

template <typename T>
void CudaEngine<T>::release_training_buffers() {
  train_arena_.reset();
  batch_ints_.reset();
  target_floats_.reset();
  target_mask_.reset();
  logits_.reset();
}

template <typename T>
void CudaEngine<T>::release_buffers() {
  gen_.reset();
  release_training_buffers();
}

// Training and generation each keep their buffers between calls; when memory runs short, a call
// of one kind frees the other's (they are made again when next needed).
template <typename T>
bool CudaEngine<T>::reclaim() {
  if (phase_ == Phase::kGenerate) {
    const bool held = train_arena_.get() || batch_ints_.get() || target_floats_.get() || logits_.get();
    release_training_buffers();
    return held;
  }
  const bool held = gen_ != nullptr;
  gen_.reset();
  return held;
}

template <typename T>
dapo_cuda_memory_stats CudaEngine<T>::memory(bool reset_peak) {
  dapo_cuda_memory_stats m{};
  m.allocated_bytes = alloc_.allocated();
  m.peak_allocated_bytes = alloc_.peak();
  size_t free_bytes = 0, total_bytes = 0;
  check_cuda(cudaMemGetInfo(&free_bytes, &total_bytes), "cudaMemGetInfo");
  m.free_bytes = free_bytes;
  m.total_bytes = total_bytes;
  if (reset_peak) alloc_.reset_peak();
  return m;
}

#define DAPO_ENGINE_PARAMS(T)                                                                       \
  template CudaEngine<T>::CudaEngine(const ModelConfig&, const dapo_cuda_engine_options&);          \
  template CudaEngine<T>::~CudaEngine();                                                            \
  template const T* CudaEngine<T>::weights_c() const;                                               \
  template void CudaEngine<T>::sync(cudaStream_t, const char*);                                     \
  template float* CudaEngine<T>::ensure_grads();                                                    \
  template void CudaEngine<T>::ensure_moments();                                                    \
  template void CudaEngine<T>::refresh_compute_copy(size_t, size_t);                                \
  template void CudaEngine<T>::ensure_rope(size_t);                                                 \
  template void CudaEngine<T>::write(int, size_t, size_t, const void*, int);                        \
  template void CudaEngine<T>::read(int, size_t, size_t, float*);                                   \
  template void CudaEngine<T>::zero_grad();                                                         \
  template dapo_cuda_step_result CudaEngine<T>::step(const dapo_cuda_step_args&);                   \
  template void CudaEngine<T>::release_buffers();                                                   \
  template void CudaEngine<T>::release_training_buffers();                                          \
  template bool CudaEngine<T>::reclaim();                                                           \
  template dapo_cuda_memory_stats CudaEngine<T>::memory(bool);
DAPO_ENGINE_PARAMS(float)
DAPO_ENGINE_PARAMS(bf16)

}  // namespace dapo::cuda::model
