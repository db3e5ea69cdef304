// The CUDA engine's host-side logic, which runs without a device: the checks and plans of
// native/cuda/model/engine_inputs.cc (the CPU engine's messages, overflow-checked sizes) and the
// continuous-batching schedule of engine_schedule.cc, simulated against a model of the KV cache.
// Built and run by test/engine-host.test.ts: `engine_host_test SEED`; prints one line per check
// and exits non-zero on the first failure.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "cuda/model/engine_error.h"
#include "cuda/model/engine_inputs.h"
#include "cuda/model/engine_schedule.h"

using namespace dapo::cuda::model;

namespace {

int checks = 0;

void expect(bool ok, const std::string& what) {
  ++checks;
  if (ok) return;
  std::printf("FAIL: %s\n", what.c_str());
  std::exit(1);
}

// fn must throw an EngineError with this status and exactly this message.
void expect_error(const std::function<void()>& fn, int status, const std::string& message) {
  try {
    fn();
  } catch (const EngineError& e) {
    expect(e.status() == status && message == e.what(),
           "expected [" + std::to_string(status) + "] '" + message + "', got [" + std::to_string(e.status()) + "] '" +
               e.what() + "'");
    return;
  }
  expect(false, "expected an error '" + message + "', got none");
}

dapo::ModelConfig tiny() {
  dapo::ModelConfig c;
  c.vocab = 50;
  c.hidden = 8;
  c.intermediate = 12;
  c.layers = 2;
  c.heads = 2;
  c.kv_heads = 1;
  c.head_dim = 4;
  c.max_positions = 32;
  return c;
}

dapo_cuda_generate_args generate_args(const std::vector<int32_t>& tokens, const std::vector<int32_t>& offsets,
                                      size_t n, size_t max_new) {
  dapo_cuda_generate_args a{};
  a.prompt_tokens = tokens.data();
  a.prompt_offsets = offsets.data();
  a.n_prompts = offsets.size() - 1;
  a.n = n;
  a.max_new_tokens = max_new;
  a.temperature = 1;
  a.top_p = 1;
  return a;
}

void test_generate_plan() {
  const dapo::ModelConfig c = tiny();
  const std::vector<int32_t> tokens{1, 2, 3, 4, 5, 6};
  const std::vector<int32_t> offsets{0, 2, 6};
  // Capacities: min(maxNewTokens, context - prompt), per sample.
  GeneratePlan p = plan_generate(c, generate_args(tokens, offsets, 3, 10));
  expect(p.n_seqs == 6 && p.capacity(0) == 10 && p.capacity(5) == 10 && p.total_capacity == 60, "capacities");
  p = plan_generate(c, generate_args(tokens, offsets, 2, 29));
  expect(p.capacity(0) == 29 && p.capacity(2) == 28 && p.cap[1] == 32 && p.longest_cap == 32, "capacity at the context");
  // prompt + maxNewTokens would wrap in 64 bits: the context bounds it, nothing wraps.
  p = plan_generate(c, generate_args(tokens, offsets, 1, std::numeric_limits<size_t>::max() - 1));
  expect(p.capacity(0) == 30 && p.capacity(1) == 28, "a huge maxNewTokens is bounded by the context");
  // n x prompts wraps in 64 bits.
  expect_error([&] { plan_generate(c, generate_args(tokens, offsets, size_t(1) << 63, 1)); }, DAPO_CUDA_ERR_RANGE,
               "n x prompts overflows: 2 x 9223372036854775808");
  expect_error([&] { plan_generate(c, generate_args(tokens, offsets, size_t(1) << 24, 1)); }, DAPO_CUDA_ERR_RANGE,
               "n x prompts = 33554432 sequences is more than one call generates (at most 16777216)");
  // More tokens than int32 offsets address.
  dapo::ModelConfig wide = c;
  wide.max_positions = size_t(1) << 40;
  expect_error([&] { plan_generate(wide, generate_args(tokens, offsets, 1000, size_t(1) << 21)); }, DAPO_CUDA_ERR_RANGE,
               "the call may generate 4194304000 tokens (n x prompts x maxNewTokens), more than 2147483647 (outputs are "
               "indexed with int32 offsets)");
  // The CPU engine's messages.
  expect_error([&] { plan_generate(c, generate_args(tokens, {0}, 1, 1)); }, DAPO_CUDA_ERR_RANGE,
               "prompts must hold at least one prompt");
  expect_error([&] { plan_generate(c, generate_args(tokens, offsets, 0, 1)); }, DAPO_CUDA_ERR_RANGE, "n must be >= 1");
  expect_error([&] { plan_generate(c, generate_args(tokens, {1, 2}, 1, 1)); }, DAPO_CUDA_ERR_RANGE,
               "prompt offsets must start at 0");
  expect_error([&] { plan_generate(c, generate_args(tokens, {0, 2, 2}, 1, 1)); }, DAPO_CUDA_ERR_RANGE,
               "prompts[1] is empty");
  const std::vector<int32_t> long_prompt(32, 1);
  expect_error([&] { plan_generate(c, generate_args(long_prompt, {0, 32}, 1, 1)); }, DAPO_CUDA_ERR_RANGE,
               "prompts[0] has 32 tokens, which leaves no room in the context (max_position_embeddings = 32)");
  const std::vector<int32_t> bad{1, 2, 50};
  expect_error([&] { plan_generate(c, generate_args(bad, {0, 1, 3}, 1, 1)); }, DAPO_CUDA_ERR_RANGE,
               "prompts[1][1] = 50 is outside [0, vocabSize = 50)");
  dapo_cuda_generate_args a = generate_args(tokens, offsets, 1, 1);
  const int32_t stop[2] = {3, -1};
  a.stop = stop;
  a.n_stop = 2;
  expect_error([&] { plan_generate(c, a); }, DAPO_CUDA_ERR_RANGE, "stop[1] = -1 is outside [0, vocabSize)");
  a = generate_args(tokens, offsets, 1, 1);
  a.top_p = 0;
  expect_error([&] { plan_generate(c, a); }, DAPO_CUDA_ERR_RANGE, "topP must be in (0, 1]");
}

void test_packed_plan() {
  const dapo::ModelConfig c = tiny();
  const std::vector<int32_t> tokens{1, 2, 3, 4, 5, 6, 7, 8, 9};
  const std::vector<int32_t> offsets{0, 4, 5, 9};
  const std::vector<int32_t> prompts{2, 1, 0};
  const PackedPlan p = plan_packed_batch(c, dapo_cuda_packed_batch{tokens.data(), 9, offsets.data(), 3, prompts.data()});
  // Sequence 0: targets at positions 2, 3 (rows 1, 2); sequence 1 (one token): none; sequence 2:
  // positions 1..3 (rows 5..7).
  const std::vector<int32_t> rows{1, 2, 5, 6, 7}, targets{3, 4, 7, 8, 9}, seqs{0, 0, 1, 1, 1};
  const std::vector<int32_t> positions{0, 1, 2, 3, 0, 0, 1, 2, 3};
  expect(p.n_targets == 5 && p.longest == 4, "target count");
  for (size_t i = 0; i < 5; ++i) {
    expect(p.ints[p.target_rows_at + i] == rows[i], "target row " + std::to_string(i));
    expect(p.ints[p.target_tokens_at + i] == targets[i], "target token " + std::to_string(i));
    expect(p.ints[p.target_seqs_at + i] == seqs[i], "dense sequence id " + std::to_string(i));
  }
  for (size_t i = 0; i < 9; ++i) expect(p.ints[p.positions_at + i] == positions[i], "position " + std::to_string(i));
  for (size_t i = 0; i < 4; ++i) expect(p.ints[p.cu_seqlens_at + i] == offsets[i], "cu_seqlens");
  auto batch = [&](const std::vector<int32_t>& t, const std::vector<int32_t>& o, const int32_t* pl) {
    return [t, o, pl, c] { plan_packed_batch(c, dapo_cuda_packed_batch{t.data(), t.size(), o.data(), o.size() - 1, pl}); };
  };
  expect_error(batch(tokens, {4, 9}, nullptr), DAPO_CUDA_ERR_RANGE, "offsets[0] must be 0, got 4");
  expect_error(batch(tokens, {0, 8}, nullptr), DAPO_CUDA_ERR_RANGE, "offsets[1] = 8 must equal tokens.length = 9");
  expect_error(batch(tokens, {0, 5, 5, 9}, nullptr), DAPO_CUDA_ERR_RANGE,
               "offsets must increase: sequence 1 has length 0");
  const std::vector<int32_t> too_long(33, 1);
  expect_error(batch(too_long, {0, 33}, nullptr), DAPO_CUDA_ERR_RANGE,
               "sequence 0 has 33 tokens, more than the context (max_position_embeddings = 32)");
  const std::vector<int32_t> bad_prompt{10};
  expect_error(batch(tokens, {0, 9}, bad_prompt.data()), DAPO_CUDA_ERR_RANGE, "promptLengths[0] = 10 is outside [0, 9]");
  const std::vector<int32_t> bad_tokens{1, 2, 60};
  expect_error(batch(bad_tokens, {0, 3}, nullptr), DAPO_CUDA_ERR_RANGE, "tokens[2] = 60 is outside [0, vocabSize = 50)");
}

// Runs the schedule over random prompts against a model of the KV cache: each slot's first
// positions hold some prompt's keys and values (or nothing); a sequence may only decode over its
// own prompt's. Checks admission order, the slot bound, the KV sources and the end of each sequence.
void test_schedule(uint32_t seed) {
  std::mt19937 rng(seed);
  for (int round = 0; round < 200; ++round) {
    dapo::ModelConfig c = tiny();
    c.max_positions = 4 + rng() % 40;
    const size_t n_prompts = 1 + rng() % 6, n = 1 + rng() % 5, slots = 1 + rng() % 9;
    std::vector<int32_t> offsets{0}, tokens;
    for (size_t p = 0; p < n_prompts; ++p) {
      const size_t len = 1 + rng() % (c.max_positions - 1);
      for (size_t i = 0; i < len; ++i) tokens.push_back(static_cast<int32_t>(rng() % c.vocab));
      offsets.push_back(static_cast<int32_t>(tokens.size()));
    }
    const size_t max_new = 1 + rng() % 12;
    const int32_t stop[1] = {7};
    const GeneratePlan plan = plan_generate(c, generate_args(tokens, offsets, n, max_new));
    DecodeSchedule s(plan, slots, stop, 1);
    std::vector<int64_t> cache_prompt(slots, -1);  // the model of the cache
    std::vector<int> produced(plan.n_seqs, 0), admitted(plan.n_seqs, 0), ended(plan.n_seqs, 0);
    size_t next = 0;
    auto run_admissions = [&] {
      for (;;) {
        const auto adm = s.admit();
        if (adm.empty()) return;
        // Prefills run first, then copies in list order (as engine_generate.cu runs them).
        for (const auto& a : adm)
          if (a.source == DecodeSchedule::Source::kPrefill) cache_prompt[a.slot] = static_cast<int64_t>(a.seq / n);
        for (const auto& a : adm) {
          expect(a.seq == next++, "admission in order");
          admitted[a.seq] = 1;
          const int64_t prompt = static_cast<int64_t>(a.seq / n);
          if (a.source == DecodeSchedule::Source::kCopy) {
            expect(cache_prompt[a.from_slot] == prompt, "a copy's source holds the prompt");
            cache_prompt[a.slot] = prompt;
          }
          expect(cache_prompt[a.slot] == prompt, "an admitted sequence's slot holds its prompt");
        }
        for (const auto& a : adm) {  // first tokens
          bool stopped = false;
          const int32_t token = static_cast<int32_t>(rng() % 10);
          ++produced[a.seq];
          if (s.record(a.seq, token, &stopped)) ended[a.seq] = 1;
          expect(stopped == (token == 7), "stop ids end a sequence");
        }
        s.compact();
      }
    };
    run_admissions();
    while (!s.live().empty()) {
      expect(s.live().size() <= slots, "no more live sequences than slots");
      std::vector<int> used(slots, 0);
      for (size_t q : s.live()) {
        const int32_t slot = s.slot_of(q);
        expect(slot >= 0 && static_cast<size_t>(slot) < slots && !used[slot]++, "one live sequence per slot");
        expect(cache_prompt[slot] == static_cast<int64_t>(q / n), "a live sequence decodes over its prompt");
        expect(s.position_of(q) == plan.prompt_len[q / n] + produced[q] - 1, "the input's position");
        expect(s.position_of(q) + 1 < plan.cap[q / n], "positions stay inside the sequence's capacity");
      }
      for (size_t q : std::vector<size_t>(s.live())) {
        bool stopped = false;
        const int32_t token = static_cast<int32_t>(rng() % 10);
        ++produced[q];
        if (s.record(q, token, &stopped)) ended[q] = 1;
      }
      s.compact();
      run_admissions();
    }
    for (size_t q = 0; q < plan.n_seqs; ++q) {
      expect(admitted[q] && ended[q], "every sequence is admitted and ends");
      expect(produced[q] >= 1 && static_cast<size_t>(produced[q]) <= plan.capacity(q), "tokens within the capacity");
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  const uint32_t seed = argc > 1 ? static_cast<uint32_t>(std::strtoul(argv[1], nullptr, 10)) : 1;
  test_generate_plan();
  test_packed_plan();
  test_schedule(seed);
  std::printf("ok: %d checks (seed %u)\n", checks, seed);
  return 0;
}
