// The kernel lab's shared pieces (lab.cuh).
#include <cmath>

#include "lab.cuh"

namespace lab {
namespace {

__device__ __forceinline__ uint64_t mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

__global__ void fill_kernel(void* dst, int dtype, size_t n, float scale, uint64_t seed) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    const uint64_t h = mix(seed * 0x9E3779B97F4A7C15ull + i);
    const float u = static_cast<float>(h >> 40) * (1.0f / 16777216.0f);  // [0, 1)
    const float x = (2.0f * u - 1.0f) * scale;
    if (dtype == 1) {
      static_cast<float*>(dst)[i] = x;
    } else {
      const unsigned bits = __float_as_uint(x);
      static_cast<uint16_t*>(dst)[i] = static_cast<uint16_t>((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
    }
  }
}

}  // namespace

void fill_uniform(void* dst, int dtype, size_t n, float scale, uint64_t seed) {
  fill_kernel<<<4096, 256>>>(dst, dtype, n, scale, seed);
  LAB_CHECK(cudaGetLastError());
}

double copy_gb_per_s(size_t bytes, int reps) {
  void *a = nullptr, *b = nullptr;
  LAB_CHECK(cudaMalloc(&a, bytes));
  LAB_CHECK(cudaMalloc(&b, bytes));
  LAB_CHECK(cudaMemset(a, 1, bytes));
  const float ms = median_ms(2, reps, 0, [&] { LAB_CHECK(cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice, 0)); });
  LAB_CHECK(cudaFree(a));
  LAB_CHECK(cudaFree(b));
  return 2.0 * static_cast<double>(bytes) / ms / 1e6;
}

void Json::key(const std::string& k) {
  if (!body_.empty()) body_ += ",";
  body_ += "\"" + k + "\":";
}

Json& Json::field(const std::string& k, double value) {
  key(k);
  if (std::isfinite(value)) {
    char text[64];
    std::snprintf(text, sizeof text, "%.6g", value);
    body_ += text;
  } else {
    body_ += "null";
  }
  return *this;
}

Json& Json::field(const std::string& k, const std::string& value) {
  key(k);
  std::string escaped;
  for (char c : value) {
    if (c == '"' || c == '\\') escaped += '\\';
    if (c == '\n') {
      escaped += "\\n";
      continue;
    }
    escaped += c;
  }
  body_ += "\"" + escaped + "\"";
  return *this;
}

Json& Json::field(const std::string& k, bool value) {
  key(k);
  body_ += value ? "true" : "false";
  return *this;
}

Json& Json::raw(const std::string& k, const std::string& json) {
  key(k);
  body_ += json;
  return *this;
}

std::string json_array(const std::vector<std::string>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) out += (i ? ",\n" : "\n") + items[i];
  return out + "]";
}

}  // namespace lab
