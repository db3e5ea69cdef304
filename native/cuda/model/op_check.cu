// The registry of op checks and the C ABI entry that runs one (see op_check.cuh).
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <map>
#include <mutex>

#include "cuda/buffers.cuh"
#include "cuda/model/op_check.cuh"

namespace dapo::cuda::model {
namespace {

struct Registry {
  std::mutex mutex;
  std::vector<std::string> order;
  std::map<std::string, OpCheckFn> checks;
};

// Function-local, so registrations from other translation units' static initialisers find it
// constructed whatever the initialisation order.
Registry& registry() {
  static Registry r;
  return r;
}

}  // namespace

OpCheckRegistration::OpCheckRegistration(const char* name, OpCheckFn fn) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  if (r.checks.emplace(name, fn).second) r.order.push_back(name);
}

std::vector<std::string> registered_op_checks() {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  return r.order;
}

void OpReport::compare(const char* name, const float* got, const float* want, size_t n) {
  double scale = 0, worst = 0;
  for (size_t i = 0; i < n; ++i) {
    scale = std::fmax(scale, std::fabs(static_cast<double>(want[i])));
    const double d = std::fabs(static_cast<double>(got[i]) - static_cast<double>(want[i]));
    // A NaN anywhere is the worst error there is.
    worst = std::isnan(d) ? INFINITY : std::fmax(worst, d);
  }
  names.push_back(name);
  max_abs.push_back(worst);
  max_rel.push_back(worst / std::fmax(scale, 1e-30));
}

uint64_t CheckRng::next_u64() {
  uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

double CheckRng::uniform() { return static_cast<double>(next_u64() >> 11) * (1.0 / 9007199254740992.0); }

float CheckRng::normal() {
  // Box-Muller; 1 - u keeps the log's argument in (0, 1].
  const double u1 = 1.0 - uniform(), u2 = uniform();
  return static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
}

void CheckRng::fill_normal(float* x, size_t n, float scale) {
  for (size_t i = 0; i < n; ++i) x[i] = normal() * scale;
}

int32_t CheckRng::below(int32_t n) { return n <= 0 ? 0 : static_cast<int32_t>(next_u64() % static_cast<uint64_t>(n)); }

void round_to_bf16(float* x, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    uint32_t bits;
    std::memcpy(&bits, &x[i], 4);
    if ((bits & 0x7f800000u) == 0x7f800000u) {  // inf / nan: truncate, keep a nan a nan
      bits = (bits & 0x007fffffu) ? (bits | 0x00400000u) & 0xffff0000u : bits & 0xffff0000u;
    } else {
      bits += 0x7fffu + ((bits >> 16) & 1u);
      bits &= 0xffff0000u;
    }
    std::memcpy(&x[i], &bits, 4);
  }
}

}  // namespace dapo::cuda::model

extern "C" int dapo_cuda_op_check(const dapo_cuda_op_case* c, dapo_cuda_op_result* result, char* message,
                                  size_t message_size) {
  using namespace dapo::cuda::model;
  std::memset(result, 0, sizeof *result);
  if (!c || !c->op) return dapo::cuda::fail(DAPO_CUDA_ERR_ARGS, message, message_size, "op check: no op named");
  OpCheckFn fn = nullptr;
  {
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    auto it = r.checks.find(c->op);
    if (it != r.checks.end()) fn = it->second;
  }
  if (!fn) {
    std::snprintf(message, message_size, "op check: no check is registered under '%s'", c->op);
    return DAPO_CUDA_ERR_ARGS;
  }
  if (c->dtype != DAPO_CUDA_F32 && c->dtype != DAPO_CUDA_BF16)
    return dapo::cuda::fail(DAPO_CUDA_ERR_ARGS, message, message_size, "op check: dtype must be f32 or bf16");
  OpReport report;
  int rc = 0;
  try {
    rc = fn(*c, report, message, message_size);
  } catch (const std::exception& e) {  // a CPU twin's range error, std::bad_alloc, ...
    std::snprintf(message, message_size, "op check '%s': %s", c->op, e.what());
    return DAPO_CUDA_ERR_ARGS;
  }
  if (rc != 0) return rc;
  if (report.names.size() > DAPO_CUDA_OP_MAX_OUTPUTS)
    return dapo::cuda::fail(DAPO_CUDA_ERR_ARGS, message, message_size, "op check: too many outputs");
  result->n_outputs = static_cast<int>(report.names.size());
  for (size_t i = 0; i < report.names.size(); ++i) {
    std::snprintf(result->names[i], sizeof result->names[i], "%s", report.names[i].c_str());
    result->max_abs[i] = report.max_abs[i];
    result->max_rel[i] = report.max_rel[i];
  }
  result->cuda_ms = report.cuda_ms;
  return 0;
}

extern "C" int dapo_cuda_op_names(char* names, size_t names_size) {
  std::string all;
  for (const std::string& n : dapo::cuda::model::registered_op_checks()) {
    if (!all.empty()) all += ',';
    all += n;
  }
  if (names && names_size > 0) std::snprintf(names, names_size, "%s", all.c_str());
  return 0;
}
