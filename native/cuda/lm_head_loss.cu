// The LM head and the loss over chunks of tokens (see lm_head_loss.cuh).
//
// Schedule, for chunks k = 0, 1, ... in two slots (k % 2), dW once per group of two chunks:
//   stream A (GEMMs):  fwd(k) -> L[k%2]        after the sweep of k - 2 has read that slot
//                      dX(k-1), dW(group)      after the sweep of k - 1
//   stream B (sweeps): sweep(k): L[k%2] -> G[k%2]  after fwd(k), and after the dW that last
//                      read G[k%2]
// so sweep(k) runs beside dX(k-1), dW and fwd(k+1). G of a group's two chunks is contiguous,
// which gives dW a K of two chunks: dW reads and writes the fp32 [vocab x hidden] gradient once
// per group, the traffic that dominates it.
#include <cstdio>

#include "cuda/check.cuh"
#include "cuda/lm_head_loss.cuh"
#include "cuda/model/ops.cuh"
#include "cuda/row_loss.cuh"

namespace dapo::cuda {
namespace {

// Two chunks of 512 rows at V = 151936 (fp32 logits and bf16 gradients): GEMMs of N = 512 keep
// the tensor cores busy, and the call stays under 1 GiB of scratch (the issue's bound at N = 16384).
constexpr size_t kDefaultChunkBytes = size_t{896} << 20;
constexpr int kSlots = 2;

size_t element_bytes(int dtype) { return dtype == DAPO_CUDA_F32 ? 4 : 2; }

bool has_grads(const LmHeadLossParams& p) { return p.grad_hidden != nullptr || p.grad_weight != nullptr; }

// Events and the second stream of one call. On every return path the caller's stream waits for
// the second stream's work, so scratch freed on the caller's stream is never freed under it.
class Pipeline {
 public:
  explicit Pipeline(cudaStream_t main) : main_(main) {}
  ~Pipeline() {
    if (side_) {
      if (cudaEventRecord(joined_, side_) == cudaSuccess) cudaStreamWaitEvent(main_, joined_, 0);
      cudaStreamDestroy(side_);
    }
    for (cudaEvent_t e : {fwd_[0], fwd_[1], swept_[0], swept_[1], dw_, joined_, start_})
      if (e) cudaEventDestroy(e);
  }
  cudaError_t init() {
    cudaError_t s = cudaStreamCreateWithFlags(&side_, cudaStreamNonBlocking);
    for (cudaEvent_t* e : {&fwd_[0], &fwd_[1], &swept_[0], &swept_[1], &dw_, &joined_, &start_})
      if (s == cudaSuccess) s = cudaEventCreateWithFlags(e, cudaEventDisableTiming);
    // The side stream starts after everything already queued on the main stream.
    if (s == cudaSuccess) s = cudaEventRecord(start_, main_);
    if (s == cudaSuccess) s = cudaStreamWaitEvent(side_, start_, 0);
    return s;
  }
  cudaStream_t main() const { return main_; }
  cudaStream_t side() const { return side_; }
  // A on B's event / B on A's event.
  cudaError_t main_waits(cudaEvent_t e) { return cudaStreamWaitEvent(main_, e, 0); }
  cudaError_t side_waits(cudaEvent_t e) { return cudaStreamWaitEvent(side_, e, 0); }
  cudaEvent_t fwd(int slot) const { return fwd_[slot]; }
  cudaEvent_t swept(int slot) const { return swept_[slot]; }
  cudaEvent_t dw() const { return dw_; }

 private:
  cudaStream_t main_ = 0, side_ = nullptr;
  cudaEvent_t fwd_[kSlots] = {nullptr, nullptr}, swept_[kSlots] = {nullptr, nullptr};
  cudaEvent_t dw_ = nullptr, joined_ = nullptr, start_ = nullptr;
};

// One call's buffers and the GEMMs over them.
struct Head {
  const LmHeadLossParams& p;
  model::Gemm& gemm;
  size_t rows;           // per chunk
  float* logits;         // [kSlots * rows, vocab] fp32
  void* grad;            // [kSlots * rows, vocab] of dtype; null without gradients
  char* message;
  size_t message_size;

  const char* x_rows(size_t r0) const {
    return static_cast<const char*>(p.hidden_states) + r0 * p.hidden * element_bytes(p.dtype);
  }
  float* slot_logits(int slot) const { return logits + static_cast<size_t>(slot) * rows * p.vocab; }
  char* slot_grad(int slot) const {
    return static_cast<char*>(grad) + static_cast<size_t>(slot) * rows * p.vocab * element_bytes(p.dtype);
  }

  // L[slot] = X[r0 : r0 + r] W^T
  int forward(int slot, size_t r0, size_t r, cudaStream_t stream) const {
    model::GemmCall c;
    c.trans_a = false, c.trans_b = true;
    c.m = r, c.n = p.vocab, c.k = p.hidden;
    c.a = x_rows(r0), c.lda = p.hidden;
    c.b = p.weight, c.ldb = p.hidden;
    c.d = slot_logits(slot), c.ldd = p.vocab;
    c.ab_type = p.dtype, c.cd_type = DAPO_CUDA_F32;
    return gemm.run(c, stream, message, message_size);
  }
  // dX[r0 : r0 + r] = G[slot] W
  int grad_hidden(int slot, size_t r0, size_t r, cudaStream_t stream) const {
    if (!p.grad_hidden) return 0;
    const int dx_type = p.grad_hidden_dtype ? p.grad_hidden_dtype : p.dtype;
    model::GemmCall c;
    c.m = r, c.n = p.hidden, c.k = p.vocab;
    c.a = slot_grad(slot), c.lda = p.vocab;
    c.b = p.weight, c.ldb = p.hidden;
    c.d = static_cast<char*>(p.grad_hidden) + r0 * p.hidden * element_bytes(dx_type), c.ldd = p.hidden;
    c.ab_type = p.dtype, c.cd_type = dx_type;
    return gemm.run(c, stream, message, message_size);
  }
  // dW += G[0 : r]^T X[r0 : r0 + r], the group's rows from slot 0 on.
  int grad_weight(size_t r0, size_t r, cudaStream_t stream) const {
    if (!p.grad_weight) return 0;
    model::GemmCall c;
    c.trans_a = true, c.trans_b = false;
    c.m = p.vocab, c.n = p.hidden, c.k = r;
    c.a = grad, c.lda = p.vocab;
    c.b = x_rows(r0), c.ldb = p.hidden;
    c.c = p.grad_weight, c.ldc = p.hidden;
    c.d = p.grad_weight, c.ldd = p.hidden;
    c.ab_type = p.dtype, c.cd_type = DAPO_CUDA_F32;
    c.beta = 1.0f;
    return gemm.run(c, stream, message, message_size);
  }
  cudaError_t sweep(int slot, size_t r0, size_t r, cudaStream_t stream) const {
    RowLossParams s;
    s.logits = slot_logits(slot);
    s.dtype = DAPO_CUDA_F32;
    s.vocab = s.ld = p.vocab;
    s.rows = r;
    s.row0 = r0;
    s.grad = grad ? slot_grad(slot) : nullptr;
    s.grad_dtype = p.dtype;
    s.grad_ld = p.vocab;
    s.tokens = p.tokens;
    s.clip = p.clip;
    s.entropy = p.entropy;
    s.temperature = p.temperature;
    s.term = p.term;
    s.kl_coef = p.kl_coef;
    return launch_row_loss(s, stream);
  }
};

model::Gemm& thread_gemm() {
  static thread_local model::Gemm gemm;
  return gemm;
}

// Orders `work` after what `owner` has queued (begin), and `owner` after `work` on every return
// path (the destructor), for scratch owned by one stream and used on another.
class StreamJoin {
 public:
  StreamJoin(cudaStream_t owner, cudaStream_t work) : owner_(owner), work_(work) {}
  cudaError_t begin() { return owner_ == work_ ? cudaSuccess : order(owner_, work_); }
  ~StreamJoin() {
    if (owner_ != work_) order(work_, owner_);
  }

 private:
  static cudaError_t order(cudaStream_t before, cudaStream_t after) {
    cudaEvent_t e = nullptr;
    cudaError_t s = cudaEventCreateWithFlags(&e, cudaEventDisableTiming);
    if (s == cudaSuccess) s = cudaEventRecord(e, before);
    if (s == cudaSuccess) s = cudaStreamWaitEvent(after, e, 0);
    if (e) cudaEventDestroy(e);
    return s;
  }
  cudaStream_t owner_, work_;
};

// Scratch for two chunks; running out of device memory is DAPO_CUDA_ERR_OOM with the sizes.
int alloc_chunks(Scratch& scratch, void** ptr, size_t bytes, const char* what, size_t rows, char* message,
                 size_t message_size) {
  const cudaError_t s = scratch.alloc(ptr, bytes);
  if (s == cudaSuccess) return 0;
  if (s != cudaErrorMemoryAllocation) return report(s, "allocating the LM-head chunks", message, message_size);
  cudaGetLastError();
  size_t free_bytes = 0, total = 0;
  cudaMemGetInfo(&free_bytes, &total);
  std::snprintf(message, message_size,
                "out of device memory allocating the LM head's %s (2 chunks of %zu rows): %zu bytes asked, %zu free; "
                "pass a smaller chunk_rows or max_chunk_bytes",
                what, rows, bytes, free_bytes);
  return DAPO_CUDA_ERR_OOM;
}

int check_params(const LmHeadLossParams& p, char* message, size_t message_size) {
  const char* bad = nullptr;
  if (p.dtype != DAPO_CUDA_F32 && p.dtype != DAPO_CUDA_BF16) bad = "dtype must be DAPO_CUDA_F32 or DAPO_CUDA_BF16";
  else if (p.grad_hidden_dtype != 0 && p.grad_hidden_dtype != DAPO_CUDA_F32 && p.grad_hidden_dtype != p.dtype)
    bad = "grad_hidden_dtype must be 0, DAPO_CUDA_F32 or dtype";
  else if (p.hidden == 0 || p.vocab == 0) bad = "hidden size and vocab must be positive";
  else if (p.n > 0 && (!p.hidden_states || !p.weight || !p.tokens.tokens)) bad = "hidden_states, weight and tokens are required";
  else if ((p.grad_hidden == nullptr) != (p.grad_weight == nullptr)) bad = "grad_hidden and grad_weight go together";
  else if (!(p.temperature > 0.0f) || p.temperature > 3.4e38f) bad = "temperature must be a finite number > 0";
  else if (p.vocab > (SIZE_MAX / 8) / (p.n > 0 ? p.n : 1) || p.vocab > (SIZE_MAX / 8) / p.hidden)
    bad = "n x vocab or vocab x hidden overflows the address space";
  if (!bad) return 0;
  std::snprintf(message, message_size, "lm_head_loss: %s", bad);
  return DAPO_CUDA_ERR_ARGS;
}

}  // namespace

size_t lm_head_chunk_rows(const LmHeadLossParams& p) {
  size_t rows = p.chunk_rows;
  if (rows == 0) {
    const size_t budget = p.max_chunk_bytes ? p.max_chunk_bytes : kDefaultChunkBytes;
    const size_t per_row = p.vocab * (4 + (has_grads(p) ? element_bytes(p.dtype) : 0)) * kSlots;
    rows = per_row ? budget / per_row : 1;
    if (rows >= 64) rows = rows / 64 * 64;  // GEMM-friendly
  }
  if (rows > p.n) rows = p.n;
  return rows ? rows : 1;
}

int lm_head_loss(const LmHeadLossParams& p, Scratch& scratch, cudaStream_t stream, char* message,
                 size_t message_size) {
  if (int rc = check_params(p, message, message_size)) return rc;
  if (p.n == 0) return 0;
  Head head{p, p.gemm ? *p.gemm : thread_gemm(), lm_head_chunk_rows(p), nullptr, nullptr, message, message_size};
  const bool grads = has_grads(p);
  const size_t slot_elements = head.rows * p.vocab;
  void* logits = nullptr;
  if (int e = alloc_chunks(scratch, &logits, kSlots * slot_elements * 4, "logits", head.rows, message, message_size))
    return e;
  head.logits = static_cast<float*>(logits);
  if (grads) {
    if (int e = alloc_chunks(scratch, &head.grad, kSlots * slot_elements * element_bytes(p.dtype), "logit gradients",
                             head.rows, message, message_size))
      return e;
  }

  // Scratch is allocated (and later freed) in its own stream's order; join it both ways.
  StreamJoin join(scratch.stream(), stream);
  DAPO_CUDA_TRY(join.begin(), message, message_size);
  int rc = 0;
  {
    Pipeline pipe(stream);
    DAPO_CUDA_TRY(pipe.init(), message, message_size);
    const size_t chunks = (p.n + head.rows - 1) / head.rows;
    auto rows_of = [&](size_t k) { return k + 1 < chunks ? head.rows : p.n - k * head.rows; };
    // The gradients of chunk j (dX, and dW when j closes its group of two).
    auto backward = [&](size_t j) -> int {
      const int slot = static_cast<int>(j % kSlots);
      DAPO_CUDA_TRY(pipe.main_waits(pipe.swept(slot)), message, message_size);
      if (int e = head.grad_hidden(slot, j * head.rows, rows_of(j), pipe.main())) return e;
      if (slot == kSlots - 1 || j + 1 == chunks) {
        const size_t first = j - slot;
        if (int e = head.grad_weight(first * head.rows, j * head.rows + rows_of(j) - first * head.rows, pipe.main()))
          return e;
        DAPO_CUDA_TRY(cudaEventRecord(pipe.dw(), pipe.main()), message, message_size);
      }
      return 0;
    };
    for (size_t k = 0; k < chunks && rc == 0; ++k) {
      const int slot = static_cast<int>(k % kSlots);
      if (k >= kSlots) DAPO_CUDA_TRY(pipe.main_waits(pipe.swept(slot)), message, message_size);
      if ((rc = head.forward(slot, k * head.rows, rows_of(k), pipe.main())) != 0) break;
      DAPO_CUDA_TRY(cudaEventRecord(pipe.fwd(slot), pipe.main()), message, message_size);
      if (grads && k >= 1 && (rc = backward(k - 1)) != 0) break;
      DAPO_CUDA_TRY(pipe.side_waits(pipe.fwd(slot)), message, message_size);
      // G[slot] was last read by the previous group's dW, queued just above.
      if (grads && k >= kSlots) DAPO_CUDA_TRY(pipe.side_waits(pipe.dw()), message, message_size);
      DAPO_CUDA_TRY(head.sweep(slot, k * head.rows, rows_of(k), pipe.side()), message, message_size);
      DAPO_CUDA_TRY(cudaEventRecord(pipe.swept(slot), pipe.side()), message, message_size);
    }
    if (rc == 0 && grads) rc = backward(chunks - 1);
  }  // the pipeline joins the side stream into `stream`, then `join` joins `stream` into scratch's
  return rc;
}

}  // namespace dapo::cuda
