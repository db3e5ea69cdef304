// The kernel lab of the fused DAPO loss from logits, in the manner of llm.c's dev/cuda: every
// variant of the row sweep (native/cuda/row_loss.cuh) on the same inputs, each checked against
// the CPU kernel (native/loss/dapo_loss.cc) on sampled rows, then timed (CUDA events, median
// after warm-up) with its bytes moved, GB/s and share of the measured copy bandwidth; for
// V in {32768, 151936, 262144}, bf16 and fp32 logits, the gradient in place and not. It prints
// the plan table's choice beside the fastest variant measured, times the whole entry point
// (dapo_cuda_dapo_loss, the plan's choice) against the issue's targets, and the LM-head loss
// through the module (lm-head.cc).
//
//   build/Release/row_loss_lab [--quick] [--json FILE] [--n N] [--variant K] [--no-lm-head]
//
// Exit status: 0 when every variant that can run a shape matches the CPU kernel, 1 otherwise
// (2: a CUDA call failed).
#include <cmath>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "common/bf16.h"
#include "cuda/api.h"
#include "cuda/loss_prep.cuh"
#include "cuda/row_loss.cuh"
#include "lab.cuh"
#include "lm-head.h"
#include "loss/dapo_loss.h"

namespace {

using namespace dapo::cuda;

struct Options {
  bool quick = false, lm_head = true;
  size_t n = 16384;
  int variant = -2;  // -2: all
  std::string json;
};

const size_t kVocabs[] = {32768, 151936, 262144};
const int kDtypes[] = {DAPO_CUDA_BF16, DAPO_CUDA_F32};
constexpr size_t kSampleRows = 4;  // rows checked at the start, middle and end
constexpr int kWarmup = 2;

const char* dtype_name(int dtype) { return dtype == DAPO_CUDA_F32 ? "f32" : "bf16"; }
size_t dtype_bytes(int dtype) { return dtype == DAPO_CUDA_F32 ? 4 : 2; }

// One (N, V, dtype) problem on the device: logits, a pristine copy to restore in-place runs from,
// an fp32 gradient, and the per-token inputs with their prepared weights and records.
struct Problem {
  size_t n = 0, v = 0;
  int dtype = 0;
  void* logits = nullptr;
  void* pristine = nullptr;
  float* grad = nullptr;
  std::vector<int32_t> tokens;
  std::vector<float> old_logprobs, advantages;
  std::vector<uint8_t> mask;
  Scratch scratch;
  PrepInputs prep;
  TokenArrays arrays;
  DeviceStatus* status = nullptr;
  float* logprobs = nullptr;
  float* entropy = nullptr;

  ~Problem() {
    cudaFree(logits);
    cudaFree(pristine);
    cudaFree(grad);
  }
};

template <typename T>
T* to_device(Scratch& scratch, const std::vector<T>& host) {
  T* d = nullptr;
  LAB_CHECK(scratch.alloc_n(&d, host.size()));
  LAB_CHECK(cudaMemcpy(d, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice));
  return d;
}

RowLossParams sweep_params(const Problem& pr, bool in_place) {
  RowLossParams p;
  p.logits = pr.logits;
  p.dtype = pr.dtype;
  p.vocab = p.ld = pr.v;
  p.rows = pr.n;
  p.grad = in_place ? pr.logits : static_cast<void*>(pr.grad);
  p.grad_dtype = in_place ? pr.dtype : DAPO_CUDA_F32;
  p.grad_ld = pr.v;
  p.tokens = pr.arrays;
  p.clip = dapo::ClipConfig{0.2f, 0.28f, 3.0f, true};
  p.entropy = true;
  return p;
}

void restore(const Problem& pr) {
  LAB_CHECK(cudaMemcpy(pr.logits, pr.pristine, pr.n * pr.v * dtype_bytes(pr.dtype), cudaMemcpyDeviceToDevice));
}

// Tokens, advantages and mask at random (fixed seed), old log-probs near the current ones so
// both clip edges are crossed: the current ones come from a log-probs-only sweep.
void make_problem(Problem& pr, size_t n, size_t v, int dtype) {
  pr.n = n, pr.v = v, pr.dtype = dtype;
  const size_t elements = n * v;
  LAB_CHECK(cudaMalloc(&pr.logits, elements * dtype_bytes(dtype)));
  LAB_CHECK(cudaMalloc(&pr.pristine, elements * dtype_bytes(dtype)));
  LAB_CHECK(cudaMalloc(&pr.grad, elements * 4));
  lab::fill_uniform(pr.pristine, dtype, elements, 6.0f, 0x5eed + v);
  restore(pr);
  uint64_t state = 0x9E3779B97F4A7C15ull ^ v;
  auto uniform = [&] {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<double>(state >> 11) * (1.0 / 9007199254740992.0);
  };
  pr.tokens.resize(n);
  pr.advantages.resize(n);
  pr.mask.resize(n);
  for (size_t i = 0; i < n; ++i) {
    pr.tokens[i] = static_cast<int32_t>(uniform() * static_cast<double>(v)) % static_cast<int32_t>(v);
    pr.advantages[i] = static_cast<float>((uniform() < 0.5 ? -1 : 1) * (0.1 + 1.9 * uniform()));
    pr.mask[i] = uniform() < 0.9 ? 1 : 0;
  }
  pr.logprobs = to_device(pr.scratch, std::vector<float>(n));
  pr.entropy = to_device(pr.scratch, std::vector<float>(n));
  TokenArrays bare;
  bare.tokens = to_device(pr.scratch, pr.tokens);
  bare.logprobs_out = pr.logprobs;
  RowLossParams probe = sweep_params(pr, false);
  probe.tokens = bare;
  probe.grad = nullptr;
  LAB_CHECK(launch_row_loss(probe));
  std::vector<float> current(n);
  LAB_CHECK(cudaMemcpy(current.data(), pr.logprobs, n * 4, cudaMemcpyDeviceToHost));
  pr.old_logprobs.resize(n);
  for (size_t i = 0; i < n; ++i) pr.old_logprobs[i] = current[i] - static_cast<float>(std::log(0.55 + 1.15 * uniform()));

  pr.prep.n = n;
  pr.prep.vocab = v;
  pr.prep.tokens = bare.tokens;
  pr.prep.old_logprobs = to_device(pr.scratch, pr.old_logprobs);
  pr.prep.advantages = to_device(pr.scratch, pr.advantages);
  pr.prep.mask = to_device(pr.scratch, pr.mask);
  pr.prep.token_count = static_cast<double>(n);  // fixed, so a CPU check of a few rows has the same weights
  LAB_CHECK(prepare_loss(pr.scratch, pr.prep, &pr.arrays, &pr.status));
  pr.arrays.logprobs_out = pr.logprobs;
  pr.arrays.entropy_out = pr.entropy;
  LAB_CHECK(cudaDeviceSynchronize());
}

std::vector<size_t> sample_rows(size_t n) {
  std::vector<size_t> rows;
  for (size_t base : {size_t{0}, n / 2, n > kSampleRows ? n - kSampleRows : 0})
    for (size_t r = base; r < base + kSampleRows && r < n; ++r)
      if (rows.empty() || r > rows.back()) rows.push_back(r);
  return rows;
}

struct CheckResult {
  double grad = 0, logprobs = 0, entropy = 0;
  bool ok = false;
};

double max_rel(const std::vector<float>& got, const std::vector<float>& want) {
  double scale = 0, worst = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    scale = std::fmax(scale, std::fabs(want[i]));
    const double d = std::fabs(static_cast<double>(got[i]) - want[i]);
    worst = std::isnan(d) ? INFINITY : std::fmax(worst, d);
  }
  return worst / std::fmax(scale, 1e-30);
}

std::vector<float> widen_rows(const void* device, int dtype, size_t v, const std::vector<size_t>& rows) {
  std::vector<float> out(rows.size() * v);
  std::vector<uint16_t> bf(v);
  for (size_t k = 0; k < rows.size(); ++k) {
    const char* src = static_cast<const char*>(device) + rows[k] * v * dtype_bytes(dtype);
    if (dtype == DAPO_CUDA_F32) {
      LAB_CHECK(cudaMemcpy(out.data() + k * v, src, v * 4, cudaMemcpyDeviceToHost));
    } else {
      LAB_CHECK(cudaMemcpy(bf.data(), src, v * 2, cudaMemcpyDeviceToHost));
      for (size_t j = 0; j < v; ++j) out[k * v + j] = dapo::bf16_to_float(bf[j]);
    }
  }
  return out;
}

// The CPU kernel on the sampled rows of the pristine logits, with the same fixed token count.
dapo::LossOutputs cpu_rows(const Problem& pr, const std::vector<size_t>& rows, std::vector<float>& grad,
                           std::vector<float>& logprobs, std::vector<float>& entropy) {
  const std::vector<float> logits = widen_rows(pr.pristine, pr.dtype, pr.v, rows);
  std::vector<int32_t> tokens;
  std::vector<float> old, adv;
  std::vector<uint8_t> mask;
  for (size_t r : rows) {
    tokens.push_back(pr.tokens[r]);
    old.push_back(pr.old_logprobs[r]);
    adv.push_back(pr.advantages[r]);
    mask.push_back(pr.mask[r]);
  }
  dapo::LossInputs in;
  in.n = rows.size();
  in.from_logits = true;
  in.vocab = pr.v;
  in.logits_f32 = logits.data();
  in.tokens = tokens.data();
  in.old_logprobs = old.data();
  in.advantages = adv.data();
  in.mask = mask.data();
  dapo::LossOptions options;
  options.clip = dapo::ClipConfig{0.2f, 0.28f, 3.0f, true};
  options.entropy = true;
  options.aggregation.token_count = static_cast<double>(pr.n);
  grad.assign(rows.size() * pr.v, 0.0f);
  logprobs.assign(rows.size(), 0.0f);
  entropy.assign(rows.size(), 0.0f);
  dapo::LossOutputs out;
  out.grad = grad.data();
  out.logprobs = logprobs.data();
  out.entropy = entropy.data();
  dapo::dapo_loss(in, options, out);
  return out;
}

CheckResult check_variant(const Problem& pr, const RowLossParams& p, const RowLossPlan& plan) {
  if (p.grad == p.logits) restore(pr);
  LAB_CHECK(launch_row_loss_plan(p, plan));
  LAB_CHECK(cudaDeviceSynchronize());
  const std::vector<size_t> rows = sample_rows(pr.n);
  std::vector<float> want_grad, want_lp, want_ent;
  cpu_rows(pr, rows, want_grad, want_lp, want_ent);
  const std::vector<float> got_grad = widen_rows(p.grad, p.grad_dtype, pr.v, rows);
  std::vector<float> lp(pr.n), ent(pr.n), got_lp, got_ent;
  LAB_CHECK(cudaMemcpy(lp.data(), pr.logprobs, pr.n * 4, cudaMemcpyDeviceToHost));
  LAB_CHECK(cudaMemcpy(ent.data(), pr.entropy, pr.n * 4, cudaMemcpyDeviceToHost));
  for (size_t r : rows) {
    got_lp.push_back(lp[r]);
    got_ent.push_back(ent[r]);
  }
  CheckResult c;
  c.grad = max_rel(got_grad, want_grad);
  c.logprobs = max_rel(got_lp, want_lp);
  c.entropy = max_rel(got_ent, want_ent);
  const double tolerance = pr.dtype == DAPO_CUDA_F32 ? 1e-5 : 2e-2;  // test/cuda/device.ts
  c.ok = c.grad <= tolerance && c.logprobs <= tolerance && c.entropy <= tolerance;
  return c;
}

struct Measured {
  std::string json;
  bool ok;
  float ms;
};

Measured run_variant(const Problem& pr, bool in_place, int variant, int reps, double copy_gbs) {
  const RowLossParams p = sweep_params(pr, in_place);
  RowLossPlan plan;
  const char* why = "";
  lab::Json row;
  row.field("kernel", std::string("row-loss")).field("variant", static_cast<double>(variant))
      .field("name", std::string(row_loss_variant_name(variant))).field("n", static_cast<double>(pr.n))
      .field("v", static_cast<double>(pr.v)).field("dtype", std::string(dtype_name(pr.dtype))).field("inPlace", in_place);
  if (!plan_row_loss_variant(p, variant, &plan, &why)) {
    std::printf("  %-14s  n/a: %s\n", row_loss_variant_name(variant), why);
    row.field("skipped", std::string(why));
    return Measured{row.str(), true, NAN};
  }
  const CheckResult c = check_variant(pr, p, plan);
  const float ms = lab::median_ms(kWarmup, reps, 0, [&] { LAB_CHECK(launch_row_loss_plan(p, plan)); });
  const double bytes = static_cast<double>(pr.n * pr.v) * (dtype_bytes(pr.dtype) + dtype_bytes(p.grad_dtype));
  const double gbs = bytes / ms / 1e6;
  std::printf("  %-14s %8.3f ms %7.0f GB/s %5.1f%% of copy  cluster %2d x %3d threads  err grad %.1e lp %.1e  %s\n",
              row_loss_variant_name(variant), ms, gbs, 100 * gbs / copy_gbs, plan.cluster, plan.threads, c.grad,
              c.logprobs, c.ok ? "ok" : "FAILED");
  row.field("ms", ms).field("gbPerS", gbs).field("pctCopy", 100 * gbs / copy_gbs)
      .field("cluster", static_cast<double>(plan.cluster)).field("threads", static_cast<double>(plan.threads)).field("errGrad", c.grad).field("errLogprobs", c.logprobs)
      .field("errEntropy", c.entropy).field("ok", c.ok);
  return Measured{row.str(), c.ok, ms};
}

// The whole entry point (validation, weights, the plan's sweep, reduction), as callers see it.
float entry_ms(const Problem& pr, bool in_place, int reps) {
  dapo_cuda_loss_args a{};
  dapo_cuda_loss_common& c = a.common;
  c.n = pr.n;
  c.tokens = dapo_cuda_in{pr.prep.tokens, 1};
  c.old_logprobs = dapo_cuda_in{pr.prep.old_logprobs, 1};
  c.advantages = dapo_cuda_in{pr.prep.advantages, 1};
  c.mask = dapo_cuda_in{pr.prep.mask, 1};
  c.clip_low = 0.2f, c.clip_high = 0.28f, c.clip_c = 3.0f, c.use_dual_clip = 1;
  c.aggregation = DAPO_CUDA_TOKEN_MEAN;
  c.token_count = c.seq_count = -1;
  c.entropy = 1;
  c.logprobs_out = dapo_cuda_out{pr.logprobs, 1};
  c.entropy_out = dapo_cuda_out{pr.entropy, 1};
  a.vocab = pr.v;
  a.logits_dtype = pr.dtype;
  a.logits = dapo_cuda_in{pr.logits, 1};
  a.grad = dapo_cuda_out{in_place ? pr.logits : static_cast<void*>(pr.grad), 1};
  a.grad_dtype = in_place ? pr.dtype : DAPO_CUDA_F32;
  std::vector<float> times;
  char message[512];
  for (int i = 0; i < kWarmup + reps; ++i) {
    dapo_cuda_loss_stats stats{};
    if (dapo_cuda_dapo_loss(&a, &stats, message, sizeof message) != 0) {
      std::printf("  entry point failed: %s\n", message);
      return NAN;
    }
    if (i >= kWarmup) times.push_back(stats.kernel_ms);
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

struct Target {
  size_t v;
  int dtype;
  bool in_place;
  float ms;
  const char* what;
};
// Issue #11, at N = 16384 (the same run holds the peers: benchmarks/peers/loss_peers.py).
const Target kTargets[] = {
    {151936, DAPO_CUDA_BF16, true, 4.1f, "V 151936 bf16 in place <= 4.1 ms"},
    {151936, DAPO_CUDA_BF16, false, 6.2f, "V 151936 bf16, f32 gradient <= 6.2 ms"},
    {32768, DAPO_CUDA_BF16, true, 0.9f, "V 32768 bf16 in place <= 0.9 ms"},
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quick") o.quick = true;
    else if (a == "--no-lm-head") o.lm_head = false;
    else if (a == "--json" && i + 1 < argc) o.json = argv[++i];
    else if (a == "--n" && i + 1 < argc) o.n = std::stoul(argv[++i]);
    else if (a == "--variant" && i + 1 < argc) o.variant = std::stoi(argv[++i]);
    else {
      std::fprintf(stderr, "usage: row_loss_lab [--quick] [--json FILE] [--n N] [--variant K] [--no-lm-head]\n");
      std::exit(2);
    }
  }
  if (o.quick && o.n == 16384) o.n = 2048;
  return o;
}

std::string plan_table_json() {
  size_t count = 0;
  const RowLossRule* rules = row_loss_rules(&count);
  std::vector<std::string> items;
  std::printf("plan table (first rule that matches and can run wins; streaming otherwise):\n");
  for (size_t i = 0; i < count; ++i) {
    std::printf("  V <= %-20zu dtype %-4s in place %-3s -> %s\n", rules[i].vocab_max,
                rules[i].dtype == 0 ? "any" : dtype_name(rules[i].dtype),
                rules[i].in_place < 0 ? "any" : rules[i].in_place ? "yes" : "no", row_loss_variant_name(rules[i].variant));
    items.push_back(lab::Json().field("vocabMax", static_cast<double>(rules[i].vocab_max))
                        .field("dtype", std::string(rules[i].dtype == 0 ? "any" : dtype_name(rules[i].dtype)))
                        .field("inPlace", static_cast<double>(rules[i].in_place))
                        .field("variant", std::string(row_loss_variant_name(rules[i].variant))).str());
  }
  return lab::json_array(items);
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  int device = 0;
  cudaDeviceProp prop{};
  LAB_CHECK(cudaGetDevice(&device));
  LAB_CHECK(cudaGetDeviceProperties(&prop, device));
  // Medians of 11 runs after 2 warm-ups: the whole lab fits a device-check step of a minute or two.
  const int reps = o.quick ? 5 : 11;
  const double copy_gbs = lab::copy_gb_per_s(size_t{1} << 31, reps);
  std::printf("row_loss_lab on %s (sm_%d%d, %d SMs, L2 %d MiB): device-to-device copy %.0f GB/s; N = %zu\n", prop.name,
              prop.major, prop.minor, prop.multiProcessorCount, prop.l2CacheSize >> 20, copy_gbs, o.n);
  const std::string rules = plan_table_json();

  std::vector<std::string> rows, choices, targets;
  int failures = 0;
  for (size_t v : kVocabs) {
    for (int dtype : kDtypes) {
      Problem pr;
      make_problem(pr, o.n, v, dtype);
      for (bool in_place : {false, true}) {
        const RowLossPlan chosen = plan_row_loss(sweep_params(pr, in_place));
        std::printf("V=%zu %s%s (plan: %s)\n", v, dtype_name(dtype), in_place ? " in place" : ", f32 gradient",
                    row_loss_variant_name(chosen.variant));
        int fastest = -1;
        float best = INFINITY;
        for (int variant = 0; variant < kRowVariants; ++variant) {
          if (o.variant >= 0 && variant != o.variant) continue;
          const Measured m = run_variant(pr, in_place, variant, reps, copy_gbs);
          rows.push_back(m.json);
          failures += m.ok ? 0 : 1;
          if (m.ok && m.ms < best) best = m.ms, fastest = variant;
        }
        const float whole = entry_ms(pr, in_place, reps);
        failures += std::isnan(whole) ? 1 : 0;
        std::printf("  entry point (plan's choice, validation and reduction included): %.3f ms; fastest variant: %s\n",
                    whole, fastest >= 0 ? row_loss_variant_name(fastest) : "none");
        choices.push_back(lab::Json().field("v", static_cast<double>(v)).field("dtype", std::string(dtype_name(dtype)))
                              .field("inPlace", in_place).field("plan", std::string(row_loss_variant_name(chosen.variant)))
                              .field("fastest", std::string(fastest >= 0 ? row_loss_variant_name(fastest) : "none"))
                              .field("entryMs", whole).str());
        for (const Target& t : kTargets) {
          if (t.v != v || t.dtype != dtype || t.in_place != in_place || o.n != 16384) continue;
          std::printf("  target %s: %s (%.3f ms)\n", t.what, whole <= t.ms ? "met" : "NOT met", whole);
          targets.push_back(lab::Json().field("target", std::string(t.what)).field("ms", whole).field("met", whole <= t.ms).str());
        }
      }
    }
  }
  std::string lm_head = "[]";
  if (o.lm_head) lm_head = run_lm_head_lab(o.quick, argv[0], &failures);

  std::printf("%d check failure(s)\n", failures);
  if (!o.json.empty()) {
    lab::Json doc;
    doc.field("device", std::string(prop.name)).field("copyGbPerS", copy_gbs).field("n", static_cast<double>(o.n))
        .raw("planRules", rules).raw("choices", lab::json_array(choices)).raw("targets", lab::json_array(targets))
        .raw("rows", lab::json_array(rows)).raw("lmHead", lm_head).field("failures", static_cast<double>(failures));
    std::ofstream(o.json) << doc.str() << "\n";
  }
  return failures == 0 ? 0 : 1;
}
