// The CUDA engine's forward pass in the order of native/model/engine.cc (embedding; per layer:
// RMSNorm, q / k / v projections (+ bias), qk-norm, RoPE, attention, o_proj with the residual
// add, RMSNorm, gate | up in one GEMM, SwiGLU, down_proj with the residual add; the final norm),
// and the calls that only run it forward: forward_logits and logprobs.
//
// The residual adds are fused into the next RMSNorm (add_rmsnorm_forward): a layer's output
// x_mid + down_proj(...) is only ever formed as the next norm's input.
#include <algorithm>
#include <string>

#include "cuda/lm_head_loss.cuh"
#include "cuda/loss_prep.cuh"
#include "cuda/model/engine.cuh"
#include "cuda/model/engine_error.cuh"
#include "cuda/model/engine_gemm.cuh"
#include "cuda/model/engine_rows.cuh"

namespace dapo::cuda::model {

namespace {

// Rows of logits forward_logits computes at once (about 64 MiB of fp32), as the CPU engine.
constexpr size_t kLogitFloats = size_t(16) << 20;

}  // namespace

// Every buffer of a forward pass over `rows` rows; with a null base, the layout's size only.
template <typename T>
Activations<T> CudaEngine<T>::carve_activations(Carver& carver, size_t rows, Keep keep) const {
  const size_t h = c_.hidden, hd = c_.head_dim, qd = c_.heads * hd, kvd = c_.kv_heads * hd, in = c_.intermediate;
  auto cells = [&](size_t width) { return checked_mul(rows, width, "an activation buffer"); };
  auto carve_set = [&](bool own_input) {
    LayerActs<T> s;
    if (own_input) s.x_in = carver.take<T>(cells(h));
    s.rstd1 = carver.take<float>(rows);
    s.h1 = carver.take<T>(cells(h));
    if (c_.qk_norm) {
      s.q_pre = carver.take<T>(cells(qd));
      s.k_pre = carver.take<T>(cells(kvd));
      s.q_rstd = carver.take<float>(cells(c_.heads));
      s.k_rstd = carver.take<float>(cells(c_.kv_heads));
    }
    s.q = carver.take<T>(cells(qd));
    s.k = carver.take<T>(cells(kvd));
    s.v = carver.take<T>(cells(kvd));
    s.attn = carver.take<T>(cells(qd));
    s.lse = carver.take<float>(cells(c_.heads));
    // Forward only: the residual stream is updated in place (the fused adds may alias).
    s.x_mid = keep == Keep::kNone ? s.x_in : carver.take<T>(cells(h));
    s.rstd2 = carver.take<float>(rows);
    s.h2 = carver.take<T>(cells(h));
    s.gate_up = carver.take<T>(cells(2 * in));
    return s;
  };
  Activations<T> a;
  a.keep = keep;
  const size_t sets = keep == Keep::kAll ? c_.layers : 1;
  for (size_t l = 0; l < sets; ++l) a.sets.push_back(carve_set(keep != Keep::kInputs));
  if (keep == Keep::kInputs)
    for (size_t l = 0; l < c_.layers; ++l) a.inputs.push_back(carver.take<T>(cells(h)));
  a.x_final = keep == Keep::kNone ? a.sets[0].x_in : carver.take<T>(cells(h));
  a.rstd_f = carver.take<float>(rows);
  a.hf = carver.take<T>(cells(h));
  a.y = carver.take<T>(cells(h));
  a.act = carver.take<T>(cells(in));
  return a;
}

template <typename T>
void CudaEngine<T>::embed_and_forward(const Rows<T>& rows, const Activations<T>& acts, Gemm& gemm, cudaStream_t s) {
  const size_t t = rows.t, h = c_.hidden;
  const float eps = static_cast<float>(c_.rms_eps);
  check_launch(embedding_forward<T>(rows.tokens, t, W(layout_.embed), h, acts.layer(0).x_in, s), "embedding_forward");
  LayerActs<T> prev;
  for (size_t l = 0; l < c_.layers; ++l) {
    const LayerActs<T> a = acts.layer(l);
    const T* ln1 = W(layout_.layers[l].ln1);
    if (l == 0)
      check_launch(rmsnorm_forward<T>(a.x_in, ln1, t, h, eps, a.h1, a.rstd1, s), "rmsnorm_forward");
    else  // the previous layer's output, x_mid + down_proj(...), formed as this norm's input
      check_launch(add_rmsnorm_forward<T>(prev.x_mid, acts.y, ln1, t, h, eps, a.x_in, a.h1, a.rstd1, s),
                   "add_rmsnorm_forward");
    layer_forward(l, rows, a, acts, gemm, s);
    prev = a;
  }
  check_launch(add_rmsnorm_forward<T>(prev.x_mid, acts.y, W(layout_.final_norm), t, h, eps, acts.x_final, acts.hf,
                                      acts.rstd_f, s),
               "add_rmsnorm_forward");
}

// Layer l from its normed input a.h1 on; leaves x_mid in a and down_proj's output in acts.y.
template <typename T>
void CudaEngine<T>::layer_forward(size_t l, const Rows<T>& rows, const LayerActs<T>& a, const Activations<T>& acts,
                                  Gemm& gemm, cudaStream_t s) {
  const LayerParams& p = layout_.layers[l];
  const size_t t = rows.t, h = c_.hidden, hd = c_.head_dim, qd = c_.heads * hd, kvd = c_.kv_heads * hd,
               in = c_.intermediate;
  const float eps = static_cast<float>(c_.rms_eps);
  T* q_lin = c_.qk_norm ? a.q_pre : a.q;
  T* k_lin = c_.qk_norm ? a.k_pre : a.k;
  run_gemm(gemm, linear_call(kType, a.h1, t, h, W(p.wq), qd, q_lin, kType), s, "q_proj");
  run_gemm(gemm, linear_call(kType, a.h1, t, h, W(p.wk), kvd, k_lin, kType), s, "k_proj");
  run_gemm(gemm, linear_call(kType, a.h1, t, h, W(p.wv), kvd, a.v, kType), s, "v_proj");
  if (c_.qkv_bias) {
    check_launch(add_bias<T>(q_lin, t, qd, qd, W(p.bq), s), "add_bias");
    check_launch(add_bias<T>(k_lin, t, kvd, kvd, W(p.bk), s), "add_bias");
    check_launch(add_bias<T>(a.v, t, kvd, kvd, W(p.bv), s), "add_bias");
  }
  if (c_.qk_norm) {  // qwen3: RMSNorm over each head of q and k
    check_launch(rmsnorm_forward<T>(a.q_pre, W(p.qn), t * c_.heads, hd, eps, a.q, a.q_rstd, s), "rmsnorm_forward");
    check_launch(rmsnorm_forward<T>(a.k_pre, W(p.kn), t * c_.kv_heads, hd, eps, a.k, a.k_rstd, s), "rmsnorm_forward");
  }
  check_launch(rope_apply<T>(a.q, t, c_.heads, hd, qd, rows.positions, rope_cos_.get(), rope_sin_.get(), false, s),
               "rope_apply");
  check_launch(rope_apply<T>(a.k, t, c_.kv_heads, hd, kvd, rows.positions, rope_cos_.get(), rope_sin_.get(), false, s),
               "rope_apply");
  if (rows.caches)
    check_launch(kv_cache_write<T>(rows.caches[l], a.k, a.v, kvd, t, rows.slots, rows.positions, s), "kv_cache_write");
  if (rows.lengths) {
    DecodeAttentionArgs<T> d;
    d.rows = t;
    d.heads = c_.heads;
    d.cache = rows.caches[l];
    d.q = a.q;
    d.ld_q = qd;
    d.slot = rows.slots;
    d.length = rows.lengths;
    d.max_length = rows.cache_positions;
    d.out = a.attn;
    d.ld_out = qd;
    check_launch(attention_decode<T>(d, rows.decode_scratch, s), "attention_decode");
  } else {
    check_launch(attention_forward<T>(attention_args(rows, a), s), "attention_forward");
  }
  run_gemm(gemm, linear_call(kType, a.attn, t, qd, W(p.wo), h, acts.y, kType), s, "o_proj");
  check_launch(add_rmsnorm_forward<T>(a.x_in, acts.y, W(p.ln2), t, h, eps, a.x_mid, a.h2, a.rstd2, s),
               "add_rmsnorm_forward");
  // gate_proj and up_proj are adjacent in the layout: one [2 * intermediate, hidden] weight.
  run_gemm(gemm, linear_call(kType, a.h2, t, h, W(p.wg), 2 * in, a.gate_up, kType), s, "gate_up_proj");
  check_launch(swiglu_forward<T>(a.gate_up, a.gate_up + in, 2 * in, t, in, acts.act, in, s), "swiglu_forward");
  run_gemm(gemm, linear_call(kType, acts.act, t, in, W(p.wd), h, acts.y, kType), s, "down_proj");
}

template <typename T>
AttentionArgs<T> CudaEngine<T>::attention_args(const Rows<T>& rows, const LayerActs<T>& a) const {
  AttentionArgs<T> args;
  args.rows = rows.t;
  args.n_seqs = rows.n_seqs;
  args.heads = c_.heads;
  args.kv_heads = c_.kv_heads;
  args.head_dim = c_.head_dim;
  args.cu_seqlens = rows.cu_seqlens;
  args.max_seqlen = rows.max_seqlen;
  args.q = a.q;
  args.k = a.k;
  args.v = a.v;
  args.ld_q = c_.heads * c_.head_dim;
  args.ld_kv = c_.kv_heads * c_.head_dim;
  args.out = a.attn;
  args.ld_out = args.ld_q;
  args.lse = a.lse;
  return args;
}

template <typename T>
void CudaEngine<T>::lm_head_logits(const T* hidden, size_t rows, float* logits, Gemm& gemm, cudaStream_t s) {
  run_gemm(gemm, linear_call(kType, hidden, rows, c_.hidden, W(layout_.lm_head), c_.vocab, logits, DAPO_CUDA_F32), s,
           "lm_head");
}

// The batch's index arrays (and `extra` after them) on the device, in one copy.
template <typename T>
const int32_t* CudaEngine<T>::upload_plan(const PackedPlan& plan, const std::vector<int32_t>& extra) {
  const size_t n = checked_add(plan.ints.size(), extra.size(), "the batch's index arrays");
  int32_t* d = batch_ints_.ensure(alloc_, n, "the batch's index arrays");
  check_cuda(cudaMemcpyAsync(d, plan.ints.data(), plan.ints.size() * sizeof(int32_t), cudaMemcpyHostToDevice,
                             kTrainStream),
             "cudaMemcpyAsync (batch)");
  if (!extra.empty())
    check_cuda(cudaMemcpyAsync(d + plan.ints.size(), extra.data(), extra.size() * sizeof(int32_t),
                               cudaMemcpyHostToDevice, kTrainStream),
               "cudaMemcpyAsync (batch)");
  return d;
}

template <typename T>
Rows<T> CudaEngine<T>::packed_rows(const PackedPlan& plan, const int32_t* ints) const {
  Rows<T> r;
  r.t = plan.n_tokens;
  r.tokens = ints + plan.tokens_at;
  r.positions = ints + plan.positions_at;
  r.cu_seqlens = ints + plan.cu_seqlens_at;
  r.n_seqs = plan.n_seqs;
  r.max_seqlen = plan.longest;
  return r;
}

template <typename T>
void CudaEngine<T>::forward_logits(const int32_t* tokens, size_t t, float* logits) {
  phase_ = Phase::kTrain;
  const int32_t offsets[2] = {0, static_cast<int32_t>(t)};
  if (t > 0x7fffffff) throw_range("the sequence has " + std::to_string(t) + " tokens, more than int32 offsets hold");
  const PackedPlan plan = plan_packed_batch(c_, dapo_cuda_packed_batch{tokens, t, offsets, 1, nullptr});
  if (!logits) throw_args("logits is null");
  ensure_rope(plan.longest);
  const Rows<T> rows = packed_rows(plan, upload_plan(plan, {}));
  Carver measure(nullptr);
  carve_activations(measure, row_capacity(t), Keep::kNone);
  Carver carver(train_arena_.ensure(alloc_, measure.used(), "the forward pass's activations"));
  const Activations<T> acts = carve_activations(carver, row_capacity(t), Keep::kNone);
  embed_and_forward(rows, acts, gemm_, kTrainStream);
  const size_t v = c_.vocab, chunk = std::max<size_t>(1, kLogitFloats / v);
  float* d = logits_.ensure(alloc_, std::min(chunk, t) * v, "a chunk of logits");
  for (size_t r0 = 0; r0 < t; r0 += chunk) {
    const size_t n = std::min(chunk, t - r0);
    lm_head_logits(acts.hf + r0 * c_.hidden, n, d, gemm_, kTrainStream);
    check_cuda(cudaMemcpyAsync(logits + r0 * v, d, n * v * sizeof(float), cudaMemcpyDeviceToHost, kTrainStream),
               "cudaMemcpyAsync (logits)");
    sync(kTrainStream, "forward_logits");
  }
}

// As Engine::logprobs: log p(target) under softmax(logits / temperature), and the entropy, with
// the LM head and the log-softmax fused (lm_head_loss.cuh with no gradient).
template <typename T>
void CudaEngine<T>::logprobs(const dapo_cuda_packed_batch& batch, double temperature, float* out, float* entropy) {
  phase_ = Phase::kTrain;
  const PackedPlan plan = plan_packed_batch(c_, batch);
  check_temperature(temperature);
  const size_t n = plan.n_targets, h = c_.hidden;
  if (n == 0) return;
  if (!out) throw_args("the log-prob output is null");
  ensure_rope(plan.longest);
  const int32_t* ints = upload_plan(plan, {});
  const Rows<T> rows = packed_rows(plan, ints);
  auto carve = [&](Carver& c, T** targets_h) {
    Activations<T> a = carve_activations(c, row_capacity(plan.n_tokens), Keep::kNone);
    *targets_h = c.take<T>(checked_mul(n, h, "the target rows"));
    return a;
  };
  T* targets_h = nullptr;
  Carver measure(nullptr);
  carve(measure, &targets_h);
  Carver carver(train_arena_.ensure(alloc_, measure.used(), "the forward pass's activations"));
  const Activations<T> acts = carve(carver, &targets_h);
  float* lp = target_floats_.ensure(alloc_, 2 * n, "the per-target outputs");
  uint8_t* ones = target_mask_.ensure(alloc_, n, "the target mask");
  check_cuda(cudaMemsetAsync(ones, 1, n, kTrainStream), "cudaMemsetAsync (mask)");

  embed_and_forward(rows, acts, gemm_, kTrainStream);
  check_launch(copy_rows<T>(acts.hf, h, ints + plan.target_rows_at, targets_h, h, nullptr, n, h, kTrainStream),
               "copy_rows");
  Scratch scratch;  // the loss's scratch, on the legacy default stream as the loss preparation
  PrepInputs prep;
  prep.n = n;
  prep.vocab = c_.vocab;
  prep.tokens = ints + plan.target_tokens_at;
  prep.mask = ones;
  prep.term = kTermNll;
  TokenArrays arrays;
  DeviceStatus* status = nullptr;
  check_cuda(prepare_loss(scratch, prep, &arrays, &status), "prepare_loss");
  arrays.logprobs_out = lp;
  arrays.entropy_out = entropy ? lp + n : nullptr;
  LmHeadLossParams p;
  p.n = n;
  p.hidden = h;
  p.vocab = c_.vocab;
  p.dtype = kType;
  p.hidden_states = targets_h;
  p.weight = W(layout_.lm_head);
  p.gemm = &gemm_;  // the engine's plans and workspace, not a second per-thread Gemm
  p.tokens = arrays;
  p.term = kTermNll;
  p.temperature = static_cast<float>(temperature);
  p.entropy = entropy != nullptr;
  char message[512] = {0};
  check_status(lm_head_loss(p, scratch, kTrainStream, message, sizeof message), "lm_head_loss", message);
  sync(kTrainStream, "logprobs");
  dapo_cuda_loss_stats stats{};
  check_status(finish_loss(status, prep, &stats, message, sizeof message), "logprobs", message);
  check_cuda(cudaMemcpy(out, lp, n * sizeof(float), cudaMemcpyDeviceToHost), "cudaMemcpy (log-probs)");
  if (entropy)
    check_cuda(cudaMemcpy(entropy, lp + n, n * sizeof(float), cudaMemcpyDeviceToHost), "cudaMemcpy (entropy)");
}

#define DAPO_ENGINE_FORWARD(T)                                                                                     \
  template Activations<T> CudaEngine<T>::carve_activations(Carver&, size_t, Keep) const;                          \
  template void CudaEngine<T>::embed_and_forward(const Rows<T>&, const Activations<T>&, Gemm&, cudaStream_t);      \
  template void CudaEngine<T>::layer_forward(size_t, const Rows<T>&, const LayerActs<T>&, const Activations<T>&,   \
                                             Gemm&, cudaStream_t);                                                 \
  template AttentionArgs<T> CudaEngine<T>::attention_args(const Rows<T>&, const LayerActs<T>&) const;             \
  template void CudaEngine<T>::lm_head_logits(const T*, size_t, float*, Gemm&, cudaStream_t);                     \
  template const int32_t* CudaEngine<T>::upload_plan(const PackedPlan&, const std::vector<int32_t>&);             \
  template Rows<T> CudaEngine<T>::packed_rows(const PackedPlan&, const int32_t*) const;                           \
  template void CudaEngine<T>::forward_logits(const int32_t*, size_t, float*);                                    \
  template void CudaEngine<T>::logprobs(const dapo_cuda_packed_batch&, double, float*, float*);
DAPO_ENGINE_FORWARD(float)
DAPO_ENGINE_FORWARD(bf16)

}  // namespace dapo::cuda::model
