// The CUDA engine's accumulate: the forward pass keeping what the backward needs, the LM head and
// the loss over the target rows (lm_head_loss.cuh: the [targets x vocab] logits never exist whole),
// then the backward through the layers in reverse, in the order of native/model/engine.cc.
// Weight gradients are added (beta 1) to the fp32 accumulators; with tied embeddings the LM head's
// gradient is the embedding's buffer, so both land there.
#include <algorithm>
#include <string>

#include "cuda/lm_head_loss.cuh"
#include "cuda/loss_prep.cuh"
#include "cuda/model/embedding_groups.h"
#include "cuda/model/engine.cuh"
#include "cuda/model/engine_error.cuh"
#include "cuda/model/engine_gemm.cuh"
#include "cuda/model/engine_rows.cuh"

namespace dapo::cuda::model {

template <typename T>
Gradients<T> CudaEngine<T>::carve_gradients(Carver& carver, size_t rows, size_t targets) const {
  const size_t h = c_.hidden, qd = c_.heads * c_.head_dim, kvd = c_.kv_heads * c_.head_dim, in = c_.intermediate;
  auto cells = [&](size_t width) { return checked_mul(rows, width, "a gradient buffer"); };
  Gradients<T> g;
  g.dx = carver.take<T>(cells(h));
  g.dh = carver.take<T>(cells(h));
  g.d_act = carver.take<T>(cells(in));
  g.dgu = carver.take<T>(cells(2 * in));
  g.d_attn = carver.take<T>(cells(qd));
  g.dq = carver.take<T>(cells(qd));
  g.dk = carver.take<T>(cells(kvd));
  g.dv = carver.take<T>(cells(kvd));
  if (c_.qk_norm) {
    g.dq_pre = carver.take<T>(cells(qd));
    g.dk_pre = carver.take<T>(cells(kvd));
  }
  g.targets_h = carver.take<T>(checked_mul(targets, h, "the target rows"));
  g.targets_dh = carver.take<T>(checked_mul(targets, h, "the target rows"));
  return g;
}

// The largest scratch any op of the backward asks for (they run one after the other).
template <typename T>
size_t CudaEngine<T>::backward_scratch_bytes(const Rows<T>& rows) const {
  const size_t t = rows.t, hd = c_.head_dim;
  size_t bytes = rmsnorm_backward_scratch_bytes(t, c_.hidden);
  if (c_.qk_norm) {
    bytes = std::max(bytes, rmsnorm_backward_scratch_bytes(t * c_.heads, hd));
    bytes = std::max(bytes, rmsnorm_backward_scratch_bytes(t * c_.kv_heads, hd));
  }
  if (c_.qkv_bias) {
    bytes = std::max(bytes, column_sums_scratch_bytes(t, c_.heads * hd));
    bytes = std::max(bytes, column_sums_scratch_bytes(t, c_.kv_heads * hd));
  }
  return std::max(bytes, attention_backward_scratch_bytes<T>(attention_args(rows, LayerActs<T>())));
}

// dx holds d loss / d (layer l's output) on entry and d loss / d (its input) on return.
template <typename T>
void CudaEngine<T>::layer_backward(size_t l, const Rows<T>& rows, const LayerActs<T>& a, const Activations<T>& acts,
                                   const Gradients<T>& g) {
  const LayerParams& p = layout_.layers[l];
  const size_t t = rows.t, h = c_.hidden, hd = c_.head_dim, qd = c_.heads * hd, kvd = c_.kv_heads * hd,
               in = c_.intermediate;
  const cudaStream_t s = kTrainStream;
  // MLP. The SwiGLU output is recomputed from gate | up rather than kept per layer.
  check_launch(swiglu_forward<T>(a.gate_up, a.gate_up + in, 2 * in, t, in, acts.act, in, s), "swiglu_forward");
  run_gemm(gemm_, linear_dx_call(kType, g.dx, t, h, W(p.wd), in, g.d_act, 0.0f), s, "down_proj backward (input)");
  run_gemm(gemm_, linear_dw_call(kType, g.dx, t, h, acts.act, in, G(p.wd)), s, "down_proj backward (weight)");
  check_launch(swiglu_backward<T>(g.d_act, in, a.gate_up, a.gate_up + in, 2 * in, t, in, g.dgu, g.dgu + in, s),
               "swiglu_backward");
  run_gemm(gemm_, linear_dw_call(kType, g.dgu, t, 2 * in, a.h2, h, G(p.wg)), s, "gate_up_proj backward (weight)");
  run_gemm(gemm_, linear_dx_call(kType, g.dgu, t, 2 * in, W(p.wg), h, g.dh, 0.0f), s, "gate_up_proj backward (input)");
  check_launch(rmsnorm_backward<T>(g.dh, a.x_mid, W(p.ln2), a.rstd2, t, h, g.dx, true, G(p.ln2), g.scratch, s),
               "rmsnorm_backward");
  // Attention.
  run_gemm(gemm_, linear_dw_call(kType, g.dx, t, h, a.attn, qd, G(p.wo)), s, "o_proj backward (weight)");
  run_gemm(gemm_, linear_dx_call(kType, g.dx, t, h, W(p.wo), qd, g.d_attn, 0.0f), s, "o_proj backward (input)");
  AttentionBackwardArgs<T> ab;
  ab.fwd = attention_args(rows, a);
  ab.dout = g.d_attn;
  ab.dq = g.dq;
  ab.dk = g.dk;
  ab.dv = g.dv;
  check_launch(attention_backward<T>(ab, g.scratch, s), "attention_backward");
  check_launch(rope_apply<T>(g.dq, t, c_.heads, hd, qd, rows.positions, rope_cos_.get(), rope_sin_.get(), true, s),
               "rope_apply");
  check_launch(rope_apply<T>(g.dk, t, c_.kv_heads, hd, kvd, rows.positions, rope_cos_.get(), rope_sin_.get(), true, s),
               "rope_apply");
  const T* dq_lin = g.dq;
  const T* dk_lin = g.dk;
  if (c_.qk_norm) {
    check_launch(rmsnorm_backward<T>(g.dq, a.q_pre, W(p.qn), a.q_rstd, t * c_.heads, hd, g.dq_pre, false, G(p.qn),
                                     g.scratch, s),
                 "rmsnorm_backward");
    check_launch(rmsnorm_backward<T>(g.dk, a.k_pre, W(p.kn), a.k_rstd, t * c_.kv_heads, hd, g.dk_pre, false, G(p.kn),
                                     g.scratch, s),
                 "rmsnorm_backward");
    dq_lin = g.dq_pre;
    dk_lin = g.dk_pre;
  }
  if (c_.qkv_bias) {
    check_launch(add_column_sums<T>(dq_lin, t, qd, qd, G(p.bq), g.scratch, s), "add_column_sums");
    check_launch(add_column_sums<T>(dk_lin, t, kvd, kvd, G(p.bk), g.scratch, s), "add_column_sums");
    check_launch(add_column_sums<T>(g.dv, t, kvd, kvd, G(p.bv), g.scratch, s), "add_column_sums");
  }
  run_gemm(gemm_, linear_dw_call(kType, dq_lin, t, qd, a.h1, h, G(p.wq)), s, "q_proj backward (weight)");
  run_gemm(gemm_, linear_dw_call(kType, dk_lin, t, kvd, a.h1, h, G(p.wk)), s, "k_proj backward (weight)");
  run_gemm(gemm_, linear_dw_call(kType, g.dv, t, kvd, a.h1, h, G(p.wv)), s, "v_proj backward (weight)");
  run_gemm(gemm_, linear_dx_call(kType, dq_lin, t, qd, W(p.wq), h, g.dh, 0.0f), s, "q_proj backward (input)");
  run_gemm(gemm_, linear_dx_call(kType, dk_lin, t, kvd, W(p.wk), h, g.dh, 1.0f), s, "k_proj backward (input)");
  run_gemm(gemm_, linear_dx_call(kType, g.dv, t, kvd, W(p.wv), h, g.dh, 1.0f), s, "v_proj backward (input)");
  check_launch(rmsnorm_backward<T>(g.dh, a.x_in, W(p.ln1), a.rstd1, t, h, g.dx, true, G(p.ln1), g.scratch, s),
               "rmsnorm_backward");
}

// From the target rows' gradient (g.targets_dh) to every parameter's.
template <typename T>
void CudaEngine<T>::backward(const Rows<T>& rows, const Activations<T>& acts, const Gradients<T>& g,
                             const int32_t* target_rows, size_t n_targets, const TokenRows& groups) {
  const size_t t = rows.t, h = c_.hidden;
  const cudaStream_t s = kTrainStream;
  const float eps = static_cast<float>(c_.rms_eps);
  // d loss / d hf: the target rows' gradient, zero on the rows that predict nothing.
  check_cuda(cudaMemsetAsync(g.dh, 0, t * h * sizeof(T), s), "cudaMemsetAsync (final norm gradient)");
  check_launch(copy_rows<T>(g.targets_dh, h, nullptr, g.dh, h, target_rows, n_targets, h, s), "copy_rows");
  check_launch(rmsnorm_backward<T>(g.dh, acts.x_final, W(layout_.final_norm), acts.rstd_f, t, h, g.dx, false,
                                   G(layout_.final_norm), g.scratch, s),
               "rmsnorm_backward");
  for (size_t l = c_.layers; l-- > 0;) {
    const LayerActs<T> a = acts.layer(l);
    if (acts.keep == Keep::kInputs) {  // recompute the layer from its kept input
      check_launch(rmsnorm_forward<T>(a.x_in, W(layout_.layers[l].ln1), t, h, eps, a.h1, a.rstd1, s),
                   "rmsnorm_forward");
      layer_forward(l, rows, a, acts, gemm_, s);
    }
    layer_backward(l, rows, a, acts, g);
  }
  check_launch(embedding_backward<T>(g.dx, h, groups, G(layout_.embed), s), "embedding_backward");
}

template <typename T>
dapo_cuda_accumulate_stats CudaEngine<T>::accumulate(const dapo_cuda_accumulate_args& args) {
  phase_ = Phase::kTrain;
  const PackedPlan plan = plan_packed_batch(c_, args.batch);
  const size_t n = plan.n_targets, t = plan.n_tokens, h = c_.hidden;
  check_accumulate_args(args, n);
  const bool dapo = args.kind == DAPO_CUDA_LOSS_DAPO;
  const bool kl = dapo && args.kl_coef > 0;
  ensure_grads();
  dapo_cuda_accumulate_stats out{};
  if (n == 0) return out;  // nothing to predict: no gradient (the CPU adds zeros)
  ensure_rope(plan.longest);

  // Uploads: the index arrays (with the tokens grouped for the embedding's backward), then the
  // per-target inputs. Outputs: log-probs and entropy.
  TokenGroups token_groups;
  size_t bad_row = 0;
  if (!group_rows_by_token(args.batch.tokens, t, c_.vocab, token_groups, &bad_row))
    throw_range("tokens[" + std::to_string(bad_row) + "] is outside [0, vocabSize = " + std::to_string(c_.vocab) + ")");
  const int32_t* ints = upload_plan(plan, token_groups.packed);
  const int32_t* groups_at = ints + plan.ints.size();
  const TokenRows groups{groups_at + token_groups.ids_at(), groups_at + token_groups.starts_at(),
                         groups_at + token_groups.rows_at(), token_groups.n_ids};
  float* floats = target_floats_.ensure(alloc_, checked_mul(n, 5, "the per-target arrays"), "the per-target arrays");
  float *old_lp = floats, *adv = floats + n, *ref = floats + 2 * n, *lp = floats + 3 * n, *ent = floats + 4 * n;
  const cudaStream_t s = kTrainStream;
  if (dapo) {
    check_cuda(cudaMemcpyAsync(old_lp, args.old_logprobs, n * 4, cudaMemcpyHostToDevice, s), "cudaMemcpyAsync (oldLogprobs)");
    check_cuda(cudaMemcpyAsync(adv, args.advantages, n * 4, cudaMemcpyHostToDevice, s), "cudaMemcpyAsync (advantages)");
  }
  if (kl) check_cuda(cudaMemcpyAsync(ref, args.ref_logprobs, n * 4, cudaMemcpyHostToDevice, s), "cudaMemcpyAsync (refLogprobs)");
  uint8_t* mask = target_mask_.ensure(alloc_, n, "the target mask");
  if (args.mask) check_cuda(cudaMemcpyAsync(mask, args.mask, n, cudaMemcpyHostToDevice, s), "cudaMemcpyAsync (mask)");
  else check_cuda(cudaMemsetAsync(mask, 1, n, s), "cudaMemsetAsync (mask)");

  // Buffers: the activations the backward reads (every layer's, or each layer's input when
  // recomputing), the gradients' buffers and the ops' scratch, in one kept allocation.
  const Rows<T> rows = packed_rows(plan, ints);
  const Keep keep = options_.recompute ? Keep::kInputs : Keep::kAll;
  const size_t cap = row_capacity(t);
  Rows<T> sized = rows;
  sized.t = cap;
  const size_t scratch_bytes = backward_scratch_bytes(sized);
  auto carve = [&](Carver& c, Activations<T>* acts, Gradients<T>* g) {
    *acts = carve_activations(c, cap, keep);
    *g = carve_gradients(c, cap, row_capacity(n));
    g->scratch = c.take<char>(scratch_bytes);
  };
  Activations<T> acts;
  Gradients<T> g;
  Carver measure(nullptr);
  carve(measure, &acts, &g);
  Carver carver(train_arena_.ensure(alloc_, measure.used(), "the training pass's activations and gradients"));
  carve(carver, &acts, &g);

  embed_and_forward(rows, acts, gemm_, s);
  check_launch(copy_rows<T>(acts.hf, h, ints + plan.target_rows_at, g.targets_h, h, nullptr, n, h, s), "copy_rows");

  // The loss through the LM head: weights per target over the whole call (the caller's counts, or
  // this call's), then the fused LM head + loss sweep, then the fixed-order reduction.
  Scratch scratch;
  PrepInputs prep;
  prep.n = n;
  prep.vocab = c_.vocab;
  prep.tokens = ints + plan.target_tokens_at;
  prep.old_logprobs = dapo ? old_lp : nullptr;
  prep.advantages = dapo ? adv : nullptr;
  prep.mask = mask;
  prep.term = dapo ? kTermDapo : kTermNll;
  prep.aggregation = dapo ? args.aggregation : DAPO_CUDA_TOKEN_MEAN;
  prep.seq_ids = prep.aggregation != DAPO_CUDA_TOKEN_MEAN ? ints + plan.target_seqs_at : nullptr;
  prep.ref_logprobs = kl ? ref : nullptr;
  prep.token_count = args.token_count;
  prep.seq_count = dapo ? args.seq_count : -1;
  TokenArrays arrays;
  DeviceStatus* status = nullptr;
  check_cuda(prepare_loss(scratch, prep, &arrays, &status), "prepare_loss");
  arrays.ref_logprobs = prep.ref_logprobs;
  arrays.logprobs_out = lp;
  arrays.entropy_out = args.entropy_out ? ent : nullptr;
  LmHeadLossParams p;
  p.n = n;
  p.hidden = h;
  p.vocab = c_.vocab;
  p.dtype = kType;
  p.hidden_states = g.targets_h;
  p.weight = W(layout_.lm_head);
  p.gemm = &gemm_;  // the engine's plans and workspace, not a second per-thread Gemm
  p.grad_hidden = g.targets_dh;
  p.grad_weight = G(layout_.lm_head);
  p.tokens = arrays;
  p.clip = ClipConfig{args.clip_low, args.clip_high, args.clip_c, args.use_dual_clip != 0};
  p.term = prep.term;
  p.kl_coef = kl ? static_cast<float>(args.kl_coef) : 0.0f;
  p.temperature = dapo ? static_cast<float>(args.temperature) : 1.0f;
  p.entropy = args.entropy_out != nullptr;
  char message[512] = {0};
  check_status(lm_head_loss(p, scratch, s, message, sizeof message), "lm_head_loss", message);
  check_cuda(reduce_loss(n, arrays, status), "reduce_loss");

  backward(rows, acts, g, ints + plan.target_rows_at, n, groups);
  sync(s, "accumulate");
  // A bad input or a non-finite logit is reported here; the gradients then hold garbage and the
  // next step refuses them (a non-finite norm), as nothing is trained on silently.
  dapo_cuda_loss_stats st{};
  check_status(finish_loss(status, prep, &st, message, sizeof message), "accumulate", message);
  if (args.logprobs_out)
    check_cuda(cudaMemcpy(args.logprobs_out, lp, n * 4, cudaMemcpyDeviceToHost), "cudaMemcpy (log-probs)");
  if (args.entropy_out)
    check_cuda(cudaMemcpy(args.entropy_out, ent, n * 4, cudaMemcpyDeviceToHost), "cudaMemcpy (entropy)");
  out.loss = st.loss;
  out.clip_frac_low = st.clip_frac_low;
  out.clip_frac_high = st.clip_frac_high;
  out.clip_frac_dual = st.clip_frac_dual;
  out.approx_kl = st.approx_kl;
  out.kl_ref = st.kl_ref;
  out.tokens = st.tokens;
  return out;
}

#define DAPO_ENGINE_BACKWARD(T)                                                                                    \
  template Gradients<T> CudaEngine<T>::carve_gradients(Carver&, size_t, size_t) const;                            \
  template size_t CudaEngine<T>::backward_scratch_bytes(const Rows<T>&) const;                                    \
  template void CudaEngine<T>::layer_backward(size_t, const Rows<T>&, const LayerActs<T>&, const Activations<T>&,  \
                                              const Gradients<T>&);                                                \
  template void CudaEngine<T>::backward(const Rows<T>&, const Activations<T>&, const Gradients<T>&, const int32_t*, \
                                        size_t, const TokenRows&);                                                 \
  template dapo_cuda_accumulate_stats CudaEngine<T>::accumulate(const dapo_cuda_accumulate_args&);
DAPO_ENGINE_BACKWARD(float)
DAPO_ENGINE_BACKWARD(bf16)

}  // namespace dapo::cuda::model
