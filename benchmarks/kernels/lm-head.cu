// The LM-head loss (lm_head_loss.cuh) timed through the CUDA module's C ABI,
// dapo_cuda_dapo_loss_hidden with every buffer on the device: N tokens, V = 151936, H = 896 and
// 3584, the default chunking and fixed chunk sizes; TFLOP/s of the 6 N H V flops and the peak
// extra device memory beside each. Its correctness is the op table's lm_head_loss rows
// (test/cuda/op-cases/loss.ts). The module is opened with dlopen, as the addon does, from
// beside this executable (or DAPO_CUDA_MODULE).
#include <dlfcn.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "cuda/api.h"
#include "lab.cuh"
#include "lm-head.h"

namespace {

using HiddenLoss = int (*)(const dapo_cuda_hidden_args*, dapo_cuda_loss_stats*, char*, size_t);

// The call's Gemm holds a workspace of its own beside the scratch the call reports
// (kWorkspaceBytes in native/cuda/model/gemm.cu); the memory target counts both.
constexpr double kGemmWorkspaceMiB = 32;

std::string module_path(const char* argv0) {
  if (const char* env = std::getenv("DAPO_CUDA_MODULE")) return env;
  char exe[4096];
  const ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
  const std::string path = len > 0 ? std::string(exe, static_cast<size_t>(len)) : std::string(argv0);
  return path.substr(0, path.find_last_of('/') + 1) + "libdapo_cuda.so";
}

struct HeadProblem {
  size_t n, h, v;
  void *hidden = nullptr, *weight = nullptr, *grad_hidden = nullptr, *grad_weight = nullptr;
  void *tokens = nullptr, *old = nullptr, *adv = nullptr, *mask = nullptr, *logprobs = nullptr;

  HeadProblem(size_t rows, size_t hidden_size, size_t vocab) : n(rows), h(hidden_size), v(vocab) {
    LAB_CHECK(cudaMalloc(&hidden, n * h * 2));
    LAB_CHECK(cudaMalloc(&weight, v * h * 2));
    LAB_CHECK(cudaMalloc(&grad_hidden, n * h * 4));
    LAB_CHECK(cudaMalloc(&grad_weight, v * h * 4));
    LAB_CHECK(cudaMalloc(&logprobs, n * 4));
    lab::fill_uniform(hidden, 2, n * h, 1.0f, 11);
    lab::fill_uniform(weight, 2, v * h, 0.05f, 12);
    std::vector<int32_t> t(n);
    std::vector<float> o(n), a(n);
    std::vector<uint8_t> m(n, 1);
    for (size_t i = 0; i < n; ++i) {
      t[i] = static_cast<int32_t>((i * 2654435761u) % v);
      o[i] = -1.0f - static_cast<float>((i * 7919) % 1200) / 100.0f;
      a[i] = static_cast<float>((i * 104729) % 400) / 100.0f - 2.0f;
    }
    tokens = upload(t.data(), n * 4);
    old = upload(o.data(), n * 4);
    adv = upload(a.data(), n * 4);
    mask = upload(m.data(), n);
  }
  ~HeadProblem() {
    for (void* p : {hidden, weight, grad_hidden, grad_weight, tokens, old, adv, mask, logprobs}) cudaFree(p);
  }
  static void* upload(const void* host, size_t bytes) {
    void* d = nullptr;
    LAB_CHECK(cudaMalloc(&d, bytes));
    LAB_CHECK(cudaMemcpy(d, host, bytes, cudaMemcpyHostToDevice));
    return d;
  }
  dapo_cuda_hidden_args args(size_t chunk_rows) const {
    dapo_cuda_hidden_args a{};
    dapo_cuda_loss_common& c = a.common;
    c.n = n;
    c.tokens = dapo_cuda_in{tokens, 1};
    c.old_logprobs = dapo_cuda_in{old, 1};
    c.advantages = dapo_cuda_in{adv, 1};
    c.mask = dapo_cuda_in{mask, 1};
    c.clip_low = 0.2f, c.clip_high = 0.28f, c.clip_c = 3.0f, c.use_dual_clip = 1;
    c.aggregation = DAPO_CUDA_TOKEN_MEAN;
    c.token_count = c.seq_count = -1;
    c.logprobs_out = dapo_cuda_out{logprobs, 1};
    a.hidden = h;
    a.vocab = v;
    a.hidden_states = dapo_cuda_in{hidden, 1};
    a.weight = dapo_cuda_in{weight, 1};
    a.grad_hidden = dapo_cuda_out{grad_hidden, 1};
    a.grad_weight = dapo_cuda_out{grad_weight, 1};
    a.chunk_rows = chunk_rows;
    return a;
  }
};

}  // namespace

std::string run_lm_head_lab(bool quick, const char* argv0, int* failures) {
  const std::string path = module_path(argv0);
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  HiddenLoss loss = handle ? reinterpret_cast<HiddenLoss>(dlsym(handle, "dapo_cuda_dapo_loss_hidden")) : nullptr;
  if (!loss) {
    std::printf("LM head: cannot open %s: %s\n", path.c_str(), dlerror());
    ++*failures;
    return "[]";
  }
  const size_t n = quick ? 2048 : 16384, v = 151936;
  const std::vector<size_t> chunks = quick ? std::vector<size_t>{0} : std::vector<size_t>{0, 256, 512, 1024};
  const int reps = quick ? 3 : 7;
  std::vector<std::string> rows;
  std::printf("LM head + loss from hidden states, N = %zu, V = %zu, bf16 (GEMMs in cuBLASLt):\n", n, v);
  for (size_t h : {size_t{896}, size_t{3584}}) {
    HeadProblem pr(n, h, v);
    for (size_t chunk : chunks) {
      const dapo_cuda_hidden_args a = pr.args(chunk);
      std::vector<float> times;
      dapo_cuda_loss_stats stats{};
      char message[1024] = {0};
      int rc = 0;
      for (int i = 0; i < 2 + reps && rc == 0; ++i) {
        rc = loss(&a, &stats, message, sizeof message);
        if (i >= 2) times.push_back(stats.kernel_ms);
      }
      lab::Json row;
      row.field("kernel", std::string("lm-head-loss")).field("n", static_cast<double>(n))
          .field("h", static_cast<double>(h)).field("v", static_cast<double>(v))
          .field("chunkRows", static_cast<double>(chunk));
      if (rc != 0) {
        std::printf("  H=%zu chunk %zu: FAILED: %s\n", h, chunk, message);
        ++*failures;
        rows.push_back(row.field("error", std::string(message)).str());
        continue;
      }
      std::sort(times.begin(), times.end());
      const float ms = times[times.size() / 2];
      const double tflops = 6.0 * n * h * v / ms / 1e9;
      const double extra_mib = static_cast<double>(stats.peak_extra_bytes) / (1 << 20) + kGemmWorkspaceMiB;
      std::printf("  H=%-5zu chunk %-5s %9.3f ms %6.0f TFLOP/s  extra %6.0f MiB (GEMM workspace included)\n", h,
                  chunk ? std::to_string(chunk).c_str() : "auto", ms, tflops, extra_mib);
      row.field("ms", ms).field("tflops", tflops).field("extraMiB", extra_mib);
      if (h == 896 && chunk == 0 && n == 16384) {
        const bool met = ms <= 25.0f && extra_mib < 1024;
        std::printf("  target H 896 <= 25 ms with under 1 GiB extra: %s\n", met ? "met" : "NOT met");
        row.field("target", std::string("<= 25 ms, < 1 GiB extra")).field("met", met);
      }
      rows.push_back(row.str());
    }
  }
  return lab::json_array(rows);
}
