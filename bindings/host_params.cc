#include "bindings/host_params.h"

#include "model/params.h"

namespace dapo::bind {

// One definition of the layout and the initialisation for both engines (native/model/params.h).
std::vector<ParamInfo> host_param_layout(const ModelConfig& config) { return param_layout(config).params; }

void with_random_weights(const ModelConfig& config, uint64_t seed, float std,
                         const std::function<void(const float*, size_t)>& use) {
  const ParamLayout layout = param_layout(config);
  std::vector<float> weights(layout.total);
  init_random_weights(layout.params, seed, std, weights.data());
  use(weights.data(), weights.size());
}

}  // namespace dapo::bind
