#include "model/params.h"

#include <random>

#include "common/error.h"

namespace dapo {

namespace {

// a * b, or a range error when the product does not fit (an absurd config).
size_t checked_mul(size_t a, size_t b, const std::string& what) {
  if (a != 0 && b > std::numeric_limits<size_t>::max() / a)
    throw_range("the model is too large: " + what + " overflows (" + std::to_string(a) + " x " + std::to_string(b) + ")");
  return a * b;
}

class LayoutBuilder {
 public:
  explicit LayoutBuilder(ParamLayout& layout) : l_(layout) {}

  size_t add(const std::string& name, std::vector<size_t> shape, bool decay) {
    ParamInfo p;
    p.name = name;
    p.size = 1;
    for (size_t d : shape) p.size = checked_mul(p.size, d, name);
    p.shape = std::move(shape);
    p.offset = l_.total;
    p.decay = decay;
    if (p.size > std::numeric_limits<size_t>::max() - l_.total)
      throw_range("the model is too large: its parameter count overflows at " + name);
    l_.total += p.size;
    l_.params.push_back(std::move(p));
    return l_.params.back().offset;
  }

 private:
  ParamLayout& l_;
};

}  // namespace

size_t ParamLayout::offset_of(const std::string& name) const {
  for (const auto& p : params)
    if (p.name == name) return p.offset;
  return kNoParam;
}

ParamLayout param_layout(const ModelConfig& c) {
  validate_config(c);
  ParamLayout layout;
  LayoutBuilder b(layout);
  const size_t h = c.hidden, qd = checked_mul(c.heads, c.head_dim, "heads x head_dim"),
               kvd = checked_mul(c.kv_heads, c.head_dim, "kv_heads x head_dim"), in = c.intermediate;
  layout.embed = b.add("model.embed_tokens.weight", {c.vocab, h}, true);
  layout.layers.resize(c.layers);
  for (size_t l = 0; l < c.layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    LayerParams& lp = layout.layers[l];
    lp.ln1 = b.add(p + "input_layernorm.weight", {h}, false);
    lp.wq = b.add(p + "self_attn.q_proj.weight", {qd, h}, true);
    if (c.qkv_bias) lp.bq = b.add(p + "self_attn.q_proj.bias", {qd}, false);
    lp.wk = b.add(p + "self_attn.k_proj.weight", {kvd, h}, true);
    if (c.qkv_bias) lp.bk = b.add(p + "self_attn.k_proj.bias", {kvd}, false);
    lp.wv = b.add(p + "self_attn.v_proj.weight", {kvd, h}, true);
    if (c.qkv_bias) lp.bv = b.add(p + "self_attn.v_proj.bias", {kvd}, false);
    lp.wo = b.add(p + "self_attn.o_proj.weight", {h, qd}, true);
    if (c.qk_norm) {
      lp.qn = b.add(p + "self_attn.q_norm.weight", {c.head_dim}, false);
      lp.kn = b.add(p + "self_attn.k_norm.weight", {c.head_dim}, false);
    }
    lp.ln2 = b.add(p + "post_attention_layernorm.weight", {h}, false);
    lp.wg = b.add(p + "mlp.gate_proj.weight", {in, h}, true);
    lp.wu = b.add(p + "mlp.up_proj.weight", {in, h}, true);
    lp.wd = b.add(p + "mlp.down_proj.weight", {h, in}, true);
  }
  layout.final_norm = b.add("model.norm.weight", {h}, false);
  layout.lm_head = c.tie_embeddings ? layout.embed : b.add("lm_head.weight", {c.vocab, h}, true);
  for (const auto& p : layout.params) {
    if (!layout.spans.empty() && layout.spans.back().decay == p.decay) layout.spans.back().end = p.offset + p.size;
    else layout.spans.push_back(AdamW::Span{p.offset, p.offset + p.size, p.decay});
  }
  return layout;
}

void init_random_weights(const std::vector<ParamInfo>& params, uint64_t seed, float stddev, float* w) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, stddev);
  for (const auto& p : params) {
    float* x = w + p.offset;
    const bool is_norm = p.name.find("norm") != std::string::npos;
    const bool is_bias = p.name.size() > 5 && p.name.compare(p.name.size() - 5, 5, ".bias") == 0;
    for (size_t i = 0; i < p.size; ++i) x[i] = is_norm ? 1.0f : is_bias ? 0.0f : normal(rng);
  }
}

}  // namespace dapo
