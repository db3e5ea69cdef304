// Validation, aggregation weights and the final reduction of the CUDA loss kernels. The
// weights follow native/loss/aggregation.cc exactly (divisions in double, then one rounding);
// counts use integer atomics, which are exact; no float atomics touch a result.
#include <climits>
#include <cmath>
#include <cstddef>
#include <cstdio>

#include "cuda/loss_prep.cuh"

namespace dapo::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kReduceThreads = 1024;

struct Counts {
  unsigned long long counted;          // tokens with mask set
  unsigned long long sequences;        // sequences with a counted token
};

__global__ void validate_and_count(PrepInputs in, unsigned int* seq_tokens, Counts* counts, DeviceStatus* status) {
  const bool seq_mode = in.aggregation != DAPO_CUDA_TOKEN_MEAN;
  const bool dapo_term = in.term != kTermNll;
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < in.n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    // The CPU kernel's order of checks, so the first failure named is the same.
    unsigned check = 0;
    if (dapo_term && !isfinite(in.old_logprobs[i])) check = kOldLogprobs;
    else if (dapo_term && !isfinite(in.advantages[i])) check = kAdvantages;
    else if (in.ref_logprobs && !isfinite(in.ref_logprobs[i])) check = kRefLogprobs;
    else if (in.logprobs && !isfinite(in.logprobs[i])) check = kLogprobs;
    else if (in.tokens && (in.tokens[i] < 0 || static_cast<size_t>(in.tokens[i]) >= in.vocab)) check = kTokens;
    else if (seq_mode && (in.seq_ids[i] < 0 || static_cast<size_t>(in.seq_ids[i]) >= in.n)) check = kSeqIds;
    if (check) atomicMin(&status->first_invalid, (static_cast<unsigned long long>(i) << 3) | check);
    if (!in.mask || in.mask[i]) {
      atomicAdd(&counts->counted, 1ull);
      if (seq_mode && in.seq_ids[i] >= 0 && static_cast<size_t>(in.seq_ids[i]) < in.n)
        atomicAdd(&seq_tokens[in.seq_ids[i]], 1u);
    }
  }
}

__global__ void count_sequences(size_t n, const unsigned int* seq_tokens, Counts* counts) {
  for (size_t s = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; s < n;
       s += static_cast<size_t>(gridDim.x) * blockDim.x)
    if (seq_tokens[s] > 0) atomicAdd(&counts->sequences, 1ull);
}

__global__ void fill_weights(PrepInputs in, const unsigned int* seq_tokens, const Counts* counts, float* weights) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < in.n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    float w = 0.0f;
    if (!in.mask || in.mask[i]) {
      if (in.aggregation == DAPO_CUDA_TOKEN_MEAN) {
        const double divisor = in.token_count >= 0 ? in.token_count : static_cast<double>(counts->counted);
        w = divisor > 0 ? static_cast<float>(1.0 / divisor) : 0.0f;
      } else {
        const double seqs = in.seq_count >= 0 ? in.seq_count : static_cast<double>(counts->sequences);
        const int32_t s = in.seq_ids[i];
        if (seqs > 0 && s >= 0 && static_cast<size_t>(s) < in.n) {
          const double per_seq = in.aggregation == DAPO_CUDA_SEQ_MEAN_TOKEN_MEAN ? static_cast<double>(seq_tokens[s]) : 1.0;
          w = static_cast<float>(1.0 / (per_seq * seqs));
        }
      }
    }
    weights[i] = w;
  }
}

// The sums of the reduction, per thread and then per warp.
struct Sums {
  double loss, kl, kl_ref;
  unsigned long long low, high, dual, tokens;
};

__device__ __forceinline__ Sums shfl_down(const Sums& v, int offset) {
  Sums r;
  r.loss = __shfl_down_sync(0xffffffffu, v.loss, offset);
  r.kl = __shfl_down_sync(0xffffffffu, v.kl, offset);
  r.kl_ref = __shfl_down_sync(0xffffffffu, v.kl_ref, offset);
  r.low = __shfl_down_sync(0xffffffffu, v.low, offset);
  r.high = __shfl_down_sync(0xffffffffu, v.high, offset);
  r.dual = __shfl_down_sync(0xffffffffu, v.dual, offset);
  r.tokens = __shfl_down_sync(0xffffffffu, v.tokens, offset);
  return r;
}

__device__ __forceinline__ void add(Sums& a, const Sums& b) {
  a.loss += b.loss, a.kl += b.kl, a.kl_ref += b.kl_ref;
  a.low += b.low, a.high += b.high, a.dual += b.dual, a.tokens += b.tokens;
}

__device__ __forceinline__ Sums warp_sum(Sums v) {
  for (int offset = 16; offset > 0; offset /= 2) add(v, shfl_down(v, offset));
  return v;
}

// One block; thread t takes rows t, t + 1024, ... in order, then a fixed tree (warps, then the
// warps' sums in order): the result is the same for any launch shape of the sweep that wrote
// the records.
__global__ void __launch_bounds__(kReduceThreads) reduce_records(size_t n, TokenArrays a, DeviceStatus* status) {
  __shared__ Sums s_warp[kReduceThreads / 32];
  Sums mine{0, 0, 0, 0, 0, 0, 0};
  for (size_t i = threadIdx.x; i < n; i += kReduceThreads) {
    if (a.mask && !a.mask[i]) continue;
    mine.loss += static_cast<double>(a.weights[i]) * static_cast<double>(a.rec_loss[i]);
    mine.kl += a.rec_nkl[i];
    mine.kl_ref += a.rec_kl_ref[i];
    const uint8_t f = a.rec_flags[i];
    mine.low += f & 1;
    mine.high += (f >> 1) & 1;
    mine.dual += (f >> 2) & 1;
    ++mine.tokens;
  }
  mine = warp_sum(mine);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) s_warp[warp] = mine;
  __syncthreads();
  if (warp == 0) {
    mine = s_warp[lane];  // kReduceThreads / 32 == 32 warps, one per lane
    mine = warp_sum(mine);
    if (lane == 0) {
      status->loss = mine.loss;
      status->kl = mine.kl;
      status->kl_ref = mine.kl_ref;
      status->low = mine.low;
      status->high = mine.high;
      status->dual = mine.dual;
      status->tokens = mine.tokens;
    }
  }
}

unsigned grid_for(size_t n) {
  size_t blocks = (n + kThreads - 1) / kThreads;
  if (blocks < 1) blocks = 1;
  if (blocks > 4096) blocks = 4096;
  return static_cast<unsigned>(blocks);
}

}  // namespace

cudaError_t prepare_loss(Scratch& scratch, const PrepInputs& in, TokenArrays* a, DeviceStatus** status,
                         cudaStream_t stream) {
  DeviceStatus* st = nullptr;
  Counts* counts = nullptr;
  unsigned int* seq_tokens = nullptr;
  float* weights = nullptr;
  cudaError_t s;
  if ((s = scratch.alloc_n(&st, 1)) != cudaSuccess) return s;
  if ((s = scratch.alloc_n(&counts, 1)) != cudaSuccess) return s;
  if ((s = scratch.alloc_n(&weights, in.n)) != cudaSuccess) return s;
  if ((s = scratch.alloc_n(&a->rec_loss, in.n)) != cudaSuccess) return s;
  if ((s = scratch.alloc_n(&a->rec_nkl, in.n)) != cudaSuccess) return s;
  if ((s = scratch.alloc_n(&a->rec_kl_ref, in.n)) != cudaSuccess) return s;
  if ((s = scratch.alloc_n(&a->rec_flags, in.n)) != cudaSuccess) return s;
  if ((s = cudaMemsetAsync(st, 0, sizeof(DeviceStatus), stream)) != cudaSuccess) return s;
  // first_invalid, bad_row and nonfinite_row start at "none" (all ones).
  static_assert(offsetof(DeviceStatus, nonfinite_row) == 2 * sizeof(unsigned long long), "status layout");
  if ((s = cudaMemsetAsync(st, 0xff, 3 * sizeof(unsigned long long), stream)) != cudaSuccess) return s;
  if ((s = cudaMemsetAsync(counts, 0, sizeof(Counts), stream)) != cudaSuccess) return s;
  // Records of rows a sweep skips must read as zero.
  if ((s = cudaMemsetAsync(a->rec_loss, 0, in.n * sizeof(float), stream)) != cudaSuccess) return s;
  if ((s = cudaMemsetAsync(a->rec_nkl, 0, in.n * sizeof(float), stream)) != cudaSuccess) return s;
  if ((s = cudaMemsetAsync(a->rec_kl_ref, 0, in.n * sizeof(float), stream)) != cudaSuccess) return s;
  if ((s = cudaMemsetAsync(a->rec_flags, 0, in.n, stream)) != cudaSuccess) return s;
  const bool seq_mode = in.aggregation != DAPO_CUDA_TOKEN_MEAN;
  if (seq_mode) {
    if ((s = scratch.alloc_n(&seq_tokens, in.n)) != cudaSuccess) return s;
    if ((s = cudaMemsetAsync(seq_tokens, 0, in.n * sizeof(unsigned int), stream)) != cudaSuccess) return s;
  }
  if (in.n > 0) {
    validate_and_count<<<grid_for(in.n), kThreads, 0, stream>>>(in, seq_tokens, counts, st);
    if (seq_mode) count_sequences<<<grid_for(in.n), kThreads, 0, stream>>>(in.n, seq_tokens, counts);
    fill_weights<<<grid_for(in.n), kThreads, 0, stream>>>(in, seq_tokens, counts, weights);
    if ((s = cudaGetLastError()) != cudaSuccess) return s;
  }
  a->tokens = in.tokens;
  a->old_logprobs = in.old_logprobs;
  a->advantages = in.advantages;
  a->mask = in.mask;
  a->seq_ids = in.seq_ids;
  a->ref_logprobs = in.ref_logprobs;
  a->weights = weights;
  a->bad_row = &st->bad_row;
  a->nonfinite_row = &st->nonfinite_row;
  *status = st;
  return cudaSuccess;
}

cudaError_t reduce_loss(size_t n, const TokenArrays& arrays, DeviceStatus* status, cudaStream_t stream) {
  reduce_records<<<1, kReduceThreads, 0, stream>>>(n, arrays, status);
  return cudaGetLastError();
}

namespace {

std::string invalid_text(const DeviceStatus& st, const PrepInputs& in, char* message, size_t message_size, int* rc) {
  const size_t i = static_cast<size_t>(st.first_invalid >> 3);
  const unsigned check = static_cast<unsigned>(st.first_invalid & 7);
  const std::string at = "[" + std::to_string(i) + "]";
  if (check == kOldLogprobs) return "oldLogprobs" + at + " is not finite";
  if (check == kAdvantages) return "advantages" + at + " is not finite";
  if (check == kRefLogprobs) return "refLogprobs" + at + " is not finite";
  if (check == kLogprobs) return "logprobs" + at + " is not finite";
  int32_t value = 0;
  const int32_t* src = check == kTokens ? in.tokens : in.seq_ids;
  *rc = report(cudaMemcpy(&value, src + i, sizeof value, cudaMemcpyDeviceToHost), "reading the bad value", message,
               message_size);
  if (check == kTokens)
    return "tokens" + at + " = " + std::to_string(value) + " is outside [0, vocabSize = " + std::to_string(in.vocab) + ")";
  return "seqIds" + at + " = " + std::to_string(value) + " is outside [0, N = " + std::to_string(in.n) + ")";
}

// Finite inputs whose loss or gradient overflowed float: say which token and what it was fed.
int nonfinite_error(const DeviceStatus& st, const PrepInputs& in, char* message, size_t message_size) {
  const size_t i = static_cast<size_t>(st.nonfinite_row);
  std::string text = "the loss or its gradient at token " + std::to_string(i) + " is not finite (float32 overflow)";
  float advantage = 0, old = 0;
  if (in.term != kTermNll && in.advantages && in.old_logprobs &&
      cudaMemcpy(&advantage, in.advantages + i, sizeof advantage, cudaMemcpyDeviceToHost) == cudaSuccess &&
      cudaMemcpy(&old, in.old_logprobs + i, sizeof old, cudaMemcpyDeviceToHost) == cudaSuccess) {
    char values[160];
    std::snprintf(values, sizeof values, " although its inputs are finite: advantages[%zu] = %g, oldLogprobs[%zu] = %g",
                  i, advantage, i, old);
    text += values;
  }
  return fail(DAPO_CUDA_ERR_NONFINITE, message, message_size, text.c_str());
}

}  // namespace

int finish_loss(const DeviceStatus* device_status, const PrepInputs& in, dapo_cuda_loss_stats* stats, char* message,
                size_t message_size) {
  DeviceStatus st;
  DAPO_CUDA_TRY(cudaMemcpy(&st, device_status, sizeof st, cudaMemcpyDeviceToHost), message, message_size);
  if (st.first_invalid != ~0ull) {
    int rc = 0;
    const std::string text = invalid_text(st, in, message, message_size, &rc);
    if (rc != 0) return rc;
    return fail(DAPO_CUDA_ERR_RANGE, message, message_size, text.c_str());
  }
  if (st.bad_row != ~0ull) {
    const std::string text = "logits row " + std::to_string(st.bad_row) + " has a non-finite value";
    return fail(DAPO_CUDA_ERR_RANGE, message, message_size, text.c_str());
  }
  if (st.nonfinite_row != ~0ull) return nonfinite_error(st, in, message, message_size);
  if (!std::isfinite(st.loss))
    return fail(DAPO_CUDA_ERR_NONFINITE, message, message_size, "the summed loss is not finite (float64 overflow)");
  stats->loss = st.loss;
  stats->tokens = st.tokens;
  const double count = static_cast<double>(st.tokens);
  stats->clip_frac_low = st.tokens ? static_cast<double>(st.low) / count : 0;
  stats->clip_frac_high = st.tokens ? static_cast<double>(st.high) / count : 0;
  stats->clip_frac_dual = st.tokens ? static_cast<double>(st.dual) / count : 0;
  stats->approx_kl = st.tokens ? st.kl / count : 0;
  stats->kl_ref = st.tokens ? st.kl_ref / count : 0;
  return 0;
}

cudaError_t stage_common(Scratch& scratch, const dapo_cuda_loss_common& c, size_t vocab, StagedCommon* out) {
  const size_t n = c.n;
  PrepInputs& p = out->prep;
  p.n = n;
  p.vocab = vocab;
  p.aggregation = c.aggregation;
  p.token_count = c.token_count;
  p.seq_count = c.seq_count;
  const void* d = nullptr;
  cudaError_t s;
  if ((s = stage_in(scratch, c.tokens, n * 4, &d)) != cudaSuccess) return s;
  p.tokens = static_cast<const int32_t*>(d);
  if ((s = stage_in(scratch, c.old_logprobs, n * 4, &d)) != cudaSuccess) return s;
  p.old_logprobs = static_cast<const float*>(d);
  if ((s = stage_in(scratch, c.advantages, n * 4, &d)) != cudaSuccess) return s;
  p.advantages = static_cast<const float*>(d);
  if ((s = stage_in(scratch, c.mask, n, &d)) != cudaSuccess) return s;
  p.mask = static_cast<const uint8_t*>(d);
  if ((s = stage_in(scratch, c.seq_ids, n * 4, &d)) != cudaSuccess) return s;
  p.seq_ids = static_cast<const int32_t*>(d);
  if (c.kl_coef > 0) {
    if ((s = stage_in(scratch, c.ref_logprobs, n * 4, &d)) != cudaSuccess) return s;
    p.ref_logprobs = static_cast<const float*>(d);
  }
  if ((s = stage_out(scratch, c.logprobs_out, n * 4, &out->logprobs)) != cudaSuccess) return s;
  if (c.entropy && (s = stage_out(scratch, c.entropy_out, n * 4, &out->entropy)) != cudaSuccess) return s;
  return cudaSuccess;
}

}  // namespace dapo::cuda
