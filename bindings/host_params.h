// The CPU engine's parameter layout and random initialisation, for the CUDA engine's binding:
// the CUDA engine keeps its parameters at the same flat offsets, and a randomly initialised
// model (builtin:tiny) starts from the same weights on both engines.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "model/engine.h"

namespace dapo::bind {

std::vector<ParamInfo> host_param_layout(const ModelConfig& config);
// Calls use(weights, count) with the weights Engine::init_random(seed, std) would hold.
void with_random_weights(const ModelConfig& config, uint64_t seed, float std,
                         const std::function<void(const float*, size_t)>& use);

}  // namespace dapo::bind
