// Shared pieces of the kernel lab (row-loss.cu, lm-head.cc): checked CUDA calls that end the
// lab with a message (it is a standalone program, not the library), timing with CUDA events,
// device fill with a counter-based hash, and a small JSON writer.
#pragma once
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace lab {

// The lab is a standalone executable: a failed CUDA call ends it with the call and the reason.
#define LAB_CHECK(call)                                                                                 \
  do {                                                                                                  \
    cudaError_t lab_status_ = (call);                                                                   \
    if (lab_status_ != cudaSuccess) {                                                                   \
      std::fprintf(stderr, "row_loss_lab: %s failed: %s (%s:%d)\n", #call, cudaGetErrorString(lab_status_), \
                   __FILE__, __LINE__);                                                                 \
      std::exit(2);                                                                                     \
    }                                                                                                   \
  } while (0)

// Median of per-run times of `run` (CUDA events around each), after `warmup` runs.
template <typename Run>
float median_ms(int warmup, int reps, cudaStream_t stream, Run run) {
  for (int i = 0; i < warmup; ++i) run();
  cudaEvent_t start, stop;
  LAB_CHECK(cudaEventCreate(&start));
  LAB_CHECK(cudaEventCreate(&stop));
  std::vector<float> times;
  for (int i = 0; i < reps; ++i) {
    LAB_CHECK(cudaEventRecord(start, stream));
    run();
    LAB_CHECK(cudaEventRecord(stop, stream));
    LAB_CHECK(cudaEventSynchronize(stop));
    float ms = 0;
    LAB_CHECK(cudaEventElapsedTime(&ms, start, stop));
    times.push_back(ms);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

// Fills n values of dtype (1 f32, 2 bf16 bits) with uniform values in [-scale, scale) from a
// hash of (seed, index): the same inputs on every run and device, made on the device.
void fill_uniform(void* dst, int dtype, size_t n, float scale, uint64_t seed);

// Device-to-device copy bandwidth (read + write bytes per second) over `bytes`.
double copy_gb_per_s(size_t bytes, int reps);

// Minimal JSON: objects built as strings.
class Json {
 public:
  Json& field(const std::string& key, double value);
  Json& field(const std::string& key, const std::string& value);
  Json& field(const std::string& key, bool value);
  Json& raw(const std::string& key, const std::string& json);
  std::string str() const { return "{" + body_ + "}"; }

 private:
  void key(const std::string& k);
  std::string body_;
};
std::string json_array(const std::vector<std::string>& items);

}  // namespace lab
