// The CUDA engine's generate: every prompt is prefilled once (one packed forward pass, keys and
// values written into the KV cache) and shared by its samples; then all live sequences decode
// together, one token each per step, attending over the cache; a sequence that ends frees its slot
// for the next waiting one (continuous batching, engine_schedule.h). The decode step's forward
// runs as one CUDA graph per batch-size bucket (powers of two of live rows), replayed with the
// step's inputs in fixed device buffers; the sampler (sample_rows) follows it each step with the
// CPU sampler's Philox streams, so the tokens and log-probs are those of Engine::generate.
//
// Per step the host writes the rows' inputs (32 bytes a row) into page-locked memory, and reads
// the sampled tokens back: nothing else, and nothing is allocated.
#include <algorithm>
#include <cmath>
#include <string>

#include "cuda/model/engine.cuh"
#include "cuda/model/engine_error.cuh"
#include "cuda/model/engine_generate.cuh"
#include "cuda/model/engine_rows.cuh"
#include "cuda/model/engine_schedule.h"

namespace dapo::cuda::model {

namespace {

constexpr size_t kMaxSlots = 512;              // sequences decoded at once, at most
constexpr size_t kPrefillRows = 8192;          // prompt rows per prefill pass (a longer prompt gets its own)
constexpr size_t kCacheRounding = 64;          // slot capacities are rounded up, so similar calls reuse the cache
constexpr size_t kReserveBytes = size_t(512) << 20;  // left free for GEMM workspaces and the runtime

size_t round_up(size_t x, size_t to) { return (x + to - 1) / to * to; }

size_t pow2_at_least(size_t x) {
  size_t p = 1;
  while (p < x) p *= 2;
  return p;
}

size_t log2_of(size_t pow2) {
  size_t l = 0;
  while ((size_t(1) << l) < pow2) ++l;
  return l;
}

template <typename X>
X* at(char* base, size_t offset) {
  return reinterpret_cast<X*>(base + offset);
}

}  // namespace

StepIo StepIo::layout(size_t rows) {
  StepIo io;
  size_t end = 0;
  auto next = [&](size_t bytes) {  // each array 256-byte aligned
    const size_t here = end;
    end = round_up(end + bytes, 256);
    return here;
  };
  io.prompt_ids = next(rows * sizeof(uint64_t));
  io.tokens = next(rows * sizeof(int32_t));
  io.positions = next(rows * sizeof(int32_t));
  io.slots = next(rows * sizeof(int32_t));
  io.lengths = next(rows * sizeof(int32_t));
  io.samples = next(rows * sizeof(uint32_t));
  io.sample_positions = next(rows * sizeof(uint32_t));
  io.in_bytes = io.out_begin = end;
  io.out_tokens = next(rows * sizeof(int32_t));
  io.out_logprobs = next(rows * sizeof(float));
  io.out_bad = next(sizeof(int32_t));
  io.out_bytes = end - io.out_begin;
  io.total = end;
  return io;
}

template <typename T>
class Generator {
 public:
  Generator(CudaEngine<T>& e, const GeneratePlan& plan, const dapo_cuda_generate_args& a, int32_t* tokens,
            float* logprobs, size_t* lengths, uint8_t* finished)
      : e_(e), plan_(plan), a_(a), tokens_(tokens), logprobs_(logprobs), lengths_(lengths), finished_(finished) {
    prompt_out_.assign(plan.n_prompts + 1, 0);
    for (size_t p = 0; p < plan.n_prompts; ++p)
      prompt_out_[p + 1] = prompt_out_[p] + plan.n * (plan.cap[p] - plan.prompt_len[p]);
  }

  void run() {
    ensure_state();
    GenerationState<T>& g = *e_.gen_;
    DecodeSchedule schedule(plan_, g.slots, a_.stop, a_.n_stop);
    schedule_ = &schedule;
    admit();
    while (!schedule.live().empty()) {
      decode_step();
      admit();
    }
  }

 private:
  using Admission = DecodeSchedule::Admission;

  cudaStream_t stream() const { return e_.gen_stream_; }
  size_t out_offset(size_t q) const {
    const size_t p = q / plan_.n;
    return prompt_out_[p] + (q % plan_.n) * (plan_.cap[p] - plan_.prompt_len[p]);
  }
  uint64_t prompt_id(size_t q) const { return a_.prompt_ids ? a_.prompt_ids[q / plan_.n] : q / plan_.n; }

  // The KV cache and decode buffers: kept from the last call when this one fits, else sized from
  // the free memory (as many slots as fit, up to the sequences and kMaxSlots).
  void ensure_state();
  size_t prefill_rows() const;
  void admit();
  void prefill(const std::vector<Admission>& admitted);
  void prefill_pass(const std::vector<size_t>& prompts, const std::vector<int32_t>& slots);
  void copy_caches(const std::vector<Admission>& admitted);
  void first_tokens(const std::vector<Admission>& admitted);
  void decode_step();
  void forward_step(size_t rows);
  void launch_step(size_t rows);
  void sample(const std::vector<size_t>& seqs);
  void record(const std::vector<size_t>& seqs);
  [[noreturn]] void report_bad_logits(const std::vector<size_t>& seqs);

  CudaEngine<T>& e_;
  const GeneratePlan& plan_;
  const dapo_cuda_generate_args& a_;
  int32_t* tokens_;
  float* logprobs_;
  size_t* lengths_;
  uint8_t* finished_;
  std::vector<size_t> prompt_out_;  // per prompt: where its first sequence's outputs start
  DecodeSchedule* schedule_ = nullptr;
  Activations<T> prefill_acts_;
};

template <typename T>
size_t Generator<T>::prefill_rows() const {
  size_t total = 0, longest = 0;
  for (size_t len : plan_.prompt_len) {
    total += len;
    longest = std::max(longest, len);
  }
  return std::max(std::min(total, kPrefillRows), longest);
}

template <typename T>
void Generator<T>::ensure_state() {
  const ModelConfig& c = e_.c_;
  const size_t capacity = round_up(plan_.longest_cap, kCacheRounding);
  const size_t wanted = std::min(plan_.n_seqs, kMaxSlots), prefill = row_capacity(prefill_rows());
  Carver prefill_layout(nullptr);
  e_.carve_activations(prefill_layout, prefill, Keep::kNone);
  const size_t hidden_bytes = checked_mul(plan_.n_prompts, c.hidden * sizeof(T), "the prompts' hidden rows");
  std::unique_ptr<GenerationState<T>>& state = e_.gen_;
  if (!state || state->capacity < capacity || state->slots < wanted) {
    // Sized from the free memory: the training pass's buffers go first (the next training call
    // makes them again).
    state.reset();
    e_.release_training_buffers();
    const size_t kvd = c.kv_heads * c.head_dim;
    const size_t per_slot = checked_mul(checked_mul(2 * c.layers, capacity, "the KV cache"), kvd * sizeof(T), "the KV cache");
    Carver per_256(nullptr);  // decode buffers, logits and sampler scratch per row, measured over 256 rows
    e_.carve_activations(per_256, 256, Keep::kNone);
    const size_t per_row = (per_256.used() + sample_scratch_bytes(256, c.vocab)) / 256 + c.vocab * sizeof(float) + 64;
    size_t free_bytes = 0, total_bytes = 0;
    check_cuda(cudaMemGetInfo(&free_bytes, &total_bytes), "cudaMemGetInfo");
    const size_t fixed = prefill_layout.used() + hidden_bytes + kReserveBytes;
    const size_t budget = free_bytes > fixed ? (free_bytes - fixed) / 10 * 9 : 0;
    // A bucket may round the rows up to twice the slots: count each slot's decode buffers twice.
    const size_t per_sequence = per_slot + 2 * per_row;
    const size_t slots = std::min(wanted, budget / per_sequence);
    if (slots == 0)
      throw EngineError(DAPO_CUDA_ERR_OOM,
                        "out of device memory for generation: one sequence needs " + std::to_string(per_sequence) +
                            " bytes (a KV cache of " + std::to_string(capacity) + " positions and its decode buffers) beyond " +
                            std::to_string(fixed) + " bytes for the prompts' pass; " + std::to_string(free_bytes) +
                            " bytes are free");
    state = std::make_unique<GenerationState<T>>();
    GenerationState<T>& g = *state;
    g.slots = slots;
    g.capacity = capacity;
    g.rows = pow2_at_least(slots);
    const size_t layer_cells = checked_mul((slots + 1) * capacity, kvd, "the KV cache");
    g.k_cache.ensure(e_.alloc_, checked_mul(layer_cells, c.layers, "the KV cache"), "the KV cache (keys)");
    g.v_cache.ensure(e_.alloc_, layer_cells * c.layers, "the KV cache (values)");
    for (size_t l = 0; l < c.layers; ++l)
      g.caches.push_back(KvCache<T>{g.k_cache.get() + l * layer_cells, g.v_cache.get() + l * layer_cells, slots + 1,
                                    capacity, c.kv_heads, c.head_dim});
    DecodeAttentionArgs<T> d;
    d.rows = g.rows;
    d.heads = c.heads;
    d.cache = g.caches[0];
    d.ld_q = d.ld_out = c.heads * c.head_dim;
    d.max_length = capacity;
    const size_t attention_bytes = attention_decode_scratch_bytes<T>(d);
    auto carve = [&](Carver& carver) {
      g.decode = e_.carve_activations(carver, g.rows, Keep::kNone);
      g.attention_scratch = carver.take<char>(attention_bytes);
    };
    Carver measure(nullptr);
    carve(measure);
    Carver carver(g.decode_arena.ensure(e_.alloc_, measure.used(), "the decode step's activations"));
    carve(carver);
    g.logits.ensure(e_.alloc_, checked_mul(g.rows, c.vocab, "the decode logits"), "the decode step's logits");
    g.sample_scratch.ensure(e_.alloc_, sample_scratch_bytes(g.rows, c.vocab), "the sampler's scratch");
    g.io = StepIo::layout(g.rows);
    g.io_device.ensure(e_.alloc_, g.io.total, "the decode step's inputs and outputs");
    g.io_host.ensure(e_.alloc_, g.io.total, "the decode step's staging");
    const size_t buckets = log2_of(g.rows) + 1;
    g.graphs.assign(buckets, nullptr);
    g.warm.assign(buckets, 0);
    g.no_graph.assign(buckets, 0);
  }
  GenerationState<T>& g = *state;
  Carver carver(g.prefill_arena.ensure(e_.alloc_, prefill_layout.used(), "the prompts' forward pass"));
  prefill_acts_ = e_.carve_activations(carver, prefill, Keep::kNone);
  g.prompt_hidden.ensure(e_.alloc_, checked_mul(plan_.n_prompts, c.hidden, "the prompts' hidden rows"),
                         "the prompts' last hidden rows");
}

// Fills free slots until none is free or nobody waits; a sequence that ends at its first token
// frees its slot again at once.
template <typename T>
void Generator<T>::admit() {
  for (;;) {
    const std::vector<Admission> admitted = schedule_->admit();
    if (admitted.empty()) return;
    prefill(admitted);
    copy_caches(admitted);
    first_tokens(admitted);
  }
}

// The admitted sequences whose prompt no slot holds: their prompts, packed, in passes of at most
// prefill_rows() rows.
template <typename T>
void Generator<T>::prefill(const std::vector<Admission>& admitted) {
  const size_t limit = prefill_rows();
  std::vector<size_t> prompts;
  std::vector<int32_t> slots;
  size_t rows = 0;
  for (const Admission& a : admitted) {
    if (a.source != DecodeSchedule::Source::kPrefill) continue;
    const size_t p = a.seq / plan_.n;
    if (!prompts.empty() && rows + plan_.prompt_len[p] > limit) {
      prefill_pass(prompts, slots);
      prompts.clear();
      slots.clear();
      rows = 0;
    }
    prompts.push_back(p);
    slots.push_back(a.slot);
    rows += plan_.prompt_len[p];
  }
  if (!prompts.empty()) prefill_pass(prompts, slots);
}

// One packed forward pass over whole prompts: causal attention within each, keys and values into
// each prompt's slot, and each prompt's last hidden row kept for its first token.
template <typename T>
void Generator<T>::prefill_pass(const std::vector<size_t>& prompts, const std::vector<int32_t>& slots) {
  const size_t np = prompts.size(), h = e_.c_.hidden;
  size_t t = 0, longest = 0;
  for (size_t p : prompts) {
    t += plan_.prompt_len[p];
    longest = std::max(longest, plan_.prompt_len[p]);
  }
  // [tokens t | positions t | slots t | cu_seqlens np + 1 | last rows np | prompt indices np]
  std::vector<int32_t> ints(3 * t + 3 * np + 1);
  int32_t *tok = ints.data(), *pos = tok + t, *slot = pos + t, *cu = slot + t, *last = cu + np + 1, *index = last + np;
  size_t row = 0;
  cu[0] = 0;
  for (size_t i = 0; i < np; ++i) {
    const size_t p = prompts[i], len = plan_.prompt_len[p];
    const int32_t* src = a_.prompt_tokens + a_.prompt_offsets[p];
    for (size_t j = 0; j < len; ++j, ++row) {
      tok[row] = src[j];
      pos[row] = static_cast<int32_t>(j);
      slot[row] = slots[i];
    }
    cu[i + 1] = static_cast<int32_t>(row);
    last[i] = static_cast<int32_t>(row - 1);
    index[i] = static_cast<int32_t>(p);
  }
  GenerationState<T>& g = *e_.gen_;
  int32_t* d = g.prefill_ints.ensure(e_.alloc_, ints.size(), "the prompts' index arrays");
  check_cuda(cudaMemcpyAsync(d, ints.data(), ints.size() * sizeof(int32_t), cudaMemcpyHostToDevice, stream()),
             "cudaMemcpyAsync (prompts)");
  Rows<T> r;
  r.t = t;
  r.tokens = d;
  r.positions = d + t;
  r.slots = d + 2 * t;
  r.cu_seqlens = d + 3 * t;
  r.n_seqs = np;
  r.max_seqlen = longest;
  r.caches = g.caches.data();
  e_.embed_and_forward(r, prefill_acts_, e_.gemm_gen_, stream());
  const int32_t* d_last = d + 3 * t + np + 1;
  check_launch(copy_rows<T>(prefill_acts_.hf, h, d_last, g.prompt_hidden.get(), h, d_last + np, np, h, stream()),
               "copy_rows");
  // The host array is rewritten by the next pass: let this copy finish first.
  e_.sync(stream(), "prefill");
}

// Sequences whose prompt another slot holds copy its keys and values (positions below the
// prompt's length), one kv_cache_copy per layer and source slot.
template <typename T>
void Generator<T>::copy_caches(const std::vector<Admission>& admitted) {
  GenerationState<T>& g = *e_.gen_;
  for (size_t i = 0; i < admitted.size();) {
    if (admitted[i].source != DecodeSchedule::Source::kCopy) {
      ++i;
      continue;
    }
    const int32_t from = admitted[i].from_slot;
    const size_t length = plan_.prompt_len[admitted[i].seq / plan_.n];
    std::vector<int32_t> to;
    for (; i < admitted.size() && admitted[i].source == DecodeSchedule::Source::kCopy && admitted[i].from_slot == from;
         ++i)
      to.push_back(admitted[i].slot);
    for (size_t l = 0; l < e_.c_.layers; ++l)
      check_launch(kv_cache_copy<T>(g.caches[l], from, to.data(), to.size(), length, stream()), "kv_cache_copy");
  }
}

// The first token of each admitted sequence, from its prompt's last hidden row.
template <typename T>
void Generator<T>::first_tokens(const std::vector<Admission>& admitted) {
  GenerationState<T>& g = *e_.gen_;
  const size_t k = admitted.size(), h = e_.c_.hidden;
  char* host = g.io_host.get();
  std::vector<size_t> seqs(k);
  for (size_t i = 0; i < k; ++i) {
    const size_t q = admitted[i].seq;
    seqs[i] = q;
    at<int32_t>(host, g.io.tokens)[i] = static_cast<int32_t>(q / plan_.n);  // the prompt's row of prompt_hidden
    at<uint64_t>(host, g.io.prompt_ids)[i] = prompt_id(q);
    at<uint32_t>(host, g.io.samples)[i] = static_cast<uint32_t>(q % plan_.n);
    at<uint32_t>(host, g.io.sample_positions)[i] = 0;
  }
  char* dev = g.io_device.get();
  check_cuda(cudaMemcpyAsync(dev, host, g.io.in_bytes, cudaMemcpyHostToDevice, stream()), "cudaMemcpyAsync (step inputs)");
  check_launch(copy_rows<T>(g.prompt_hidden.get(), h, at<int32_t>(dev, g.io.tokens), g.decode.hf, h, nullptr, k, h,
                            stream()),
               "copy_rows");
  e_.lm_head_logits(g.decode.hf, k, g.logits.get(), e_.gemm_gen_, stream());
  sample(seqs);
  record(seqs);
}

// One token for every live sequence.
template <typename T>
void Generator<T>::decode_step() {
  GenerationState<T>& g = *e_.gen_;
  const std::vector<size_t> live = schedule_->live();
  const size_t k = live.size(), rows = std::min(pow2_at_least(k), g.rows);
  char* host = g.io_host.get();
  int32_t* tok = at<int32_t>(host, g.io.tokens);
  int32_t* pos = at<int32_t>(host, g.io.positions);
  int32_t* slot = at<int32_t>(host, g.io.slots);
  int32_t* len = at<int32_t>(host, g.io.lengths);
  for (size_t i = 0; i < rows; ++i) {
    if (i < k) {
      const size_t q = live[i];
      const uint32_t produced = schedule_->produced(q);
      tok[i] = tokens_[out_offset(q) + produced - 1];
      pos[i] = static_cast<int32_t>(schedule_->position_of(q));
      slot[i] = schedule_->slot_of(q);
      at<uint64_t>(host, g.io.prompt_ids)[i] = prompt_id(q);
      at<uint32_t>(host, g.io.samples)[i] = static_cast<uint32_t>(q % plan_.n);
      at<uint32_t>(host, g.io.sample_positions)[i] = produced;
    } else {  // padding up to the bucket: the spare slot, position 0
      tok[i] = 0;
      pos[i] = 0;
      slot[i] = static_cast<int32_t>(g.slots);
    }
    len[i] = pos[i] + 1;
  }
  check_cuda(cudaMemcpyAsync(g.io_device.get(), host, g.io.in_bytes, cudaMemcpyHostToDevice, stream()),
             "cudaMemcpyAsync (step inputs)");
  forward_step(rows);
  sample(live);
  record(live);
}

// The decode step's forward through the LM head: the bucket's captured graph once it has run
// once directly (its GEMM plans made outside the capture), directly when graphs are off or a
// capture failed.
template <typename T>
void Generator<T>::forward_step(size_t rows) {
  GenerationState<T>& g = *e_.gen_;
  const size_t b = log2_of(rows);
  if (!e_.options_.use_cuda_graphs || g.no_graph[b]) return launch_step(rows);
  if (g.graphs[b]) {
    check_cuda(cudaGraphLaunch(g.graphs[b], stream()), "cudaGraphLaunch (decode step)");
    return;
  }
  if (!g.warm[b]) {
    launch_step(rows);
    g.warm[b] = 1;
    return;
  }
  cudaGraph_t graph = nullptr;
  check_cuda(cudaStreamBeginCapture(stream(), cudaStreamCaptureModeThreadLocal), "cudaStreamBeginCapture");
  bool captured = true;
  try {
    launch_step(rows);
  } catch (const EngineError& err) {
    if (err.status() == DAPO_CUDA_ERR_DEVICE_LOST) {
      cudaStreamEndCapture(stream(), &graph);
      throw;
    }
    captured = false;
  }
  cudaError_t status = cudaStreamEndCapture(stream(), &graph);
  cudaGraphExec_t exec = nullptr;
  if (captured && status == cudaSuccess) status = cudaGraphInstantiate(&exec, graph, 0);
  if (graph) cudaGraphDestroy(graph);
  if (!captured || status != cudaSuccess) {
    if (is_sticky(status)) check_cuda(status, "capturing the decode step");
    cudaGetLastError();
    g.no_graph[b] = 1;  // this bucket runs without a graph from now on
    return launch_step(rows);
  }
  g.graphs[b] = exec;
  check_cuda(cudaGraphLaunch(exec, stream()), "cudaGraphLaunch (decode step)");
}

template <typename T>
void Generator<T>::launch_step(size_t rows) {
  GenerationState<T>& g = *e_.gen_;
  char* dev = g.io_device.get();
  Rows<T> r;
  r.t = rows;
  r.tokens = at<int32_t>(dev, g.io.tokens);
  r.positions = at<int32_t>(dev, g.io.positions);
  r.slots = at<int32_t>(dev, g.io.slots);
  r.lengths = at<int32_t>(dev, g.io.lengths);
  r.caches = g.caches.data();
  r.cache_positions = g.capacity;
  r.decode_scratch = g.attention_scratch;
  e_.embed_and_forward(r, g.decode, e_.gemm_gen_, stream());
  e_.lm_head_logits(g.decode.hf, rows, g.logits.get(), e_.gemm_gen_, stream());
}

// Samples a token for the first seqs.size() rows of the logits, and reads them back.
template <typename T>
void Generator<T>::sample(const std::vector<size_t>& seqs) {
  GenerationState<T>& g = *e_.gen_;
  char* dev = g.io_device.get();
  check_cuda(cudaMemsetAsync(dev + g.io.out_bad, 0, sizeof(int32_t), stream()), "cudaMemsetAsync (sampler flag)");
  SampleArgs s;
  s.rows = seqs.size();
  s.vocab = s.ld = e_.c_.vocab;
  s.logits = g.logits.get();
  s.temperature = a_.temperature;
  s.top_p = a_.top_p;
  s.top_k = a_.top_k;
  s.seed = a_.seed;
  s.prompt_id = at<uint64_t>(dev, g.io.prompt_ids);
  s.sample = at<uint32_t>(dev, g.io.samples);
  s.position = at<uint32_t>(dev, g.io.sample_positions);
  s.token = at<int32_t>(dev, g.io.out_tokens);
  s.logprob = at<float>(dev, g.io.out_logprobs);
  s.bad_row = at<int32_t>(dev, g.io.out_bad);
  check_launch(sample_rows(s, g.sample_scratch.get(), stream()), "sample_rows");
  check_cuda(cudaMemcpyAsync(g.io_host.get() + g.io.out_begin, dev + g.io.out_begin, g.io.out_bytes,
                             cudaMemcpyDeviceToHost, stream()),
             "cudaMemcpyAsync (sampled tokens)");
  e_.sync(stream(), "generate");
  if (*at<int32_t>(g.io_host.get(), g.io.out_bad)) report_bad_logits(seqs);
}

template <typename T>
void Generator<T>::record(const std::vector<size_t>& seqs) {
  GenerationState<T>& g = *e_.gen_;
  const int32_t* tok = at<int32_t>(g.io_host.get(), g.io.out_tokens);
  const float* lp = at<float>(g.io_host.get(), g.io.out_logprobs);
  for (size_t i = 0; i < seqs.size(); ++i) {
    const size_t q = seqs[i], where = out_offset(q) + schedule_->produced(q);
    tokens_[where] = tok[i];
    logprobs_[where] = lp[i];
    bool stopped = false;
    if (schedule_->record(q, tok[i], &stopped)) {
      lengths_[q] = schedule_->produced(q);
      finished_[q] = stopped ? 1 : 0;
    }
  }
  schedule_->compact();
}

// A row held a non-finite logit: the first such sequence, named as the CPU engine names it.
template <typename T>
void Generator<T>::report_bad_logits(const std::vector<size_t>& seqs) {
  GenerationState<T>& g = *e_.gen_;
  const size_t v = e_.c_.vocab;
  std::vector<float> row(v);
  for (size_t i = 0; i < seqs.size(); ++i) {
    check_cuda(cudaMemcpy(row.data(), g.logits.get() + i * v, v * sizeof(float), cudaMemcpyDeviceToHost),
               "cudaMemcpy (logits)");
    if (std::all_of(row.begin(), row.end(), [](float x) { return std::isfinite(x); })) continue;
    const size_t q = seqs[i];
    throw_range("the logits of prompt " + std::to_string(q / plan_.n) + ", sample " + std::to_string(q % plan_.n) +
                " are not finite at new token " + std::to_string(schedule_->produced(q)) +
                " (the weights or activations overflowed)");
  }
  throw_range("the sampler saw a non-finite logit (the weights or activations overflowed)");
}

template <typename T>
void CudaEngine<T>::drop_graphs() {
  if (gen_) gen_->drop_graphs();
}

template <typename T>
void CudaEngine<T>::generate(const dapo_cuda_generate_args& args, int32_t* tokens, float* logprobs, size_t* lengths,
                             uint8_t* finished) {
  phase_ = Phase::kGenerate;
  const GeneratePlan plan = plan_generate(c_, args);
  if (!lengths || !finished) throw_args("lengths and finished must not be null");
  std::fill(lengths, lengths + plan.n_seqs, size_t(0));
  std::fill(finished, finished + plan.n_seqs, uint8_t(0));
  if (plan.total_capacity == 0) return;  // maxNewTokens 0: nothing to generate
  if (!tokens || !logprobs) throw_args("tokens and logprobs must not be null");
  ensure_rope(plan.longest_cap);
  Generator<T>(*this, plan, args, tokens, logprobs, lengths, finished).run();
}

#define DAPO_ENGINE_GENERATE(T)                        \
  template class Generator<T>;                         \
  template void CudaEngine<T>::drop_graphs();          \
  template void CudaEngine<T>::generate(const dapo_cuda_generate_args&, int32_t*, float*, size_t*, uint8_t*);
DAPO_ENGINE_GENERATE(float)
DAPO_ENGINE_GENERATE(bf16)

}  // namespace dapo::cuda::model
