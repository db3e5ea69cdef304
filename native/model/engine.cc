#include "model/engine.h"

#include <algorithm>
#include <atomic>
#include <climits>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <string>

#include "common/checked.h"
#include "common/error.h"
#include "common/thread_pool.h"
#include "model/gemm.h"
#include "model/layers.h"
#include "model/nll_loss.h"
#include "model/philox.h"
#include "loss/row_softmax.h"

namespace dapo {

namespace {
// Logits rows computed at once: bounds the [rows x vocab] buffers (about 64 MiB each).
constexpr size_t kLogitFloats = size_t(16) << 20;
}  // namespace

void validate_config(const ModelConfig& c) {
  auto need = [](bool ok, const std::string& msg) {
    if (!ok) throw_range(msg);
  };
  need(c.vocab > 0, "config vocab_size must be > 0");
  need(c.hidden > 0, "config hidden_size must be > 0");
  need(c.intermediate > 0, "config intermediate_size must be > 0");
  need(c.layers > 0, "config num_hidden_layers must be > 0");
  need(c.heads > 0, "config num_attention_heads must be > 0");
  need(c.kv_heads > 0 && c.heads % c.kv_heads == 0,
       "config num_key_value_heads = " + std::to_string(c.kv_heads) + " must divide num_attention_heads = " +
           std::to_string(c.heads));
  need(c.head_dim > 0 && c.head_dim % 2 == 0, "config head_dim = " + std::to_string(c.head_dim) + " must be even and > 0");
  need(c.max_positions > 0, "config max_position_embeddings must be > 0");
  need(c.rope_theta > 0, "config rope_theta must be > 0");
  need(c.rms_eps > 0, "config rms_norm_eps must be > 0");
}

// ---------------------------------------------------------------------------------------------
// Buffers

struct Engine::LayerBuf {
  std::vector<float> x_in, rstd1, h1, q_pre, k_pre, q_rstd, k_rstd, q, k, v, attn, lse, x_mid, rstd2, h2, gate, up,
      act;
  void size(const ModelConfig& c, size_t t) {
    const size_t h = c.hidden, qd = c.heads * c.head_dim, kvd = c.kv_heads * c.head_dim, in = c.intermediate;
    x_in.resize(t * h);
    rstd1.resize(t);
    h1.resize(t * h);
    if (c.qk_norm) {
      q_pre.resize(t * qd);
      k_pre.resize(t * kvd);
      q_rstd.resize(t * c.heads);
      k_rstd.resize(t * c.kv_heads);
    }
    q.resize(t * qd);
    k.resize(t * kvd);
    v.resize(t * kvd);
    attn.resize(t * qd);
    lse.resize(t * c.heads);
    x_mid.resize(t * h);
    rstd2.resize(t);
    h2.resize(t * h);
    gate.resize(t * in);
    up.resize(t * in);
    act.resize(t * in);
  }
};

// Where a layer's keys and values go and which of them each row attends to.
struct Engine::KvPlan {
  // Called with the rows' new k, v (after RoPE); fills the attention bases and counts.
  std::function<void(const float* k, const float* v, std::vector<const float*>& kb, std::vector<const float*>& vb,
                      std::vector<uint32_t>& count, size_t kv_stride_out[1])>
      place;
};

struct Engine::Targets {
  std::vector<uint32_t> row;      // predicting row of each target
  std::vector<int32_t> token;     // the target token
  std::vector<int32_t> seq;       // its sequence
  std::vector<size_t> seq_begin;  // [n_seqs + 1]: targets of sequence s
};

struct Engine::Forward {
  std::vector<std::vector<float>> xs;  // residual stream at each layer boundary (or two, ping-pong)
  std::vector<LayerBuf> bufs;          // per layer when recording, else one
  std::vector<float> hf, rstd_f;       // after the final norm
  std::vector<size_t> pos;
};

// ---------------------------------------------------------------------------------------------
// Parameters

// A layer's matrices packed once for the GEMM (generation runs many small-M products).
struct Engine::PackedLayer {
  PackedB q, k, v, o, g, u, d;
};

Engine::Engine(const ModelConfig& config) : c_(config), layout_(param_layout(c_)) {
  w_.assign(layout_.total, 0.0f);
  rope_.init(c_);
}

Engine::~Engine() = default;

void Engine::init_random(uint64_t seed, float stddev) {
  init_random_weights(layout_.params, seed, stddev, w_.data());
  zero_grad();
  opt_ = AdamW();
}

void Engine::zero_grad() { std::fill(g_.begin(), g_.end(), 0.0f); }

// Gradients (and AdamW's moments, in AdamW::step) are allocated when training starts, so a
// policy that only generates holds just its weights.
float* Engine::grads() {
  if (g_.size() != w_.size()) g_.assign(w_.size(), 0.0f);
  return g_.data();
}

AdamWStats Engine::step(const AdamWOptions& options) {
  return opt_.step(w_.data(), grads(), layout_.spans, w_.size(), options, true);
}

// ---------------------------------------------------------------------------------------------
// One decoder layer



// x_in (already in b.x_in) -> x_out. pos[t] is the position of row t in its sequence.
void Engine::layer_forward(size_t l, size_t t, const size_t* pos, LayerBuf& b, float* x_out,
                           const KvPlan& plan, const PackedLayer* pk) {
  const LayerParams& lw = layout_.layers[l];
  const ModelConfig& c = c_;
  const size_t h = c.hidden, hd = c.head_dim, qd = c.heads * hd, kvd = c.kv_heads * hd, in = c.intermediate;
  const float* w = w_.data();
  rmsnorm_forward(b.x_in.data(), w + lw.ln1, t, h, c.rms_eps, b.h1.data(), b.rstd1.data());
  float* q_lin = c.qk_norm ? b.q_pre.data() : b.q.data();
  float* k_lin = c.qk_norm ? b.k_pre.data() : b.k.data();
  // x W^T, from the prepacked copy when there is one (bitwise the same result).
  auto linear = [&](size_t n, size_t k, const float* x, size_t off, const PackedB* packed, float* out, bool acc) {
    if (packed) gemm_nt_packed(t, x, *packed, out, acc);
    else gemm_nt(t, n, k, x, w + off, out, acc);
  };
  linear(qd, h, b.h1.data(), lw.wq, pk ? &pk->q : nullptr, q_lin, false);
  linear(kvd, h, b.h1.data(), lw.wk, pk ? &pk->k : nullptr, k_lin, false);
  linear(kvd, h, b.h1.data(), lw.wv, pk ? &pk->v : nullptr, b.v.data(), false);
  if (c.qkv_bias) {
    add_bias(q_lin, t, qd, w + lw.bq);
    add_bias(k_lin, t, kvd, w + lw.bk);
    add_bias(b.v.data(), t, kvd, w + lw.bv);
  }
  if (c.qk_norm) {
    rmsnorm_forward(b.q_pre.data(), w + lw.qn, t * c.heads, hd, c.rms_eps, b.q.data(), b.q_rstd.data());
    rmsnorm_forward(b.k_pre.data(), w + lw.kn, t * c.kv_heads, hd, c.rms_eps, b.k.data(), b.k_rstd.data());
  }
  parallel_for(t, 16, [&](size_t begin, size_t end) {
    for (size_t r = begin; r < end; ++r) {
      rope_.apply(b.q.data() + r * qd, c.heads, pos[r], false);
      rope_.apply(b.k.data() + r * kvd, c.kv_heads, pos[r], false);
    }
  });
  std::vector<const float*> kb(t), vb(t);
  std::vector<uint32_t> count(t);
  size_t stride[1] = {kvd};
  plan.place(b.k.data(), b.v.data(), kb, vb, count, stride);
  AttentionRows ar;
  ar.rows = t;
  ar.heads = c.heads;
  ar.kv_heads = c.kv_heads;
  ar.head_dim = hd;
  ar.q = b.q.data();
  ar.k_base = kb.data();
  ar.v_base = vb.data();
  ar.count = count.data();
  ar.kv_stride = stride[0];
  ar.out = b.attn.data();
  ar.lse = b.lse.data();
  attention_forward(ar);
  std::memcpy(b.x_mid.data(), b.x_in.data(), t * h * sizeof(float));
  linear(h, qd, b.attn.data(), lw.wo, pk ? &pk->o : nullptr, b.x_mid.data(), true);
  rmsnorm_forward(b.x_mid.data(), w + lw.ln2, t, h, c.rms_eps, b.h2.data(), b.rstd2.data());
  linear(in, h, b.h2.data(), lw.wg, pk ? &pk->g : nullptr, b.gate.data(), false);
  linear(in, h, b.h2.data(), lw.wu, pk ? &pk->u : nullptr, b.up.data(), false);
  swiglu_forward(b.gate.data(), b.up.data(), t * in, b.act.data());
  std::memcpy(x_out, b.x_mid.data(), t * h * sizeof(float));
  linear(h, in, b.act.data(), lw.wd, pk ? &pk->d : nullptr, x_out, true);
}

// dx: gradient wrt the layer's output on entry, wrt its input on return. Packed sequences.
void Engine::layer_backward(size_t l, size_t t, const size_t* pos, const int32_t* offsets, size_t n_seqs,
                            LayerBuf& b, float* dx, Scratch& s) {
  const LayerParams& lw = layout_.layers[l];
  const ModelConfig& c = c_;
  const size_t h = c.hidden, hd = c.head_dim, qd = c.heads * hd, kvd = c.kv_heads * hd, in = c.intermediate;
  const float* w = w_.data();
  float* g = g_.data();
  s.a.resize(t * std::max(in, qd));
  s.b.resize(t * std::max(in, qd));
  s.c.resize(t * std::max(in, qd));
  s.d.resize(t * std::max(h, kvd));
  s.e.resize(t * std::max(h, kvd));
  // MLP
  float* d_act = s.a.data();
  gemm_nn(t, in, h, dx, w + lw.wd, d_act, false);
  gemm_tn(h, in, t, dx, b.act.data(), g + lw.wd, true);
  float* d_gate = s.b.data();
  float* d_up = s.c.data();
  swiglu_backward(d_act, b.gate.data(), b.up.data(), t * in, d_gate, d_up);
  gemm_tn(in, h, t, d_gate, b.h2.data(), g + lw.wg, true);
  gemm_tn(in, h, t, d_up, b.h2.data(), g + lw.wu, true);
  float* dh2 = s.d.data();
  gemm_nn(t, h, in, d_gate, w + lw.wg, dh2, false);
  gemm_nn(t, h, in, d_up, w + lw.wu, dh2, true);
  rmsnorm_backward(dh2, b.x_mid.data(), w + lw.ln2, b.rstd2.data(), t, h, dx, true, g + lw.ln2);
  // Attention output projection
  gemm_tn(h, qd, t, dx, b.attn.data(), g + lw.wo, true);
  float* d_attn = s.a.data();
  gemm_nn(t, qd, h, dx, w + lw.wo, d_attn, false);
  float* dq = s.b.data();
  float* dk = s.d.data();
  float* dv = s.e.data();
  AttentionBackward ab;
  ab.n_seqs = n_seqs;
  ab.heads = c.heads;
  ab.kv_heads = c.kv_heads;
  ab.head_dim = hd;
  ab.offsets = offsets;
  ab.q = b.q.data();
  ab.k = b.k.data();
  ab.v = b.v.data();
  ab.out = b.attn.data();
  ab.dout = d_attn;
  ab.lse = b.lse.data();
  ab.dq = dq;
  ab.dk = dk;
  ab.dv = dv;
  attention_backward(ab);
  parallel_for(t, 16, [&](size_t begin, size_t end) {
    for (size_t r = begin; r < end; ++r) {
      rope_.apply(dq + r * qd, c.heads, pos[r], true);
      rope_.apply(dk + r * kvd, c.kv_heads, pos[r], true);
    }
  });
  float* dq_lin = dq;
  float* dk_lin = dk;
  if (c.qk_norm) {
    dq_lin = s.c.data();
    s.f.resize(t * kvd);
    dk_lin = s.f.data();
    rmsnorm_backward(dq, b.q_pre.data(), w + lw.qn, b.q_rstd.data(), t * c.heads, hd, dq_lin, false, g + lw.qn);
    rmsnorm_backward(dk, b.k_pre.data(), w + lw.kn, b.k_rstd.data(), t * c.kv_heads, hd, dk_lin, false, g + lw.kn);
  }
  if (c.qkv_bias) {
    add_column_sums(dq_lin, t, qd, g + lw.bq);
    add_column_sums(dk_lin, t, kvd, g + lw.bk);
    add_column_sums(dv, t, kvd, g + lw.bv);
  }
  gemm_tn(qd, h, t, dq_lin, b.h1.data(), g + lw.wq, true);
  gemm_tn(kvd, h, t, dk_lin, b.h1.data(), g + lw.wk, true);
  gemm_tn(kvd, h, t, dv, b.h1.data(), g + lw.wv, true);
  s.g.resize(t * h);
  float* dh1 = s.g.data();
  gemm_nn(t, h, qd, dq_lin, w + lw.wq, dh1, false);
  gemm_nn(t, h, kvd, dk_lin, w + lw.wk, dh1, true);
  gemm_nn(t, h, kvd, dv, w + lw.wv, dh1, true);
  rmsnorm_backward(dh1, b.x_in.data(), w + lw.ln1, b.rstd1.data(), t, h, dx, true, g + lw.ln1);
}

// ---------------------------------------------------------------------------------------------
// Packed batches

size_t Engine::count_targets(const PackedBatch& batch) const { return dapo::count_targets(c_, batch); }


Engine::Targets Engine::targets_of(const PackedBatch& batch) const {
  Targets tg;
  tg.seq_begin.push_back(0);
  for (size_t s = 0; s < batch.n_seqs; ++s) {
    const size_t off = batch.offsets[s], len = batch.offsets[s + 1] - batch.offsets[s];
    const size_t p = std::max<size_t>(batch.prompt_lengths ? batch.prompt_lengths[s] : 0, 1);
    for (size_t t = p; t < len; ++t) {
      tg.row.push_back(static_cast<uint32_t>(off + t - 1));
      tg.token.push_back(batch.tokens[off + t]);
      tg.seq.push_back(static_cast<int32_t>(s));
    }
    tg.seq_begin.push_back(tg.row.size());
  }
  return tg;
}


// Bytes of the activations forward_packed keeps for t tokens in `sets` layer buffers, checked,
// so that a batch too large for the machine is refused before any buffer is sized.
size_t Engine::activation_bytes(size_t t, size_t sets) const {
  const ModelConfig& c = c_;
  const std::string what = "the activations of " + std::to_string(t) + " tokens";
  const size_t qd = checked_mul(c.heads, c.head_dim, what), kvd = checked_mul(c.kv_heads, c.head_dim, what);
  // Per token of one layer buffer: x_in, h1, x_mid, h2 (hidden each); q, attn (qd); k, v (kvd);
  // gate, up, act (intermediate); q_pre, k_pre under qk_norm; a few scalars per head.
  size_t per_token = checked_mul(4, c.hidden, what);
  per_token = checked_add(per_token, checked_mul(c.qk_norm ? 3 : 2, qd, what), what);
  per_token = checked_add(per_token, checked_mul(c.qk_norm ? 3 : 2, kvd, what), what);
  per_token = checked_add(per_token, checked_mul(3, c.intermediate, what), what);
  per_token = checked_add(per_token, checked_add(checked_mul(3, c.heads, what), c.kv_heads + 2, what), what);
  return checked_product({t, sets, per_token, sizeof(float)}, what);
}

// The whole stack over a packed batch; records activations for the backward pass when asked.
void Engine::forward_packed(const PackedBatch& batch, bool record, Forward& f) {
  const size_t t = batch.n_tokens, h = c_.hidden, kvd = c_.kv_heads * c_.head_dim;
  size_t longest = 0;
  for (size_t s = 0; s < batch.n_seqs; ++s)
    longest = std::max<size_t>(longest, static_cast<size_t>(batch.offsets[s + 1] - batch.offsets[s]));
  rope_.ensure(longest);  // tables only as far as this batch needs (contexts can be 128k)
  f.pos.resize(t);
  std::vector<uint32_t> seq_off(t);
  for (size_t s = 0; s < batch.n_seqs; ++s)
    for (int32_t i = batch.offsets[s]; i < batch.offsets[s + 1]; ++i) {
      f.pos[i] = static_cast<size_t>(i - batch.offsets[s]);
      seq_off[i] = static_cast<uint32_t>(batch.offsets[s]);
    }
  const size_t sets = record ? c_.layers : 1;
  check_fits_memory(activation_bytes(t, sets), "the activations of " + std::to_string(t) + " tokens");
  if (f.bufs.size() < sets) f.bufs.resize(sets);
  for (size_t i = 0; i < sets; ++i) f.bufs[i].size(c_, t);
  f.xs.assign(1, std::vector<float>());
  LayerBuf& b0 = f.bufs[0];
  const float* embed = w_.data() + layout_.embed;
  parallel_for(t, 64, [&](size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i)
      std::memcpy(b0.x_in.data() + i * h, embed + static_cast<size_t>(batch.tokens[i]) * h, h * sizeof(float));
  });
  KvPlan plan;
  plan.place = [&](const float* k, const float* v, std::vector<const float*>& kb, std::vector<const float*>& vb,
                   std::vector<uint32_t>& count, size_t* stride) {
    for (size_t i = 0; i < t; ++i) {
      kb[i] = k + static_cast<size_t>(seq_off[i]) * kvd;
      vb[i] = v + static_cast<size_t>(seq_off[i]) * kvd;
      count[i] = static_cast<uint32_t>(f.pos[i] + 1);
    }
    stride[0] = kvd;
  };
  std::vector<float> x_last(t * h);
  for (size_t l = 0; l < c_.layers; ++l) {
    LayerBuf& b = f.bufs[record ? l : 0];
    float* out = (record && l + 1 < c_.layers) ? f.bufs[l + 1].x_in.data() : x_last.data();
    layer_forward(l, t, f.pos.data(), b, out, plan);
    if (!record && l + 1 < c_.layers) std::swap(b.x_in, x_last);  // the output is the next input
  }
  f.xs[0] = std::move(x_last);
  f.hf.resize(t * h);
  f.rstd_f.resize(t);
  rmsnorm_forward(f.xs[0].data(), w_.data() + layout_.final_norm, t, h, c_.rms_eps, f.hf.data(), f.rstd_f.data());
}

// Divides logits by the sampling temperature the way the sampler and verl's actor do (a float
// division), so old and new log-probs of a response come from the same arithmetic.
static void divide_by_temperature(float* x, size_t count, double temperature) {
  if (temperature == 1.0) return;
  const float t = static_cast<float>(temperature);
  parallel_for(count, 16384, [&](size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i) x[i] /= t;
  });
}

// Runs the LM head over the targets in chunks. fn(r0, r1, logits, dlogits) sees the logits of
// targets [r0, r1), divided by the temperature, and when dhf is given writes their gradient
// into dlogits, which is pushed back (through the division) into dhf and the head's gradient.
void Engine::head_chunks(const Forward& f, const Targets& tg, const std::vector<size_t>& cuts, float* dhf,
                         double temperature, const std::function<void(size_t, size_t, const float*, float*)>& fn) {
  const size_t h = c_.hidden, v = c_.vocab;
  const float* head = w_.data() + layout_.lm_head;
  if (dhf) grads();
  std::vector<float> rows, logits, dlogits, drows;
  for (size_t ci = 0; ci + 1 < cuts.size(); ++ci) {
    const size_t r0 = cuts[ci], r1 = cuts[ci + 1], n = r1 - r0;
    if (n == 0) continue;
    rows.resize(n * h);
    for (size_t r = 0; r < n; ++r)
      std::memcpy(rows.data() + r * h, f.hf.data() + static_cast<size_t>(tg.row[r0 + r]) * h, h * sizeof(float));
    logits.resize(n * v);
    gemm_nt(n, v, h, rows.data(), head, logits.data(), false);
    divide_by_temperature(logits.data(), n * v, temperature);
    if (dhf) dlogits.resize(n * v);
    fn(r0, r1, logits.data(), dhf ? dlogits.data() : nullptr);
    if (!dhf) continue;
    divide_by_temperature(dlogits.data(), n * v, temperature);
    drows.resize(n * h);
    gemm_nn(n, h, v, dlogits.data(), head, drows.data(), false);
    gemm_tn(v, h, n, dlogits.data(), rows.data(), g_.data() + layout_.lm_head, true);
    for (size_t r = 0; r < n; ++r)
      std::memcpy(dhf + static_cast<size_t>(tg.row[r0 + r]) * h, drows.data() + r * h, h * sizeof(float));
  }
}

// Chunk boundaries over the targets: at most kLogitFloats / V rows, cut only between
// sequences when whole_sequences is set (the seq-mean aggregations need whole sequences).
std::vector<size_t> Engine::chunk_cuts(const Targets& tg, bool whole_sequences) const {
  const size_t limit = std::max<size_t>(1, kLogitFloats / c_.vocab);
  std::vector<size_t> cuts{0};
  const size_t total = tg.row.size();
  if (!whole_sequences) {
    for (size_t r = limit; r < total; r += limit) cuts.push_back(r);
  } else {
    size_t start = 0;
    for (size_t s = 1; s < tg.seq_begin.size(); ++s) {
      if (tg.seq_begin[s] - start > limit && tg.seq_begin[s - 1] > start) {
        cuts.push_back(tg.seq_begin[s - 1]);
        start = tg.seq_begin[s - 1];
      }
    }
  }
  cuts.push_back(total);
  return cuts;
}

Engine::Forward& Engine::reuse_forward() {
  if (!fwd_) fwd_ = std::make_unique<Forward>();
  return *fwd_;
}

void Engine::release_buffers() {
  fwd_.reset();
  scratch_.reset();
}

void Engine::backward_packed(const PackedBatch& batch, Forward& f, std::vector<float>& dhf) {
  grads();
  const size_t t = batch.n_tokens, h = c_.hidden;
  std::vector<float> dx(t * h);
  rmsnorm_backward(dhf.data(), f.xs[0].data(), w_.data() + layout_.final_norm, f.rstd_f.data(), t, h, dx.data(), false,
                   g_.data() + layout_.final_norm);
  if (!scratch_) scratch_ = std::make_unique<Scratch>();
  for (size_t l = c_.layers; l-- > 0;)
    layer_backward(l, t, f.pos.data(), batch.offsets, batch.n_seqs, f.bufs[l], dx.data(), *scratch_);
  float* ge = g_.data() + layout_.embed;
  parallel_for(h, 32, [&](size_t begin, size_t end) {
    for (size_t i = 0; i < t; ++i) {
      float* row = ge + static_cast<size_t>(batch.tokens[i]) * h;
      const float* d = dx.data() + i * h;
      for (size_t j = begin; j < end; ++j) row[j] += d[j];
    }
  });
}

void Engine::forward_logits(const int32_t* tokens, size_t t, float* logits) {
  const int32_t offsets[2] = {0, static_cast<int32_t>(t)};
  PackedBatch batch;
  batch.tokens = tokens;
  batch.n_tokens = t;
  batch.offsets = offsets;
  batch.n_seqs = 1;
  count_targets(batch);
  Forward& f = reuse_forward();
  forward_packed(batch, false, f);
  gemm_nt(t, c_.vocab, c_.hidden, f.hf.data(), w_.data() + layout_.lm_head, logits, false);
  require_finite_logits(logits, t * c_.vocab);
}

void require_finite_logits(const float* logits, size_t count) {
  std::atomic<bool> overflow{false};
  parallel_for(count, 65536, [&](size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i)
      if (!std::isfinite(logits[i])) overflow = true;
  });
  if (overflow) throw_nonfinite("the logits are not finite (the weights or activations overflowed)");
}

void Engine::logprobs(const PackedBatch& batch, float* out, float* entropy, double temperature) {
  count_targets(batch);
  const Targets tg = targets_of(batch);
  Forward& f = reuse_forward();
  forward_packed(batch, false, f);
  const size_t v = c_.vocab;
  std::atomic<bool> overflow{false};
  head_chunks(f, tg, chunk_cuts(tg, false), nullptr, temperature, [&](size_t r0, size_t r1, const float* logits, float*) {
    parallel_for(r1 - r0, 1 + 16384 / v, [&](size_t begin, size_t end) {
      for (size_t r = begin; r < end; ++r) {
        const float* row = logits + r * v;
        const RowStats st = row_stats_f32(row, v, entropy != nullptr);
        out[r0 + r] = row[tg.token[r0 + r]] - st.lse;
        if (entropy) entropy[r0 + r] = st.entropy;
        if (!st.finite || !std::isfinite(out[r0 + r]) || (entropy && !std::isfinite(st.entropy))) overflow = true;
      }
    });
  });
  if (overflow)
    throw_nonfinite("the log-probs are not finite: the logits overflowed (the weights or activations are too large)");
}

AccumulateResult Engine::accumulate_dapo(const PackedBatch& batch, const float* old_logprobs, const float* advantages,
                                         const uint8_t* mask, const LossOptions& options, float* out_logprobs,
                                         float* out_entropy, const float* ref_logprobs, double temperature) {
  const size_t n = count_targets(batch);
  const Targets tg = targets_of(batch);
  std::vector<uint8_t> ones;
  if (!mask) {
    ones.assign(n, 1);
    mask = ones.data();
  }
  // The divisors are the whole batch's (or the caller's), not each chunk's.
  LossOptions opts = options;
  if (opts.aggregation.token_count < 0) {
    double count = 0;
    for (size_t i = 0; i < n; ++i) count += mask[i] ? 1 : 0;
    opts.aggregation.token_count = count;
  }
  if (opts.aggregation.seq_count < 0) {
    double count = 0;
    for (size_t s = 0; s < batch.n_seqs; ++s) {
      bool any = false;
      for (size_t i = tg.seq_begin[s]; i < tg.seq_begin[s + 1]; ++i) any |= mask[i] != 0;
      count += any ? 1 : 0;
    }
    opts.aggregation.seq_count = count;
  }
  Forward& f = reuse_forward();
  forward_packed(batch, true, f);
  std::vector<float> dhf(batch.n_tokens * c_.hidden, 0.0f);
  std::vector<float> chunk_logprobs(n);
  std::vector<int32_t> local_seq(n);
  const bool seq_mode = opts.aggregation.mode != Aggregation::TokenMean;
  AccumulateResult res;
  double low = 0, high = 0, dual = 0, kl = 0, kl_ref = 0;
  head_chunks(f, tg, chunk_cuts(tg, seq_mode), dhf.data(), temperature,
              [&](size_t r0, size_t r1, const float* logits, float* dl) {
    LossInputs in;
    in.n = r1 - r0;
    in.from_logits = true;
    in.vocab = c_.vocab;
    in.logits_f32 = logits;
    in.tokens = tg.token.data() + r0;
    in.old_logprobs = old_logprobs + r0;
    in.advantages = advantages + r0;
    in.mask = mask + r0;
    in.ref_logprobs = ref_logprobs ? ref_logprobs + r0 : nullptr;
    if (seq_mode) {
      int32_t id = -1, last = -1;
      for (size_t r = r0; r < r1; ++r) {
        if (tg.seq[r] != last) {
          last = tg.seq[r];
          ++id;
        }
        local_seq[r] = id;
      }
      in.seq_ids = local_seq.data() + r0;
    }
    LossOutputs out;
    out.grad = dl;
    out.logprobs = (out_logprobs ? out_logprobs : chunk_logprobs.data()) + r0;
    out.entropy = out_entropy ? out_entropy + r0 : nullptr;
    LossOptions o = opts;
    o.entropy = out_entropy != nullptr;
    const LossStats st = dapo_loss(in, o, out);
    res.stats.loss += st.loss;
    res.stats.tokens += st.tokens;
    low += st.clip_frac_low * st.tokens;
    high += st.clip_frac_high * st.tokens;
    dual += st.clip_frac_dual * st.tokens;
    kl += st.approx_kl * st.tokens;
    kl_ref += st.kl_ref * st.tokens;
  });
  if (res.stats.tokens > 0) {
    const double count = static_cast<double>(res.stats.tokens);
    res.stats.clip_frac_low = low / count;
    res.stats.clip_frac_high = high / count;
    res.stats.clip_frac_dual = dual / count;
    res.stats.approx_kl = kl / count;
    res.stats.kl_ref = kl_ref / count;
  }
  backward_packed(batch, f, dhf);
  return res;
}

AccumulateResult Engine::accumulate_nll(const PackedBatch& batch, const uint8_t* mask, double token_count,
                                        float* out_logprobs, float* out_entropy) {
  const size_t n = count_targets(batch);
  const Targets tg = targets_of(batch);
  if (token_count < 0) {
    token_count = 0;
    for (size_t i = 0; i < n; ++i) token_count += (!mask || mask[i]) ? 1 : 0;
  }
  Forward& f = reuse_forward();
  forward_packed(batch, true, f);
  std::vector<float> dhf(batch.n_tokens * c_.hidden, 0.0f);
  std::vector<float> lp(n);
  AccumulateResult res;
  head_chunks(f, tg, chunk_cuts(tg, false), dhf.data(), 1.0, [&](size_t r0, size_t r1, const float* logits, float* dl) {
    const NllStats st = nll_loss(logits, r1 - r0, c_.vocab, tg.token.data() + r0, mask ? mask + r0 : nullptr,
                                 token_count, dl, (out_logprobs ? out_logprobs : lp.data()) + r0,
                                 out_entropy ? out_entropy + r0 : nullptr);
    res.stats.loss += st.loss;
    res.stats.tokens += st.tokens;
  });
  backward_packed(batch, f, dhf);
  return res;
}

// ---------------------------------------------------------------------------------------------
// Generation with a KV cache

GenerateResult Engine::generate(const GenerateArgs& a) {
  const size_t h = c_.hidden, kvd = c_.kv_heads * c_.head_dim, v = c_.vocab, np = a.n_prompts, n = a.n;
  if (np == 0) throw_range("prompts must hold at least one prompt");
  if (n == 0) throw_range("n must be >= 1");
  if (a.prompt_offsets[0] != 0) throw_range("prompt offsets must start at 0");
  const size_t nq = checked_mul(np, n, "prompts x n");
  std::vector<size_t> plen(np), cap(np);
  size_t positions = 0, most_tokens = 0;
  for (size_t p = 0; p < np; ++p) {
    const int64_t len = static_cast<int64_t>(a.prompt_offsets[p + 1]) - a.prompt_offsets[p];
    if (len < 1) throw_range("prompts[" + std::to_string(p) + "] is empty");
    if (static_cast<size_t>(len) >= c_.max_positions)
      throw_range("prompts[" + std::to_string(p) + "] has " + std::to_string(len) +
                  " tokens, which leaves no room in the context (max_position_embeddings = " +
                  std::to_string(c_.max_positions) + ")");
    for (int32_t i = a.prompt_offsets[p]; i < a.prompt_offsets[p + 1]; ++i)
      if (a.prompt_tokens[i] < 0 || static_cast<size_t>(a.prompt_tokens[i]) >= v)
        throw_range("prompts[" + std::to_string(p) + "][" + std::to_string(i - a.prompt_offsets[p]) + "] = " +
                    std::to_string(a.prompt_tokens[i]) + " is outside [0, vocabSize = " + std::to_string(v) + ")");
    plen[p] = static_cast<size_t>(len);
    // plen + max_new_tokens could wrap past size_t: add only what the context has room for.
    const size_t new_tokens = std::min(a.max_new_tokens, c_.max_positions - plen[p]);
    cap[p] = plen[p] + new_tokens;
    positions = checked_add(positions, checked_mul(cap[p], n, "the KV cache positions"), "the KV cache positions");
    most_tokens = checked_add(most_tokens, checked_mul(new_tokens, n, "the generated tokens"), "the generated tokens");
  }
  // The result's offsets are Int32Array entries.
  if (most_tokens > static_cast<size_t>(INT32_MAX))
    throw_range("prompts x n x maxNewTokens allows " + std::to_string(most_tokens) +
                " generated tokens, more than an Int32Array offset can address: split the call");
  // Everything sized by the sequences, before any of it is allocated: the KV cache of every
  // layer, and per sequence its bookkeeping and (at most) its tokens and log-probs.
  const size_t cache_bytes = checked_product({positions, kvd, 2 * c_.layers, sizeof(float)}, "the KV cache");
  const size_t seq_bytes = checked_add(checked_mul(nq, 128, "the sequences"), checked_mul(most_tokens, 8, "the tokens"),
                                       "the sequences");
  check_fits_memory(checked_add(cache_bytes, seq_bytes, "the KV cache"),
                    "generating " + std::to_string(nq) + " sequences (prompts x n)");
  for (size_t i = 0; i < a.n_stop; ++i)
    if (a.stop[i] < 0 || static_cast<size_t>(a.stop[i]) >= v)
      throw_range("stop[" + std::to_string(i) + "] = " + std::to_string(a.stop[i]) + " is outside [0, vocabSize)");
  rope_.ensure(*std::max_element(cap.begin(), cap.end()));

  // Cache: sequence q = p * n + j owns positions [base[q], base[q] + cap[p]) of each layer.
  std::vector<size_t> base(nq + 1, 0);
  for (size_t q = 0; q < nq; ++q) base[q + 1] = base[q] + cap[q / n];
  std::vector<std::vector<float>> kc(c_.layers), vc(c_.layers);
  for (size_t l = 0; l < c_.layers; ++l) {
    kc[l].resize(base[nq] * kvd);
    vc[l].resize(base[nq] * kvd);
  }

  // The weights do not change while generating: pack them for the GEMM once.
  std::vector<PackedLayer> packed(c_.layers);
  for (size_t l = 0; l < c_.layers; ++l) {
    const LayerParams& lw = layout_.layers[l];
    const float* w = w_.data();
    const size_t qd = c_.heads * c_.head_dim, in = c_.intermediate;
    pack_nt(qd, h, w + lw.wq, packed[l].q);
    pack_nt(kvd, h, w + lw.wk, packed[l].k);
    pack_nt(kvd, h, w + lw.wv, packed[l].v);
    pack_nt(h, qd, w + lw.wo, packed[l].o);
    pack_nt(in, h, w + lw.wg, packed[l].g);
    pack_nt(in, h, w + lw.wu, packed[l].u);
    pack_nt(h, in, w + lw.wd, packed[l].d);
  }
  PackedB head;
  pack_nt(v, h, w_.data() + layout_.lm_head, head);

  // Runs rows (sequence slot, position, token) through the stack, k/v into the cache, and
  // returns the final-norm hidden state of each row.
  LayerBuf b;
  std::vector<float> x_next, hf, rstd;
  auto run_rows = [&](const std::vector<size_t>& slot, const std::vector<size_t>& pos, const int32_t* tok) {
    const size_t t = slot.size();
    b.size(c_, t);
    x_next.resize(t * h);
    const float* embed = w_.data() + layout_.embed;
    for (size_t i = 0; i < t; ++i)
      std::memcpy(b.x_in.data() + i * h, embed + static_cast<size_t>(tok[i]) * h, h * sizeof(float));
    for (size_t l = 0; l < c_.layers; ++l) {
      KvPlan plan;
      plan.place = [&](const float* k, const float* vv, std::vector<const float*>& kb, std::vector<const float*>& vb,
                       std::vector<uint32_t>& count, size_t* stride) {
        for (size_t i = 0; i < t; ++i) {
          const size_t at = (base[slot[i]] + pos[i]) * kvd;
          std::memcpy(kc[l].data() + at, k + i * kvd, kvd * sizeof(float));
          std::memcpy(vc[l].data() + at, vv + i * kvd, kvd * sizeof(float));
          kb[i] = kc[l].data() + base[slot[i]] * kvd;
          vb[i] = vc[l].data() + base[slot[i]] * kvd;
          count[i] = static_cast<uint32_t>(pos[i] + 1);
        }
        stride[0] = kvd;
      };
      layer_forward(l, t, pos.data(), b, x_next.data(), plan, &packed[l]);
      std::swap(b.x_in, x_next);
    }
    hf.resize(t * h);
    rstd.resize(t);
    rmsnorm_forward(b.x_in.data(), w_.data() + layout_.final_norm, t, h, c_.rms_eps, hf.data(), rstd.data());
  };

  // Prefill each prompt once, into the slot of its first sample, then copy to the others.
  std::vector<size_t> slot, pos;
  for (size_t p = 0; p < np; ++p)
    for (size_t i = 0; i < plen[p]; ++i) {
      slot.push_back(p * n);
      pos.push_back(i);
    }
  run_rows(slot, pos, a.prompt_tokens);
  std::vector<float> last(np * h);
  for (size_t p = 0, row = 0; p < np; ++p) {
    row += plen[p];
    std::memcpy(last.data() + p * h, hf.data() + (row - 1) * h, h * sizeof(float));
  }
  for (size_t l = 0; l < c_.layers; ++l)
    for (size_t p = 0; p < np; ++p)
      for (size_t j = 1; j < n; ++j) {
        std::memcpy(kc[l].data() + base[p * n + j] * kvd, kc[l].data() + base[p * n] * kvd, plen[p] * kvd * sizeof(float));
        std::memcpy(vc[l].data() + base[p * n + j] * kvd, vc[l].data() + base[p * n] * kvd, plen[p] * kvd * sizeof(float));
      }

  std::vector<std::vector<int32_t>> out_tok(nq);
  std::vector<std::vector<float>> out_lp(nq);
  std::vector<uint8_t> finished(nq, 0), done(nq, 0);
  std::vector<float> logits;
  auto is_stop = [&](int32_t tok) {
    for (size_t i = 0; i < a.n_stop; ++i)
      if (a.stop[i] == tok) return true;
    return false;
  };
  const bool tempered = a.sampling.temperature > 0 && a.sampling.temperature != 1.0;
  // Samples the next token of each active sequence from its logits row.
  auto sample_rows = [&](const std::vector<size_t>& seqs, const float* rows_logits, const std::vector<size_t>& row_of) {
    std::vector<int32_t> tok(seqs.size());
    std::vector<float> lp(seqs.size());
    std::vector<uint8_t> bad(seqs.size(), 0);
    parallel_for(seqs.size(), 1, [&](size_t begin, size_t end) {
      thread_local SamplerScratch scratch;
      for (size_t i = begin; i < end; ++i) {
        const size_t q = seqs[i], p = q / n, j = q % n;
        const float* row = rows_logits + row_of[i] * v;
        const RowStats st = row_stats_f32(row, v, false);
        if (!st.finite) {
          bad[i] = 1;
          continue;
        }
        const double u = philox_uniform(a.seed, a.prompt_ids ? a.prompt_ids[p] : p, static_cast<uint32_t>(j),
                                        static_cast<uint32_t>(out_tok[q].size()));
        tok[i] = sample_token(row, v, a.sampling, u, scratch);
        if (!tempered) {
          lp[i] = row[tok[i]] - st.lse;
          continue;
        }
        // The log-prob under the distribution sampled from, computed as training will compute it.
        thread_local std::vector<float> scaled;
        scaled.assign(row, row + v);
        divide_by_temperature(scaled.data(), v, a.sampling.temperature);
        lp[i] = scaled[tok[i]] - row_stats_f32(scaled.data(), v, false).lse;
      }
    });
    for (size_t i = 0; i < seqs.size(); ++i)
      if (bad[i])
        throw_nonfinite("the logits of prompt " + std::to_string(seqs[i] / n) + ", sample " + std::to_string(seqs[i] % n) +
                    " are not finite at new token " + std::to_string(out_tok[seqs[i]].size()) +
                    " (the weights or activations overflowed)");
    for (size_t i = 0; i < seqs.size(); ++i) {
      const size_t q = seqs[i];
      out_tok[q].push_back(tok[i]);
      out_lp[q].push_back(lp[i]);
      if (is_stop(tok[i])) {
        finished[q] = 1;
        done[q] = 1;
      } else if (out_tok[q].size() >= a.max_new_tokens || plen[q / n] + out_tok[q].size() >= cap[q / n]) {
        done[q] = 1;
      }
    }
  };

  if (a.max_new_tokens > 0) {
    logits.resize(np * v);
    gemm_nt_packed(np, last.data(), head, logits.data(), false);
    std::vector<size_t> seqs(nq), row_of(nq);
    for (size_t q = 0; q < nq; ++q) {
      seqs[q] = q;
      row_of[q] = q / n;
    }
    sample_rows(seqs, logits.data(), row_of);
  }
  for (;;) {
    std::vector<size_t> active;
    for (size_t q = 0; q < nq; ++q)
      if (!done[q] && a.max_new_tokens > 0) active.push_back(q);
    if (active.empty()) break;
    slot = active;
    pos.resize(active.size());
    std::vector<int32_t> tok(active.size());
    std::vector<size_t> row_of(active.size());
    for (size_t i = 0; i < active.size(); ++i) {
      const size_t q = active[i];
      pos[i] = plen[q / n] + out_tok[q].size() - 1;
      tok[i] = out_tok[q].back();
      row_of[i] = i;
    }
    run_rows(slot, pos, tok.data());
    logits.resize(active.size() * v);
    gemm_nt_packed(active.size(), hf.data(), head, logits.data(), false);
    sample_rows(active, logits.data(), row_of);
  }

  GenerateResult r;
  r.offsets.push_back(0);
  for (size_t q = 0; q < nq; ++q) {
    r.tokens.insert(r.tokens.end(), out_tok[q].begin(), out_tok[q].end());
    r.logprobs.insert(r.logprobs.end(), out_lp[q].begin(), out_lp[q].end());
    r.offsets.push_back(static_cast<int32_t>(r.tokens.size()));
  }
  r.finished = finished;
  return r;
}

}  // namespace dapo
