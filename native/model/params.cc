#include "model/params.h"

#include <random>

#include "common/checked.h"
#include "common/error.h"

namespace dapo {

namespace {

// The parameter count of a config, checked, before the per-layer list is built: a layer count
// such as 2^31 must be refused, not spend minutes and gigabytes naming parameters.
size_t parameter_count(const ModelConfig& c) {
  const std::string what = "the parameter count";
  const size_t h = c.hidden, qd = checked_mul(c.heads, c.head_dim, "num_attention_heads x head_dim"),
               kvd = checked_mul(c.kv_heads, c.head_dim, "num_key_value_heads x head_dim");
  size_t layer = checked_add(checked_mul(2, h, what), checked_mul(2, checked_mul(qd, h, what), what), what);
  layer = checked_add(layer, checked_mul(2, checked_mul(kvd, h, what), what), what);
  layer = checked_add(layer, checked_mul(3, checked_mul(c.intermediate, h, what), what), what);
  if (c.qkv_bias) layer = checked_add(layer, checked_add(qd, checked_mul(2, kvd, what), what), what);
  if (c.qk_norm) layer = checked_add(layer, checked_mul(2, c.head_dim, what), what);
  const size_t embed = checked_mul(checked_mul(c.vocab, h, what), c.tie_embeddings ? 1 : 2, what);
  return checked_add(checked_add(embed, checked_mul(c.layers, layer, what), what), h, what);
}

class LayoutBuilder {
 public:
  explicit LayoutBuilder(ParamLayout& layout) : l_(layout) {}

  size_t add(const std::string& name, std::vector<size_t> shape, bool decay) {
    ParamInfo p;
    p.name = name;
    p.size = 1;
    for (size_t d : shape) p.size = checked_mul(p.size, d, "the size of " + name);
    p.shape = std::move(shape);
    p.offset = l_.total;
    p.decay = decay;
    l_.total = checked_add(l_.total, p.size, "the parameter count");
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
  // Both engines hold (at least) the fp32 weights in host memory once: refuse what cannot fit.
  const size_t count = parameter_count(c);
  check_fits_memory(checked_mul(count, sizeof(float), "the parameters' bytes"),
                    "a model of " + std::to_string(count) + " parameters");
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
