// The flat parameter layout of a decoder, shared by the CPU engine (native/model/engine.cc), the
// CUDA engine (native/cuda/model/engine*.cu) and the bindings that name parameters: every
// parameter lives at a fixed offset of one fp32 buffer, in Hugging Face's order, so weights,
// gradients and AdamW moments of both engines are addressed the same way.
#pragma once
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "model/config.h"
#include "optim/adamw.h"

namespace dapo {

struct ParamInfo {
  std::string name;            // Hugging Face name, e.g. model.layers.0.self_attn.q_proj.weight
  std::vector<size_t> shape;
  size_t offset = 0;           // into the flat parameter buffer
  size_t size = 0;
  bool decay = false;          // weight decay applies (matrices, not norms or biases)
};

// Offset of a parameter that this model does not have (biases without qkv_bias, ...).
constexpr size_t kNoParam = std::numeric_limits<size_t>::max();

// Offsets of one decoder layer's parameters (kNoParam where the model has none).
struct LayerParams {
  size_t ln1 = kNoParam, wq = kNoParam, bq = kNoParam, wk = kNoParam, bk = kNoParam, wv = kNoParam, bv = kNoParam,
         wo = kNoParam, qn = kNoParam, kn = kNoParam, ln2 = kNoParam, wg = kNoParam, wu = kNoParam, wd = kNoParam;
};

struct ParamLayout {
  std::vector<ParamInfo> params;       // in buffer order, back to back
  std::vector<AdamW::Span> spans;      // runs of parameters with weight decay on or off, covering [0, total)
  std::vector<LayerParams> layers;
  size_t total = 0;                    // floats in the flat buffer
  size_t embed = 0, final_norm = 0;
  size_t lm_head = 0;                  // == embed when the embeddings are tied

  // The offset of a parameter by name, or kNoParam.
  size_t offset_of(const std::string& name) const;
};

// The layout of a model of this shape. Validates the config (validate_config) and throws a range
// error when a parameter count does not fit in size_t.
ParamLayout param_layout(const ModelConfig& c);

// Normal(0, stddev) weights drawn from one mt19937_64 stream in buffer order, norms at 1, biases
// at 0: the random initialisation of builtin models, the same on every engine. w holds the
// parameters at their offsets (ParamLayout::total floats).
void init_random_weights(const std::vector<ParamInfo>& params, uint64_t seed, float stddev, float* w);

}  // namespace dapo
