// Op check "sample_rows": sample_rows (sampler.cu) against sample_token (native/model/sampler.cc)
// on random rows, each row drawing with the same Philox u on both sides.
//
// dims:   [rows, vocab, top_k, layout, ld_pad, kind]
//   top_k   0: no limit (as SamplingOptions)
//   layout  0: sample_rows' own (a cluster of blocks per row on sm_90); 1: one block per row that
//           reads the row from global memory on every pass (the sm_80 path); 2: one block per row
//           holding the row in shared memory (the vocabulary must fit)
//   ld_pad  extra floats between rows, filled with NaN (a read past the vocabulary would show as
//           a bad row); an ld that is not a multiple of 4 misaligns rows for 16-byte loads
//   kind    0: mixed rows (row 0 flat, the others drawn from the kinds below); 1..6: every row of
//           one kind: 1 gaussian, 2 peaked (a few tokens far above the rest), 3 flat (nearly
//           uniform), 4 masked (half the logits -inf, some -1e30), 5 equal (one value, a few
//           -inf), 6 few values (rounded integers: many exact ties)
// params: [temperature (<= 0: greedy), top_p in (0, 1]]
// In bf16 mode the logits are rounded to bf16 (many more exact ties), still fp32 in memory.
//
// Outputs (each must be 0 but logprob):
//   token        rows whose token differs from sample_token's: reported as the count, so any
//                mismatch fails whatever the tolerance
//   logprob      against the CPU engine's generation log-prob (the logits divided by the
//                temperature in float, row_stats_f32's log-sum-exp; untempered when greedy)
//   repeat       rows whose token or log-prob bits differ between two launches
//   bad_row      failed checks of non-finite rows: a second launch with a NaN row, a +inf row and
//                an all -inf row must set *bad_row, give those rows token 0 and a NaN log-prob,
//                and leave every other row as it was; the clean launch must leave *bad_row 0
//   weight       sweep points where the device's fixed-point weight is further from
//                round(exp(x) 2^s) (long double) than the precision argument allows
//   cpu_vs_exact rows where sample_token disagrees with the exact (long double) statement of the
//                draw: checks the twin and the margin reasoning below
//
// Why the tokens can be compared exactly. Ties between logits cannot split the two sides: equal
// logits have equal weights on both sides and both order them by id (top-k, top-p, the draw);
// distinct logits give distinct CPU probabilities here (|(z - max) / T| stays far below the
// double exp underflow, and logits that differ by a float ulp differ in exp by far more than a
// double ulp), so the CPU's order by probability is the GPU's order by key. What remains is
// rounding: the two sides' cumulative masses differ by at most delta (sampler_math.cuh), so
// every row's draw is checked, in long double, to sit further than 4 delta from each boundary
// it depends on (its token's two edges, and the top-p cut); when it does not, the row draws
// again with the next position (a new u), and when the top-p cut itself is that close (it does
// not depend on u: e.g. equal logits with top_p * count an integer) the row is drawn afresh.
// Both happen with probability ~1e-8 per row on random data, but exact coincidences are common
// on the equal and few-valued kinds, and skipping them keeps the comparison exact.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <numeric>
#include <vector>

#include "common/thread_pool.h"
#include "cuda/check.cuh"
#include "cuda/model/op_check.cuh"
#include "cuda/model/ops.cuh"
#include "cuda/model/sampler_launch.cuh"
#include "cuda/model/sampler_math.cuh"
#include "loss/row_softmax.h"
#include "model/philox.h"
#include "model/sampler.h"

namespace dapo::cuda::model {
namespace {

using namespace sampler_math;

enum Kind { kMixed = 0, kGaussian, kPeaked, kFlat, kMasked, kEqual, kFew, kKinds };

void fill_row(CheckRng& rng, int kind, float* z, size_t v) {
  switch (kind) {
    case kPeaked: {
      rng.fill_normal(z, v, 1.0f);
      const int peaks = 1 + rng.below(3);
      for (int i = 0; i < peaks; ++i)
        z[rng.below(static_cast<int32_t>(v))] = static_cast<float>(std::log(static_cast<double>(v)) + 2 + 6 * rng.uniform());
      break;
    }
    case kFlat:
      rng.fill_normal(z, v, 0.05f);
      for (size_t i = 0; i < v; ++i) z[i] += 1.0f;
      break;
    case kMasked:
      rng.fill_normal(z, v, 2.0f);
      for (size_t i = 0; i < v; ++i) {
        const double r = rng.uniform();
        if (r < 0.5) z[i] = -INFINITY;
        else if (r < 0.55) z[i] = -1e30f;
      }
      z[rng.below(static_cast<int32_t>(v))] = 2.0f * rng.normal();
      break;
    case kEqual: {
      const float c = 4.0f * rng.normal();
      for (size_t i = 0; i < v; ++i) z[i] = rng.uniform() < 0.1 ? -INFINITY : c;
      z[rng.below(static_cast<int32_t>(v))] = c;
      break;
    }
    case kFew:
      rng.fill_normal(z, v, 2.0f);
      for (size_t i = 0; i < v; ++i) z[i] = std::nearbyint(z[i]);
      break;
    default: {  // kGaussian
      const float sigma = static_cast<float>(0.5 + 2.5 * rng.uniform());
      const float offset = 4.0f * rng.normal();
      rng.fill_normal(z, v, sigma);
      for (size_t i = 0; i < v; ++i) z[i] += offset;
    }
  }
}

// The exact (long double) statement of sample_token's draw, with how far it sits from the
// boundaries that decide it, in units of the largest weight (exp(0) = 1).
struct Exact {
  int32_t token = 0;
  long double margin = 0;      // from u S to the chosen token's two edges
  long double cut_margin = 0;  // from top_p S_K to the top-p cut's two sides (infinite: no top-p)
  long double total = 0;       // the row's total weight
};

Exact exact_draw(const float* z, size_t v, const SamplingOptions& o, double u, std::vector<long double>& w,
                 std::vector<int32_t>& order) {
  constexpr long double kInf = std::numeric_limits<long double>::infinity();
  Exact e;
  float mx = z[0];
  for (size_t i = 1; i < v; ++i) mx = z[i] > mx ? z[i] : mx;
  w.resize(v);
  for (size_t i = 0; i < v; ++i) {
    w[i] = z[i] == -INFINITY ? 0.0L : std::exp((static_cast<long double>(z[i]) - mx) / o.temperature);
    e.total += w[i];
  }
  // First element of `ids` (walked in order) whose running weight exceeds u times theirs.
  auto draw = [&](const int32_t* ids, size_t n) {
    long double kept = 0;
    for (size_t i = 0; i < n; ++i) kept += w[ids ? ids[i] : i];
    const long double target = u * kept;
    long double cum = 0;
    for (size_t i = 0; i < n; ++i) {
      const int32_t id = ids ? ids[i] : static_cast<int32_t>(i);
      const long double prev = cum;
      cum += w[id];
      if (cum > target) {
        e.token = id;
        e.margin = std::min(cum - target, target - prev);
        return;
      }
    }
    e.token = -1;  // not reached: u < 1
  };
  e.cut_margin = kInf;
  const bool filtered = (o.top_k > 0 && o.top_k < v) || o.top_p < 1.0;
  if (!filtered) {
    draw(nullptr, v);
    return e;
  }
  order.resize(v);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return z[a] > z[b] || (z[a] == z[b] && a < b); });
  size_t keep = o.top_k > 0 && o.top_k < v ? o.top_k : v;
  if (o.top_p < 1.0) {
    long double kept = 0;
    for (size_t i = 0; i < keep; ++i) kept += w[order[i]];
    const long double target = o.top_p * kept;
    long double cum = 0;
    for (size_t i = 0; i < keep; ++i) {
      const long double prev = cum;
      cum += w[order[i]];
      if (cum >= target) {
        e.cut_margin = std::min(cum - target, i > 0 ? target - prev : kInf);
        keep = i + 1;
        break;
      }
    }
  }
  draw(order.data(), keep);
  return e;
}

// The CPU engine's generation log-prob of `token` (engine.cc, generate): the logits divided by
// the temperature in float when tempered, then row_stats_f32's log-sum-exp. Rows with -inf
// (masked) logits, which row_stats refuses, take the same formula with them left out, in double.
float cpu_logprob(const float* z, size_t v, double temperature, int32_t token, std::vector<float>& scaled) {
  const float* row = z;
  if (temperature > 0 && temperature != 1.0) {
    const float t = static_cast<float>(temperature);
    scaled.assign(z, z + v);
    for (float& x : scaled) x /= t;
    row = scaled.data();
  }
  const RowStats st = row_stats_f32(row, v, false);
  if (st.finite) return row[token] - st.lse;
  double m = -INFINITY, sum = 0;
  for (size_t i = 0; i < v; ++i) m = std::isfinite(row[i]) && row[i] > m ? row[i] : m;
  for (size_t i = 0; i < v; ++i)
    if (std::isfinite(row[i])) sum += std::exp(static_cast<double>(row[i]) - m);
  return row[token] - static_cast<float>(m + std::log(sum));
}

// Device memory freed on every return path.
struct DeviceBuffer {
  void* ptr = nullptr;
  ~DeviceBuffer() {
    if (ptr) cudaFree(ptr);
  }
  cudaError_t alloc(size_t bytes) { return cudaMalloc(&ptr, bytes ? bytes : 1); }
  template <typename T>
  T* as() const {
    return static_cast<T*>(ptr);
  }
};

struct Stream {
  cudaStream_t s = nullptr;
  ~Stream() {
    if (s) cudaStreamDestroy(s);
  }
};

struct Events {
  cudaEvent_t start = nullptr, stop = nullptr;
  ~Events() {
    if (start) cudaEventDestroy(start);
    if (stop) cudaEventDestroy(stop);
  }
};

__global__ void weight_sweep(const double* x, uint64_t* w, int n, int s, double cutoff) {
  __shared__ double table[kExp2TableSize];
  if (threadIdx.x < kExp2TableSize) table[threadIdx.x] = kExp2Table[threadIdx.x];
  __syncthreads();
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) w[i] = fixed_weight(x[i], s, cutoff, table);
}

// A count of failures, reported so that any failure is above every tolerance.
void report_count(OpReport& report, const char* name, size_t failures) {
  report.names.push_back(name);
  report.max_abs.push_back(static_cast<double>(failures));
  report.max_rel.push_back(static_cast<double>(failures));
}

int fail(int status, char* message, size_t message_size, const char* text) {
  std::snprintf(message, message_size, "sample_rows check: %s", text);
  return status;
}

// Weight sweep: fixed_weight on the device against round(exp(x) 2^s) in long double. Allowed:
// 1 unit (the rounding of either side) plus 2^(s-50) (a weight's relative error bound 2^-50).
int check_weights(int s, CheckRng& rng, cudaStream_t stream, size_t& failures, char* message, size_t message_size) {
  const double cutoff = weight_cutoff(s);
  std::vector<double> x;
  for (int i = 0; i <= 4096; ++i) x.push_back(cutoff * i / 4096.0);
  for (int i = 0; i < 4096; ++i) x.push_back(cutoff * rng.uniform());
  for (int k = 0; k < 64 * (s + 2); k += 7) x.push_back(-k * 0.6931471805599453 / 64);  // table nodes
  x.push_back(-1e-300);
  x.push_back(std::nextafter(cutoff, 0.0));
  x.push_back(std::nextafter(cutoff, -1.0));
  x.push_back(-INFINITY);
  const int n = static_cast<int>(x.size());
  DeviceBuffer dx, dw;
  DAPO_CUDA_TRY(dx.alloc(n * sizeof(double)), message, message_size);
  DAPO_CUDA_TRY(dw.alloc(n * sizeof(uint64_t)), message, message_size);
  DAPO_CUDA_TRY(cudaMemcpyAsync(dx.ptr, x.data(), n * sizeof(double), cudaMemcpyHostToDevice, stream), message,
                message_size);
  weight_sweep<<<(n + 255) / 256, 256, 0, stream>>>(dx.as<double>(), dw.as<uint64_t>(), n, s, cutoff);
  DAPO_CUDA_TRY(cudaGetLastError(), message, message_size);
  std::vector<uint64_t> w(n);
  DAPO_CUDA_TRY(cudaMemcpyAsync(w.data(), dw.ptr, n * sizeof(uint64_t), cudaMemcpyDeviceToHost, stream), message,
                message_size);
  DAPO_CUDA_TRY(cudaStreamSynchronize(stream), message, message_size);
  const long double allowed = 1.0L + std::ldexp(1.0L, s - 50);
  for (int i = 0; i < n; ++i) {
    const long double want = std::isfinite(x[i]) ? std::round(std::ldexp(std::exp(static_cast<long double>(x[i])), s)) : 0;
    if (std::fabs(static_cast<long double>(w[i]) - want) > allowed) ++failures;
  }
  if (w[0] != (uint64_t{1} << s)) ++failures;  // exp(0) is exactly 2^s: the max token's weight
  return 0;
}

struct Case {
  size_t rows, vocab, ld;
  SamplingOptions opts;
  int layout, kind;
  bool bf16;
};

// Draws the rows and, for each, a u away from every boundary (see the file comment); fills the
// CPU's tokens and log-probs and the exact draw's tokens.
int make_rows(const Case& c, uint64_t seed, std::vector<float>& logits, std::vector<uint64_t>& prompt_id,
              std::vector<uint32_t>& position, std::vector<int32_t>& cpu_token, std::vector<int32_t>& exact_token,
              std::vector<float>& cpu_lp, char* message, size_t message_size) {
  const size_t v = c.vocab;
  const int s = weight_bits(v);
  const bool greedy = c.opts.temperature <= 0;
  std::vector<int> failed(c.rows, 0);
  parallel_for(c.rows, 1, [&](size_t begin, size_t end) {
    SamplerScratch scratch;
    std::vector<long double> w;
    std::vector<int32_t> order;
    std::vector<float> scaled;
    for (size_t r = begin; r < end; ++r) {
      CheckRng rng(seed * 0x9E3779B97F4A7C15ull + r + 1);
      float* z = logits.data() + r * c.ld;
      const int kind = c.kind != kMixed ? c.kind : r == 0 ? kFlat : 1 + rng.below(kKinds - 1);
      prompt_id[r] = rng.next_u64();
      position[r] = 0;
      bool ok = greedy;
      if (greedy) {
        fill_row(rng, kind, z, v);
        if (c.bf16) round_to_bf16(z, v);
      }
      for (int fresh = 0; fresh < 16 && !ok; ++fresh) {
        fill_row(rng, kind, z, v);
        if (c.bf16) round_to_bf16(z, v);
        for (uint32_t pos = 0; pos < 64 && !ok; ++pos) {
          const double u = philox_uniform(seed, prompt_id[r], static_cast<uint32_t>(r), pos);
          const Exact e = exact_draw(z, v, c.opts, u, w, order);
          const long double delta = 4 * (v * (std::ldexp(1.0L, -(s + 1)) + std::ldexp(1.0L, -50)) +
                                         v * std::ldexp(1.0L, -52) * e.total);
          if (e.cut_margin < delta) break;  // the top-p cut itself is on the edge: new logits
          if (e.margin >= delta) {
            ok = true;
            position[r] = pos;
            exact_token[r] = e.token;
          }
        }
      }
      if (!ok) {
        failed[r] = 1;
        continue;
      }
      const double u = philox_uniform(seed, prompt_id[r], static_cast<uint32_t>(r), position[r]);
      cpu_token[r] = sample_token(z, v, c.opts, u, scratch);
      if (greedy) exact_token[r] = cpu_token[r];
      cpu_lp[r] = cpu_logprob(z, v, c.opts.temperature, cpu_token[r], scaled);
    }
  });
  for (size_t r = 0; r < c.rows; ++r)
    if (failed[r]) {
      std::snprintf(message, message_size,
                    "sample_rows check: row %zu found no draw away from the rounding boundaries in 16 x 64 tries", r);
      return DAPO_CUDA_ERR_ARGS;
    }
  return 0;
}

// Launches the sampler on the device rows and copies tokens, log-probs and the bad-row flag back.
struct Run {
  std::vector<int32_t> token;
  std::vector<float> logprob;
  int32_t bad = 0;
};

int check_sample_rows(const OpCase& oc, OpReport& report, char* message, size_t message_size) {
  const int64_t* d = oc.dims;
  if (d[0] < 1 || d[0] > 65536) return fail(DAPO_CUDA_ERR_ARGS, message, message_size, "dims[0] (rows) must be in [1, 65536]");
  if (d[1] < 1 || d[1] > (int64_t{1} << 24)) return fail(DAPO_CUDA_ERR_ARGS, message, message_size, "dims[1] (vocab) must be in [1, 2^24]");
  if (d[2] < 0) return fail(DAPO_CUDA_ERR_ARGS, message, message_size, "dims[2] (top_k) must be >= 0");
  if (d[3] < 0 || d[3] > 2) return fail(DAPO_CUDA_ERR_ARGS, message, message_size, "dims[3] (layout) must be 0, 1 or 2");
  if (d[4] < 0 || d[4] > 64) return fail(DAPO_CUDA_ERR_ARGS, message, message_size, "dims[4] (ld_pad) must be in [0, 64]");
  if (d[5] < 0 || d[5] >= kKinds) return fail(DAPO_CUDA_ERR_ARGS, message, message_size, "dims[5] (kind) must be in [0, 6]");
  if (!(oc.params[1] > 0 && oc.params[1] <= 1)) return fail(DAPO_CUDA_ERR_ARGS, message, message_size, "params[1] (top_p) must be in (0, 1]");
  if (static_cast<double>(d[0]) * static_cast<double>(d[1] + d[4]) > 3e8)
    return fail(DAPO_CUDA_ERR_ARGS, message, message_size, "rows * (vocab + ld_pad) must stay below 3e8");
  Case c{static_cast<size_t>(d[0]), static_cast<size_t>(d[1]), static_cast<size_t>(d[1] + d[4]),
         SamplingOptions{oc.params[0], oc.params[1], static_cast<size_t>(d[2])}, static_cast<int>(d[3]),
         static_cast<int>(d[5]), oc.dtype == DAPO_CUDA_BF16};
  const SampleLayout layouts[] = {SampleLayout::kAuto, SampleLayout::kStreamed, SampleLayout::kSingleResident};
  const SampleLayout layout = layouts[c.layout];
  const size_t rows = c.rows, v = c.vocab;

  std::vector<float> logits(rows * c.ld, NAN);
  std::vector<uint64_t> prompt_id(rows);
  std::vector<uint32_t> sample(rows), position(rows);
  std::iota(sample.begin(), sample.end(), 0u);
  std::vector<int32_t> cpu_token(rows), exact_token(rows);
  std::vector<float> cpu_lp(rows);
  int rc = make_rows(c, oc.seed, logits, prompt_id, position, cpu_token, exact_token, cpu_lp, message, message_size);
  if (rc != 0) return rc;

  Stream stream;
  Events ev;
  DAPO_CUDA_TRY(cudaStreamCreate(&stream.s), message, message_size);
  DAPO_CUDA_TRY(cudaEventCreate(&ev.start), message, message_size);
  DAPO_CUDA_TRY(cudaEventCreate(&ev.stop), message, message_size);
  DeviceBuffer d_logits, d_prompt, d_sample, d_position, d_token, d_logprob, d_bad;
  DAPO_CUDA_TRY(d_logits.alloc(logits.size() * sizeof(float)), message, message_size);
  DAPO_CUDA_TRY(d_prompt.alloc(rows * sizeof(uint64_t)), message, message_size);
  DAPO_CUDA_TRY(d_sample.alloc(rows * sizeof(uint32_t)), message, message_size);
  DAPO_CUDA_TRY(d_position.alloc(rows * sizeof(uint32_t)), message, message_size);
  DAPO_CUDA_TRY(d_token.alloc(rows * sizeof(int32_t)), message, message_size);
  DAPO_CUDA_TRY(d_logprob.alloc(rows * sizeof(float)), message, message_size);
  DAPO_CUDA_TRY(d_bad.alloc(sizeof(int32_t)), message, message_size);
  cudaStream_t st = stream.s;
  DAPO_CUDA_TRY(cudaMemcpyAsync(d_logits.ptr, logits.data(), logits.size() * sizeof(float), cudaMemcpyHostToDevice, st),
                message, message_size);
  DAPO_CUDA_TRY(cudaMemcpyAsync(d_prompt.ptr, prompt_id.data(), rows * sizeof(uint64_t), cudaMemcpyHostToDevice, st),
                message, message_size);
  DAPO_CUDA_TRY(cudaMemcpyAsync(d_sample.ptr, sample.data(), rows * sizeof(uint32_t), cudaMemcpyHostToDevice, st),
                message, message_size);
  DAPO_CUDA_TRY(cudaMemcpyAsync(d_position.ptr, position.data(), rows * sizeof(uint32_t), cudaMemcpyHostToDevice, st),
                message, message_size);

  SampleArgs a;
  a.rows = rows;
  a.vocab = v;
  a.ld = c.ld;
  a.logits = d_logits.as<float>();
  a.temperature = c.opts.temperature;
  a.top_p = c.opts.top_p;
  a.top_k = c.opts.top_k;
  a.seed = oc.seed;
  a.prompt_id = d_prompt.as<uint64_t>();
  a.sample = d_sample.as<uint32_t>();
  a.position = d_position.as<uint32_t>();
  a.token = d_token.as<int32_t>();
  a.logprob = d_logprob.as<float>();
  a.bad_row = d_bad.as<int32_t>();
  DeviceBuffer d_scratch;
  DAPO_CUDA_TRY(d_scratch.alloc(sample_scratch_bytes(rows, v)), message, message_size);

  auto launch = [&](Run& out, bool timed) -> int {
    DAPO_CUDA_TRY(cudaMemsetAsync(d_bad.ptr, 0, sizeof(int32_t), st), message, message_size);
    if (timed) DAPO_CUDA_TRY(cudaEventRecord(ev.start, st), message, message_size);
    DAPO_CUDA_TRY(sample_rows_layout(a, d_scratch.ptr, st, layout), message, message_size);
    if (timed) DAPO_CUDA_TRY(cudaEventRecord(ev.stop, st), message, message_size);
    out.token.resize(rows);
    out.logprob.resize(rows);
    DAPO_CUDA_TRY(cudaMemcpyAsync(out.token.data(), d_token.ptr, rows * sizeof(int32_t), cudaMemcpyDeviceToHost, st),
                  message, message_size);
    DAPO_CUDA_TRY(cudaMemcpyAsync(out.logprob.data(), d_logprob.ptr, rows * sizeof(float), cudaMemcpyDeviceToHost, st),
                  message, message_size);
    DAPO_CUDA_TRY(cudaMemcpyAsync(&out.bad, d_bad.ptr, sizeof(int32_t), cudaMemcpyDeviceToHost, st), message,
                  message_size);
    DAPO_CUDA_TRY(cudaStreamSynchronize(st), message, message_size);
    return 0;
  };

  Run first, second, poisoned;
  if ((rc = launch(first, false)) != 0) return rc;
  if ((rc = launch(second, true)) != 0) return rc;
  DAPO_CUDA_TRY(cudaEventElapsedTime(&report.cuda_ms, ev.start, ev.stop), message, message_size);

  // Non-finite rows: NaN in row 0, +inf in the last row, nothing but -inf in row 1.
  CheckRng rng(oc.seed ^ 0x5DEECE66Dull);
  std::vector<size_t> bad_rows{0};
  logits[rng.below(static_cast<int32_t>(v))] = NAN;
  if (rows >= 2) {
    bad_rows.push_back(rows - 1);
    logits[(rows - 1) * c.ld + rng.below(static_cast<int32_t>(v))] = INFINITY;
  }
  if (rows >= 3) {
    bad_rows.push_back(1);
    std::fill(logits.begin() + c.ld, logits.begin() + c.ld + v, -INFINITY);
  }
  for (size_t r : bad_rows)
    DAPO_CUDA_TRY(cudaMemcpyAsync(d_logits.as<float>() + r * c.ld, logits.data() + r * c.ld, v * sizeof(float),
                                  cudaMemcpyHostToDevice, st),
                  message, message_size);
  if ((rc = launch(poisoned, false)) != 0) return rc;

  size_t token_mismatch = 0, repeat = 0, bad_fail = 0, cpu_exact = 0;
  std::vector<float> got_lp(rows);
  for (size_t r = 0; r < rows; ++r) {
    token_mismatch += first.token[r] != cpu_token[r];
    cpu_exact += cpu_token[r] != exact_token[r];
    repeat += second.token[r] != first.token[r] ||
              std::memcmp(&second.logprob[r], &first.logprob[r], sizeof(float)) != 0;
    got_lp[r] = first.logprob[r];
    const bool poisoned_row = std::find(bad_rows.begin(), bad_rows.end(), r) != bad_rows.end();
    if (poisoned_row)
      bad_fail += poisoned.token[r] != 0 || !std::isnan(poisoned.logprob[r]);
    else
      bad_fail += poisoned.token[r] != first.token[r] ||
                  std::memcmp(&poisoned.logprob[r], &first.logprob[r], sizeof(float)) != 0;
  }
  bad_fail += (first.bad != 0) + (second.bad != 0) + (poisoned.bad != 1);

  size_t weight_fail = 0;
  if ((rc = check_weights(weight_bits(v), rng, st, weight_fail, message, message_size)) != 0) return rc;

  report_count(report, "token", token_mismatch);
  report.compare("logprob", got_lp.data(), cpu_lp.data(), rows);
  report_count(report, "repeat", repeat);
  report_count(report, "bad_row", bad_fail);
  report_count(report, "weight", weight_fail);
  report_count(report, "cpu_vs_exact", cpu_exact);
  return 0;
}

const OpCheckRegistration kRegistration("sample_rows", check_sample_rows);

}  // namespace
}  // namespace dapo::cuda::model
