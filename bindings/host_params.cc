#include "bindings/host_params.h"

#if __has_include("model/params.h")
#include "model/params.h"
#endif

namespace dapo::bind {

#if __has_include("model/params.h")

// One definition of the layout and the initialisation for both engines (native/model/params.h).
std::vector<ParamInfo> host_param_layout(const ModelConfig& config) { return param_layout(config).params; }

void with_random_weights(const ModelConfig& config, uint64_t seed, float std,
                         const std::function<void(const float*, size_t)>& use) {
  const ParamLayout layout = param_layout(config);
  std::vector<float> weights(layout.total);
  init_random_weights(layout.params, seed, std, weights.data());
  use(weights.data(), weights.size());
}

#else

// Until native/model/params.h exists, the CPU engine itself lays the parameters out and
// initialises them (at the cost of one host copy of the weights).
std::vector<ParamInfo> host_param_layout(const ModelConfig& config) { return Engine(config).params(); }

void with_random_weights(const ModelConfig& config, uint64_t seed, float std,
                         const std::function<void(const float*, size_t)>& use) {
  Engine engine(config);
  engine.init_random(seed, std);
  use(engine.weights(), engine.num_parameters());
}

#endif

}  // namespace dapo::bind
