// Generation's device state, kept between generate calls while the next call fits in it (the
// trainer asks for the same shapes every step, so its KV cache and CUDA graphs are reused);
// release_buffers frees it.
#pragma once
#include <cuda_runtime.h>

#include <vector>

#include "cuda/model/engine.cuh"

namespace dapo::cuda::model {

// Where a decode step's inputs and outputs sit in one buffer (device, and its page-locked host
// mirror): per-row int32 tokens, positions, slots, lengths, uint64 prompt ids and uint32 sample
// indices and positions for the sampler's Philox streams; then the sampled tokens, their log-probs
// and the non-finite flag. Laid out for the largest step, so a captured graph's pointers hold for
// every step.
struct StepIo {
  size_t tokens = 0, positions = 0, slots = 0, lengths = 0, prompt_ids = 0, samples = 0, sample_positions = 0;
  size_t in_bytes = 0;
  size_t out_tokens = 0, out_logprobs = 0, out_bad = 0;
  size_t out_begin = 0, out_bytes = 0;
  size_t total = 0;

  static StepIo layout(size_t rows);
};

template <typename T>
struct GenerationState {
  size_t slots = 0;     // sequences decoding at once; the cache has one more slot, where padding rows write
  size_t capacity = 0;  // positions per slot
  size_t rows = 0;      // the largest decode step: the power of two >= slots
  Buffer<T> k_cache, v_cache;       // [layers][slots + 1][capacity][kv_heads * head_dim]
  std::vector<KvCache<T>> caches;   // per layer, views of the two buffers
  Buffer<char> decode_arena;
  Activations<T> decode;            // the decode step's buffers over `rows` rows
  void* attention_scratch = nullptr;
  Buffer<float> logits;             // [rows, vocab]
  Buffer<char> sample_scratch;
  StepIo io;
  Buffer<char> io_device;
  PinnedBuffer<char> io_host;
  // Per call.
  Buffer<char> prefill_arena;
  Buffer<int32_t> prefill_ints;
  Buffer<T> prompt_hidden;          // [prompts, hidden]: each prompt's last hidden row
  // One captured decode step per bucket (index: log2 of the rows).
  std::vector<cudaGraphExec_t> graphs;
  std::vector<uint8_t> warm;        // the bucket ran once outside a capture (its GEMM plans exist)
  std::vector<uint8_t> no_graph;    // capturing failed: the bucket launches directly

  GenerationState() = default;
  GenerationState(const GenerationState&) = delete;
  GenerationState& operator=(const GenerationState&) = delete;
  ~GenerationState() { drop_graphs(); }
  void drop_graphs() {
    for (cudaGraphExec_t& g : graphs)
      if (g) {
        cudaGraphExecDestroy(g);
        g = nullptr;
      }
  }
};

}  // namespace dapo::cuda::model
