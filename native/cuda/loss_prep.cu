// Validation, aggregation weights and the final reduction of the CUDA loss kernels. The
// weights follow native/loss/aggregation.cc exactly (divisions in double, then one rounding);
// counts use integer atomics, which are exact; no float atomics touch a result.
#include <climits>
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
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < in.n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    unsigned check = 0;
    if (!isfinite(in.old_logprobs[i])) check = kOldLogprobs;
    else if (!isfinite(in.advantages[i])) check = kAdvantages;
    else if (in.logprobs && !isfinite(in.logprobs[i])) check = kLogprobs;
    else if (in.tokens && (in.tokens[i] < 0 || static_cast<size_t>(in.tokens[i]) >= in.vocab)) check = kTokens;
    else if (seq_mode && (in.seq_ids[i] < 0 || static_cast<size_t>(in.seq_ids[i]) >= in.n)) check = kSeqIds;
    if (check) atomicMin(&status->first_invalid, (static_cast<unsigned long long>(i) << 3) | check);
    if (in.mask[i]) {
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
    if (in.mask[i]) {
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

// One block; thread t takes rows t, t + 1024, ... in order, then a fixed tree: the result is
// the same for any launch shape of the sweep that wrote the records.
__global__ void __launch_bounds__(kReduceThreads) reduce_records(size_t n, TokenArrays a, DeviceStatus* status) {
  __shared__ double s_loss[kReduceThreads], s_kl[kReduceThreads];
  __shared__ unsigned long long s_low[kReduceThreads], s_high[kReduceThreads], s_dual[kReduceThreads],
      s_tokens[kReduceThreads];
  double loss = 0, kl = 0;
  unsigned long long low = 0, high = 0, dual = 0, tokens = 0;
  for (size_t i = threadIdx.x; i < n; i += kReduceThreads) {
    if (!a.mask[i]) continue;
    loss += static_cast<double>(a.weights[i]) * static_cast<double>(a.rec_loss[i]);
    kl += a.rec_nkl[i];
    const uint8_t f = a.rec_flags[i];
    low += f & 1;
    high += (f >> 1) & 1;
    dual += (f >> 2) & 1;
    ++tokens;
  }
  const int t = threadIdx.x;
  s_loss[t] = loss, s_kl[t] = kl, s_low[t] = low, s_high[t] = high, s_dual[t] = dual, s_tokens[t] = tokens;
  __syncthreads();
  for (int stride = kReduceThreads / 2; stride > 0; stride /= 2) {
    if (t < stride) {
      s_loss[t] += s_loss[t + stride];
      s_kl[t] += s_kl[t + stride];
      s_low[t] += s_low[t + stride];
      s_high[t] += s_high[t + stride];
      s_dual[t] += s_dual[t + stride];
      s_tokens[t] += s_tokens[t + stride];
    }
    __syncthreads();
  }
  if (t == 0) {
    status->loss = s_loss[0];
    status->kl = s_kl[0];
    status->low = s_low[0];
    status->high = s_high[0];
    status->dual = s_dual[0];
    status->tokens = s_tokens[0];
  }
}

unsigned grid_for(size_t n) {
  size_t blocks = (n + kThreads - 1) / kThreads;
  if (blocks < 1) blocks = 1;
  if (blocks > 4096) blocks = 4096;
  return static_cast<unsigned>(blocks);
}

}  // namespace

cudaError_t prepare_loss(Scratch& scratch, const PrepInputs& in, TokenArrays* a, DeviceStatus** status) {
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
  if ((s = scratch.alloc_n(&a->rec_flags, in.n)) != cudaSuccess) return s;
  if ((s = cudaMemsetAsync(st, 0, sizeof(DeviceStatus), 0)) != cudaSuccess) return s;
  // first_invalid and bad_row start at "none" (all ones).
  if ((s = cudaMemsetAsync(st, 0xff, 2 * sizeof(unsigned long long), 0)) != cudaSuccess) return s;
  if ((s = cudaMemsetAsync(counts, 0, sizeof(Counts), 0)) != cudaSuccess) return s;
  // Records of rows a sweep skips must read as zero.
  if ((s = cudaMemsetAsync(a->rec_loss, 0, in.n * sizeof(float), 0)) != cudaSuccess) return s;
  if ((s = cudaMemsetAsync(a->rec_nkl, 0, in.n * sizeof(float), 0)) != cudaSuccess) return s;
  if ((s = cudaMemsetAsync(a->rec_flags, 0, in.n, 0)) != cudaSuccess) return s;
  const bool seq_mode = in.aggregation != DAPO_CUDA_TOKEN_MEAN;
  if (seq_mode) {
    if ((s = scratch.alloc_n(&seq_tokens, in.n)) != cudaSuccess) return s;
    if ((s = cudaMemsetAsync(seq_tokens, 0, in.n * sizeof(unsigned int), 0)) != cudaSuccess) return s;
  }
  if (in.n > 0) {
    validate_and_count<<<grid_for(in.n), kThreads>>>(in, seq_tokens, counts, st);
    if (seq_mode) count_sequences<<<grid_for(in.n), kThreads>>>(in.n, seq_tokens, counts);
    fill_weights<<<grid_for(in.n), kThreads>>>(in, seq_tokens, counts, weights);
    if ((s = cudaGetLastError()) != cudaSuccess) return s;
  }
  a->tokens = in.tokens;
  a->old_logprobs = in.old_logprobs;
  a->advantages = in.advantages;
  a->mask = in.mask;
  a->seq_ids = in.seq_ids;
  a->weights = weights;
  a->bad_row = &st->bad_row;
  *status = st;
  return cudaSuccess;
}

cudaError_t reduce_loss(size_t n, const TokenArrays& arrays, DeviceStatus* status) {
  reduce_records<<<1, kReduceThreads>>>(n, arrays, status);
  return cudaGetLastError();
}

int finish_loss(const DeviceStatus* device_status, const PrepInputs& in, dapo_cuda_loss_stats* stats, char* message,
                size_t message_size) {
  DeviceStatus st;
  DAPO_CUDA_TRY(cudaMemcpy(&st, device_status, sizeof st, cudaMemcpyDeviceToHost), message, message_size);
  if (st.first_invalid != ~0ull) {
    const size_t i = static_cast<size_t>(st.first_invalid >> 3);
    const unsigned check = static_cast<unsigned>(st.first_invalid & 7);
    std::string text;
    if (check == kOldLogprobs) text = "oldLogprobs[" + std::to_string(i) + "] is not finite";
    else if (check == kAdvantages) text = "advantages[" + std::to_string(i) + "] is not finite";
    else if (check == kLogprobs) text = "logprobs[" + std::to_string(i) + "] is not finite";
    else {
      int32_t value = 0;
      const int32_t* src = check == kTokens ? in.tokens : in.seq_ids;
      DAPO_CUDA_TRY(cudaMemcpy(&value, src + i, sizeof value, cudaMemcpyDeviceToHost), message, message_size);
      if (check == kTokens)
        text = "tokens[" + std::to_string(i) + "] = " + std::to_string(value) + " is outside [0, vocabSize = " +
               std::to_string(in.vocab) + ")";
      else
        text = "seqIds[" + std::to_string(i) + "] = " + std::to_string(value) + " is outside [0, N = " +
               std::to_string(in.n) + ")";
    }
    return fail(DAPO_CUDA_ERR_RANGE, message, message_size, text.c_str());
  }
  if (st.bad_row != ~0ull) {
    const std::string text = "logits row " + std::to_string(st.bad_row) + " has a non-finite value";
    return fail(DAPO_CUDA_ERR_RANGE, message, message_size, text.c_str());
  }
  stats->loss = st.loss;
  stats->tokens = st.tokens;
  const double count = static_cast<double>(st.tokens);
  stats->clip_frac_low = st.tokens ? static_cast<double>(st.low) / count : 0;
  stats->clip_frac_high = st.tokens ? static_cast<double>(st.high) / count : 0;
  stats->clip_frac_dual = st.tokens ? static_cast<double>(st.dual) / count : 0;
  stats->approx_kl = st.tokens ? st.kl / count : 0;
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
  if ((s = stage_out(scratch, c.logprobs_out, n * 4, &out->logprobs)) != cudaSuccess) return s;
  if (c.entropy && (s = stage_out(scratch, c.entropy_out, n * 4, &out->entropy)) != cudaSuccess) return s;
  return cudaSuccess;
}

}  // namespace dapo::cuda
