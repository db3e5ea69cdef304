// The table-driven op test's device side (ggml's test-backend-ops): each op file registers a
// check that makes fresh random inputs from a seed, runs the CPU twin (native/model/, linked in
// from dapo_core) and the CUDA op on the same inputs, and reports the largest error of every
// output. dapo_cuda_op_check (C ABI, api.h) looks a check up by name; test/cuda/ops.test.ts
// holds the table of cases and the tolerances.
//
// Error measure, the same for every op: for an output `got` against the CPU's `want`,
//   max_abs = max_i |got_i - want_i|,  max_rel = max_abs / max(max_i |want_i|, 1e-30)
// (relative to the output's scale, so a near-zero element cannot blow it up).
// In bf16 mode the CPU twin runs in fp32 on the bf16-rounded inputs.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "cuda/api.h"

namespace dapo::cuda::model {

// A case as the C ABI passes it (dapo_cuda_op_case); `dims` and `params` mean what the op's
// check says (each check documents its own, and rejects a case it cannot run with
// DAPO_CUDA_ERR_ARGS naming the field).
using OpCase = dapo_cuda_op_case;

// Filled by a check: one entry per output compared.
struct OpReport {
  std::vector<std::string> names;
  std::vector<double> max_abs, max_rel;
  float cuda_ms = 0;  // device time of the CUDA op alone (events), for the perf column

  // Compares n values and appends the result under `name`.
  void compare(const char* name, const float* got, const float* want, size_t n);
};

using OpCheckFn = int (*)(const OpCase& c, OpReport& report, char* message, size_t message_size);

// Registers a check at load time: `static const OpCheckRegistration reg("rmsnorm_forward", fn);`
// in the op's check file, so adding an op never touches a shared table.
struct OpCheckRegistration {
  OpCheckRegistration(const char* name, OpCheckFn fn);
};

// The registered names, in registration order.
std::vector<std::string> registered_op_checks();

// Deterministic random numbers for the checks' inputs (splitmix64): the same seed gives the
// same inputs on every machine.
class CheckRng {
 public:
  explicit CheckRng(uint64_t seed) : state_(seed ^ 0x9E3779B97F4A7C15ull) {}
  uint64_t next_u64();
  double uniform();                                // [0, 1)
  float normal();                                  // N(0, 1)
  void fill_normal(float* x, size_t n, float scale);
  int32_t below(int32_t n);                        // [0, n)

 private:
  uint64_t state_;
};

// Rounds every value to the nearest bf16 (ties to even), in place: the bf16 mode's inputs.
void round_to_bf16(float* x, size_t n);

}  // namespace dapo::cuda::model
