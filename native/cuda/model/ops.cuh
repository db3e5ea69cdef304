// The CUDA policy engine's ops: one file per op (native/cuda/model/<op>.cu), each the twin of a
// CPU function of native/model/ with the same contract (row-major, same formulas, same order of
// arguments where it can). engine.cu strings them together in the order of native/model/engine.cc.
//
// Conventions of every launcher below:
//  - Pointers are device memory unless a comment says "host". Sizes are element counts.
//  - It enqueues on `stream`, never synchronises, never allocates (scratch is passed in, its
//    size given by the matching *_scratch_bytes function), and returns the launch status
//    (cudaGetLastError() after the launch, or cudaErrorInvalidValue for a size it cannot run).
//    So a whole decode step can be captured into a CUDA graph.
//  - T is float (the fp32 mode: the tests compare with the CPU engine at 1e-4) or bf16 (what
//    users run). Activations and their gradients are T; weight gradients, AdamW state, the
//    RMSNorm rstd and the attention lse are fp32; arithmetic inside a kernel is fp32.
//  - Deterministic: no float atomics. A sum over rows (a weight gradient, a norm) is two-stage
//    with a fixed order, so a result depends only on the inputs, not on timing.
#pragma once
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace dapo::cuda::model {

using bf16 = __nv_bfloat16;

// ---------------------------------------------------------------------------------------------
// cast.cu: dst = (To) src, n elements (fp32 master weights -> compute copy, and back for tests).
template <typename To, typename From>
cudaError_t cast(const From* src, To* dst, size_t n, cudaStream_t stream);

// ---------------------------------------------------------------------------------------------
// embedding.cu: the embedding rows of the tokens.
// out[r, :] = table[tokens[r], :] for r < rows (rows of `hidden`). The kernel takes no vocab:
// the caller has checked every token is in [0, vocab) (group_rows_by_token checks it too).
template <typename T>
cudaError_t embedding_forward(const int32_t* tokens, size_t rows, const T* table, size_t hidden, T* out,
                              cudaStream_t stream);

// Rows grouped by token, made on the host by group_rows_by_token (embedding_groups.h) and
// uploaded: token ids[u] occurs at rows rows[starts[u]] .. rows[starts[u+1]-1] (ascending).
struct TokenRows {
  const int32_t* ids = nullptr;     // [n_ids]
  const int32_t* starts = nullptr;  // [n_ids + 1]
  const int32_t* rows = nullptr;    // [number of rows]
  size_t n_ids = 0;
};
// grad_table[ids[u], :] += sum over its rows (in ascending row order) of dx[row, :]. fp32 table
// gradient; no atomics (each id is summed by one block), so the result is deterministic.
template <typename T>
cudaError_t embedding_backward(const T* dx, size_t hidden, TokenRows groups, float* grad_table,
                               cudaStream_t stream);

// ---------------------------------------------------------------------------------------------
// rmsnorm.cu: twin of rmsnorm_forward / rmsnorm_backward (native/model/layers.cc).
// y[r] = x[r] * rstd[r] * w, rstd[r] = 1 / sqrt(mean(x[r]^2) + eps). rows x dim, contiguous; y may
// be x (in place).
template <typename T>
cudaError_t rmsnorm_forward(const T* x, const T* w, size_t rows, size_t dim, float eps, T* y, float* rstd,
                            cudaStream_t stream);
// The residual add fused in: sum = a + b (written to sum_out, which may alias a), then
// y = rmsnorm(sum). The sum is rounded to T before the norm reads it, as in two separate ops.
template <typename T>
cudaError_t add_rmsnorm_forward(const T* a, const T* b, const T* w, size_t rows, size_t dim, float eps, T* sum_out,
                                T* y, float* rstd, cudaStream_t stream);
// dx = d/dx (accumulate_dx: dx += d/dx); dw (fp32, may be null) += sum over rows of dy * x * rstd.
// Without accumulate_dx, dx may alias dy (dw is summed before dx is written).
// partial: fp32 scratch of rmsnorm_backward_scratch_bytes(rows, dim) for the two-stage dw sum.
size_t rmsnorm_backward_scratch_bytes(size_t rows, size_t dim);
template <typename T>
cudaError_t rmsnorm_backward(const T* dy, const T* x, const T* w, const float* rstd, size_t rows, size_t dim, T* dx,
                             bool accumulate_dx, float* dw, void* scratch, cudaStream_t stream);

// ---------------------------------------------------------------------------------------------
// rope.cu: twin of Rope::apply (native/model/rope.cc), Hugging Face rotate-half layout.
// Rotates, in place, `heads` vectors of head_dim in each of `rows` rows (row r starts at
// x + r * ld) by +angle(pos[r]) (inverse: -angle, the backward). cos / sin: fp32 tables
// [positions, head_dim / 2] made on the host by dapo::Rope (one definition of the frequencies,
// llama3 scaling included) and uploaded; pos: int32 [rows], each below the tables' positions
// (the caller sizes the tables for the batch, as the CPU engine's Rope::ensure).
template <typename T>
cudaError_t rope_apply(T* x, size_t rows, size_t heads, size_t head_dim, size_t ld, const int32_t* pos,
                       const float* cos, const float* sin, bool inverse, cudaStream_t stream);

// ---------------------------------------------------------------------------------------------
// swiglu.cu: twin of swiglu_forward / swiglu_backward. Rows of `cols` values; g and u are read
// with leading dimension ld_in (so gate and up may be the two halves of one GEMM output), the
// outputs written with ld_out.
// a = silu(g) * u
template <typename T>
cudaError_t swiglu_forward(const T* g, const T* u, size_t ld_in, size_t rows, size_t cols, T* a, size_t ld_out,
                           cudaStream_t stream);
// dg, du from da (da read with ld_out, dg / du written with ld_in). dg / du may be g / u (in place
// over the gate-up GEMM output).
template <typename T>
cudaError_t swiglu_backward(const T* da, size_t ld_out, const T* g, const T* u, size_t ld_in, size_t rows,
                            size_t cols, T* dg, T* du, cudaStream_t stream);

// ---------------------------------------------------------------------------------------------
// bias.cu: twins of add_bias / add_column_sums (qwen2's q, k, v biases).
// x[r, j] += b[j], rows of ld.
template <typename T>
cudaError_t add_bias(T* x, size_t rows, size_t cols, size_t ld, const T* b, cudaStream_t stream);
// out[j] (fp32) += sum over rows of x[r, j], two-stage with scratch of column_sums_scratch_bytes.
size_t column_sums_scratch_bytes(size_t rows, size_t cols);
template <typename T>
cudaError_t add_column_sums(const T* x, size_t rows, size_t cols, size_t ld, float* out, void* scratch,
                            cudaStream_t stream);

// ---------------------------------------------------------------------------------------------
// gemm.cu: cuBLASLt (opened with dlopen, native/cuda/cublaslt.h), row-major semantics, the
// twin of dapo::sgemm. D[m, n] = alpha * op(A) op(B) + beta * C, where op(A) is [m, k] and
// op(B) is [k, n]; A is stored [m, k] (trans_a false) or [k, m] (true), likewise B. C may be
// D (in place) or null (beta must be 0). Types: A and B both T; C and D both T or both fp32.
// fp32 inputs use CUBLAS_COMPUTE_32F without TF32, so the fp32 mode matches the CPU.
// Algorithms are chosen once per shape and cached; a workspace is kept per Gemm. Graph-safe: the
// first run() allocates the workspace and a shape's first run() builds its plan (host only);
// after that run() only enqueues the matmul (no allocation, no synchronisation), so run each
// shape once before capturing a graph (a first call during capture fails rather than allocate or plan).
// One Gemm serves one thread at a time.
struct GemmCall {
  bool trans_a = false, trans_b = false;
  size_t m = 0, n = 0, k = 0;
  const void* a = nullptr;
  size_t lda = 0;  // elements between rows of A as stored
  const void* b = nullptr;
  size_t ldb = 0;
  const void* c = nullptr;
  size_t ldc = 0;
  void* d = nullptr;
  size_t ldd = 0;
  int ab_type = 1;  // DAPO_CUDA_F32 or DAPO_CUDA_BF16
  int cd_type = 1;  // DAPO_CUDA_F32 or DAPO_CUDA_BF16
  float alpha = 1.0f, beta = 0.0f;
};
class Gemm {
 public:
  Gemm();
  ~Gemm();
  Gemm(const Gemm&) = delete;
  Gemm& operator=(const Gemm&) = delete;
  // 0, or DAPO_CUDA_ERR_CUBLAS / a cudaError_t with the reason in message.
  int run(const GemmCall& call, cudaStream_t stream, char* message, size_t message_size);

 private:
  struct Impl;
  Impl* impl_;
};

// ---------------------------------------------------------------------------------------------
// attention.cu: causal self-attention, flash-style (tiles in shared memory, online softmax, the
// scores never written to global memory), GQA (query head h reads kv head h / (heads / kv_heads)),
// scale 1 / sqrt(head_dim). Any even head_dim up to 256; fast paths for 64 and 128.

// Packed sequences (flash-attention's varlen layout): rows cu_seqlens[s] .. cu_seqlens[s+1]-1
// form sequence s; a row attends to the rows of its sequence up to and including itself.
template <typename T>
struct AttentionArgs {
  size_t rows = 0, n_seqs = 0, heads = 0, kv_heads = 0, head_dim = 0;
  const int32_t* cu_seqlens = nullptr;  // [n_seqs + 1], device
  size_t max_seqlen = 0;                // host: the longest sequence (sizes the grid)
  const T* q = nullptr;                 // [rows, heads * head_dim], row stride ld_q
  const T* k = nullptr;                 // [rows, kv_heads * head_dim], row stride ld_kv
  const T* v = nullptr;
  size_t ld_q = 0, ld_kv = 0;
  T* out = nullptr;                     // [rows, heads * head_dim], row stride ld_out
  size_t ld_out = 0;
  float* lse = nullptr;                 // [rows, heads]: log-sum-exp of the scaled scores
};
template <typename T>
cudaError_t attention_forward(const AttentionArgs<T>& a, cudaStream_t stream);

// The backward recomputes the scores from q, k and lse. dout has out's layout; dq, dk, dv have
// the layouts of q, k, v and are written (not accumulated).
template <typename T>
struct AttentionBackwardArgs {
  AttentionArgs<T> fwd;  // q, k, v, out and lse as the forward left them
  const T* dout = nullptr;
  T* dq = nullptr;
  T* dk = nullptr;
  T* dv = nullptr;
};
template <typename T>
size_t attention_backward_scratch_bytes(const AttentionArgs<T>& a);
template <typename T>
cudaError_t attention_backward(const AttentionBackwardArgs<T>& a, void* scratch, cudaStream_t stream);

// The KV cache of generation: per layer, k_cache and v_cache hold `slots` sequences of
// `capacity` positions of kv_heads * head_dim values; (slot, pos) is at
// (slot * capacity + pos) * kv_heads * head_dim.
template <typename T>
struct KvCache {
  T* k = nullptr;
  T* v = nullptr;
  size_t slots = 0, capacity = 0, kv_heads = 0, head_dim = 0;
};
// Writes rows of k and v (after RoPE; row stride ld_kv) at (slot[r], pos[r]).
template <typename T>
cudaError_t kv_cache_write(const KvCache<T>& cache, const T* k, const T* v, size_t ld_kv, size_t rows,
                           const int32_t* slot, const int32_t* pos, cudaStream_t stream);
// Copies positions [0, length) of slot `from` to each slot of `to` (host array of n_to slots):
// one prompt prefilled once, shared by its samples.
template <typename T>
cudaError_t kv_cache_copy(const KvCache<T>& cache, int32_t from, const int32_t* to_host, size_t n_to, size_t length,
                          cudaStream_t stream);

// Decoding: one query row per live sequence; row r attends to positions [0, length[r]) of slot
// slot[r] (its own new key already written). The grid is sized by max_length (host, an upper
// bound such as the cache capacity) and the kernel reads the actual lengths from device memory,
// so one launch shape serves every step of a captured CUDA graph (split-K over the keys, then a
// combine pass: flash-decoding).
template <typename T>
struct DecodeAttentionArgs {
  size_t rows = 0, heads = 0;
  KvCache<T> cache;
  const T* q = nullptr;  // [rows, heads * head_dim], row stride ld_q
  size_t ld_q = 0;
  const int32_t* slot = nullptr;    // [rows], device
  const int32_t* length = nullptr;  // [rows], device
  size_t max_length = 0;
  T* out = nullptr;  // [rows, heads * head_dim], row stride ld_out
  size_t ld_out = 0;
};
template <typename T>
size_t attention_decode_scratch_bytes(const DecodeAttentionArgs<T>& a);
template <typename T>
cudaError_t attention_decode(const DecodeAttentionArgs<T>& a, void* scratch, cudaStream_t stream);

// ---------------------------------------------------------------------------------------------
// sampler.cu: twin of sample_token (native/model/sampler.cc) with the same Philox stream
// (native/model/philox.h): row r draws u = philox_uniform(seed, prompt_id[r], sample[r],
// position[r]) and picks by inverse CDF, in id order when nothing is filtered, else over the
// top-k / top-p set in order of decreasing probability (ties by id), as the CPU does. Masses are
// summed in fixed point (uint64), so the choice is deterministic and order-free; it can differ
// from the CPU's double sums only when u lands within ~1e-12 of a boundary, or where two
// candidates tie.
struct SampleArgs {
  size_t rows = 0, vocab = 0, ld = 0;
  const float* logits = nullptr;  // [rows, ld] fp32 (the LM head's output)
  double temperature = 1.0;       // <= 0: greedy, argmax with the lowest id on ties
  double top_p = 1.0;
  size_t top_k = 0;               // 0: no limit
  uint64_t seed = 0;
  const uint64_t* prompt_id = nullptr;  // [rows], device
  const uint32_t* sample = nullptr;     // [rows], device
  const uint32_t* position = nullptr;   // [rows], device: index of the new token in its response
  int32_t* token = nullptr;             // [rows] out
  // [rows] out: log-softmax(logits / temperature)[token] computed as training computes it (a
  // float division by the temperature, fp32 log-sum-exp); untempered when greedy.
  float* logprob = nullptr;
  int32_t* bad_row = nullptr;           // device int, set to 1 when a row holds a non-finite logit
};
// A row holding a NaN or +inf, or no finite logit at all, sets *bad_row (when not null) and gets
// token 0 and a NaN log-prob; -inf logits are masked tokens (probability 0), not bad. No scratch
// is needed (sample_scratch_bytes is 0): the blocks of a row share through shared memory.
size_t sample_scratch_bytes(size_t rows, size_t vocab);
cudaError_t sample_rows(const SampleArgs& a, void* scratch, cudaStream_t stream);

// ---------------------------------------------------------------------------------------------
// adamw.cu: twin of AdamW::step (native/optim/adamw.cc), torch.optim.AdamW with decoupled weight
// decay and torch's clip_grad_norm_, over all parameters in one launch.
// grad_norm_squared: sum of g^2 in double, two-stage fixed order, into *out (device double).
size_t grad_norm_scratch_bytes(size_t n);
cudaError_t grad_norm_squared(const float* g, size_t n, double* out, void* scratch, cudaStream_t stream);

struct AdamWSpanDevice {  // a run of parameters [begin, end) and whether weight decay applies
  uint64_t begin, end;
  int decay;
};
struct AdamWScalars {  // as AdamWOptions, plus the step count t (this step included)
  double lr, beta1, beta2, eps, weight_decay, clip_grad_norm;
  uint64_t t;
};
// The update. Reads the squared norm from device memory (no host round trip) and clips as
// torch does (scale clip / (norm + 1e-6) when norm > clip). Zeroes g in the same pass, and
// writes the compute copy w_compute[i] = (T) w[i] (null when the compute copy is w itself).
// The caller checks the norm is finite before calling (non-finite: no step, as the CPU).
template <typename T>
cudaError_t adamw_update(float* w, float* g, float* m, float* v, size_t n, const AdamWSpanDevice* spans,
                         size_t n_spans, const AdamWScalars& s, const double* norm_squared, T* w_compute,
                         cudaStream_t stream);

}  // namespace dapo::cuda::model
