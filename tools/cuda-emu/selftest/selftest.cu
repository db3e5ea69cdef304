// The emulator's own test: kernels with a known defect, each of which the emulator must report
// as the error a GPU gives (or, for a missing barrier, expose in its schedule), and kernels that
// are right, which must compute the right thing. It backs the claims of tools/cuda-emu/README.md
// ("What it models faithfully"). Built by scripts/cuda-emu-build.sh through the same transform as
// dapo's sources; scripts/cuda-emu-test.sh runs it before the suites. Exit status 0: all held.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace {

constexpr unsigned kFull = 0xffffffffu;

// ---- kernels that are right -------------------------------------------------------------

// One block: the sum of in[0..n) by warp shuffles and a shared array of warp sums.
__global__ void block_sum(const float* in, int n, float* out) {
  __shared__ float warp_sums[32];
  float v = 0.0f;
  for (int i = threadIdx.x; i < n; i += blockDim.x) v += in[i];
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(kFull, v, o);
  if (threadIdx.x % 32 == 0) warp_sums[threadIdx.x / 32] = v;
  __syncthreads();
  if (threadIdx.x == 0) {
    float s = 0.0f;
    for (unsigned w = 0; w < blockDim.x / 32; ++w) s += warp_sums[w];
    *out = s;
  }
}

// Every thread of every block adds 1; votes count the odd lanes.
__global__ void count_all(unsigned* count, unsigned* odd_lanes) {
  atomicAdd(count, 1u);
  const unsigned odd = __ballot_sync(kFull, threadIdx.x % 2 == 1);
  if (threadIdx.x == 0 && blockIdx.x == 0) *odd_lanes = static_cast<unsigned>(__popc(odd));
}

// ---- kernels with a defect --------------------------------------------------------------

// A float4 view of a float array one element past its start: misaligned on a GPU.
__global__ void misaligned_load(const float* in, float* out) {
  const float4 q = *reinterpret_cast<const float4*>(in + 1);
  *out = q.x;
}

// Lanes 16..31 leave while lanes 0..15 shuffle with the full mask.
__global__ void shuffle_after_exit(float* out) {
  if (threadIdx.x >= 16) return;
  out[threadIdx.x] = __shfl_xor_sync(kFull, 1.0f, 1);
}

// Lane 0 waits at a shuffle with lane 1, which waits at __syncthreads for lane 0: a deadlock.
__global__ void shuffle_against_barrier(float* out) {
  if (threadIdx.x == 0) out[0] = __shfl_sync(0x3u, 1.0f, 1);
  else __syncthreads();
}

// Each thread reads its neighbour's value with no __syncthreads between the writes and reads.
__global__ void missing_barrier(float* out) {
  __shared__ float values[64];
  values[threadIdx.x] = static_cast<float>(threadIdx.x);
  out[threadIdx.x] = values[(threadIdx.x + 1) % 64];
}

// Launched with more threads than its bounds allow.
__global__ void __launch_bounds__(64) bounded(float* out) { out[threadIdx.x] = 1.0f; }

// Uses dynamic shared memory beyond the default 48 KiB without cudaFuncSetAttribute.
__global__ void big_shared(float* out) {
  extern __shared__ float smem[];
  smem[threadIdx.x] = 1.0f;
  out[threadIdx.x] = smem[threadIdx.x];
}

// One element past the end of its buffer (found in the AddressSanitizer build only).
__global__ void past_the_end(float* p, int n) { p[n] = 1.0f; }

// ---- the harness ------------------------------------------------------------------------

int g_failures = 0;

void expect(bool ok, const char* what) {
  std::printf("%s %s\n", ok ? "ok  " : "FAIL", what);
  if (!ok) ++g_failures;
}

// The launch's error, after a synchronisation; after an error the context is reset (as after a
// fault on a GPU, nothing else would run), which frees every allocation.
cudaError_t finish() {
  cudaError_t e = cudaGetLastError();
  if (e == cudaSuccess) e = cudaDeviceSynchronize();
  if (e != cudaSuccess) cudaDeviceReset();
  return e;
}

// A fresh buffer for each case (an earlier case's reset freed the last one).
float* buffer() {
  float* p = nullptr;
  if (cudaMalloc(reinterpret_cast<void**>(&p), 4096 * sizeof(float)) != cudaSuccess) {
    std::printf("FAIL cannot allocate\n");
    std::exit(1);
  }
  return p;
}

void right_kernels() {
  float* buf = buffer();
  std::vector<float> host(1000);
  for (size_t i = 0; i < host.size(); ++i) host[i] = static_cast<float>(i % 7);
  double want = 0;
  for (float x : host) want += x;
  cudaMemcpy(buf, host.data(), host.size() * sizeof(float), cudaMemcpyHostToDevice);
  block_sum<<<1, 256>>>(buf, 1000, buf + 1000);
  float got = 0;
  expect(finish() == cudaSuccess, "block_sum runs");
  cudaMemcpy(&got, buf + 1000, sizeof got, cudaMemcpyDeviceToHost);
  expect(got == static_cast<float>(want), "block_sum: shuffles and a shared array give the exact sum");

  unsigned* counters = reinterpret_cast<unsigned*>(buf + 2000);
  cudaMemset(counters, 0, 2 * sizeof(unsigned));
  count_all<<<7, 96>>>(counters, counters + 1);
  unsigned c[2] = {0, 0};
  expect(finish() == cudaSuccess, "count_all runs");
  cudaMemcpy(c, counters, sizeof c, cudaMemcpyDeviceToHost);
  expect(c[0] == 7 * 96 && c[1] == 16, "count_all: atomics count every thread, a ballot the odd lanes");
  cudaFree(buf);
}

void defects() {
  misaligned_load<<<1, 1>>>(buffer(), buffer());
  expect(finish() == cudaErrorMisalignedAddress, "a misaligned float4 load is cudaErrorMisalignedAddress");

  shuffle_after_exit<<<1, 32>>>(buffer());
  expect(finish() == cudaErrorIllegalInstruction, "a shuffle waiting for exited lanes is cudaErrorIllegalInstruction");

  shuffle_against_barrier<<<1, 32>>>(buffer());
  expect(finish() == cudaErrorLaunchTimeout, "a shuffle against a barrier is a deadlock (cudaErrorLaunchTimeout)");

  float* buf = buffer();
  missing_barrier<<<1, 64>>>(buf);
  std::vector<float> out(64);
  expect(finish() == cudaSuccess, "missing_barrier runs (a race is not an error)");
  cudaMemcpy(out.data(), buf, out.size() * sizeof(float), cudaMemcpyDeviceToHost);
  expect(std::isnan(out[0]) && out[63] == 0.0f,
         "a read before the writer ran sees the 0xff fill of fresh shared memory (NaN); one after it, the value");

  bounded<<<1, 128>>>(buffer());
  expect(finish() == cudaErrorLaunchOutOfResources, "more threads than __launch_bounds__ is cudaErrorLaunchOutOfResources");

  big_shared<<<1, 32, 64 << 10>>>(buffer());
  expect(finish() == cudaErrorInvalidValue, "64 KiB of dynamic shared memory without the opt-in is cudaErrorInvalidValue");
  cudaFuncSetAttribute(big_shared, cudaFuncAttributeMaxDynamicSharedMemorySize, 64 << 10);
  big_shared<<<1, 32, 64 << 10>>>(buffer());
  expect(finish() == cudaSuccess, "with the opt-in it runs");

#if defined(__SANITIZE_ADDRESS__)
  past_the_end<<<1, 1>>>(buffer(), 4096);
  expect(finish() == cudaErrorIllegalAddress, "a write past the end of an allocation is cudaErrorIllegalAddress (ASan build)");
#endif
}

}  // namespace

int main() {
  right_kernels();
  defects();
  std::printf("cuda-emu selftest: %d failure(s)\n", g_failures);
  return g_failures == 0 ? 0 : 1;
}
