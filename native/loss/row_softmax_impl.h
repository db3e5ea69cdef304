// Body of the row sweeps, included once per instruction set (see row_softmax_generic.cc and
// row_softmax_avx2.cc) inside the namespace that names it.
#include <cmath>

#include <cstring>
#include "loss/row_softmax.h"
#include "loss/vec8.h"

namespace {

using dapo::vec::f8;
using dapo::vec::i8;
using dapo::vec::kLanes;

inline float scalar(float x) { return x; }
inline float scalar(uint16_t x) {
  uint32_t wide = static_cast<uint32_t>(x) << 16;
  float f;
  std::memcpy(&f, &wide, sizeof f);
  return f;
}

// Blocks of 1024 values (4 KiB of fp32) stay in L1 between the max sweep and the exp sweep.
constexpr size_t kBlock = 1024;

// With `exps`, the sweep also leaves exp(row[j] - shift[b]) in exps[j], shift[b] being the
// running max when block b was swept, so the gradient needs no second exp.
template <typename T>
dapo::RowStats row_stats(const T* row, size_t v, bool want_entropy, float* exps = nullptr, float* shifts = nullptr) {
  dapo::RowStats out{-INFINITY, 0.0f, 0.0f, true};
  float running_max = -INFINITY;
  double sum = 0;      // sum exp(z - running_max)
  double weighted = 0; // sum exp(z - running_max) * (z - running_max), for the entropy
  for (size_t begin = 0; begin < v; begin += kBlock) {
    const size_t len = v - begin < kBlock ? v - begin : kBlock;
    const size_t full = len / kLanes * kLanes;
    const T* block = row + begin;

    f8 lane_max = dapo::vec::splat(-INFINITY);
    i8 not_finite = {};
    for (size_t j = 0; j < full; j += kLanes) {
      f8 x = dapo::vec::load(block + j);
      not_finite |= (x - x) != dapo::vec::splat(0.0f);  // inf - inf and NaN - NaN are NaN
      lane_max = dapo::vec::vmax(lane_max, x);
    }
    float block_max = dapo::vec::hmax(lane_max);
    bool finite = true;
    for (int lane = 0; lane < kLanes; ++lane) finite &= not_finite[lane] == 0;
    for (size_t j = full; j < len; ++j) {
      float x = scalar(block[j]);
      finite &= std::isfinite(x);
      block_max = x > block_max ? x : block_max;
    }
    if (!finite) {
      out.finite = false;
      return out;
    }
    if (block_max > running_max) {
      if (running_max != -INFINITY) {
        const double shift = static_cast<double>(running_max) - block_max;
        const double rescale = std::exp(shift);
        weighted = rescale * (weighted + sum * shift);
        sum *= rescale;
      }
      running_max = block_max;
    }

    const f8 vmax = dapo::vec::splat(running_max);
    f8 lane_sum = {}, lane_weighted = {};
    if (exps) {
      shifts[begin / kBlock] = running_max;
      float* out_block = exps + begin;
      // A block of fp32 is one 4 KiB page, where the hardware prefetcher stops; fetching two
      // blocks ahead while this one is in the exp sweep hides the DRAM latency of the max sweep
      // (one block ahead is too late at two threads: measured 39 ms against 49 ms at 2048 x 32768).
      const bool prefetch_next = begin + 2 * kBlock < v;
      for (size_t j = 0; j < full; j += kLanes) {
        if (prefetch_next && (j & 15) == 0) __builtin_prefetch(block + 2 * kBlock + j);
        f8 d = dapo::vec::load(block + j) - vmax;
        f8 e = dapo::vec::exp(d);
        dapo::vec::store(out_block + j, e);
        lane_sum += e;
        lane_weighted += e * d;
      }
    } else if (want_entropy) {
      for (size_t j = 0; j < full; j += kLanes) {
        f8 d = dapo::vec::load(block + j) - vmax;
        f8 e = dapo::vec::exp(d);
        lane_sum += e;
        lane_weighted += e * d;
      }
    } else {
      for (size_t j = 0; j < full; j += kLanes) lane_sum += dapo::vec::exp(dapo::vec::load(block + j) - vmax);
    }
    sum += dapo::vec::hsum(lane_sum);
    weighted += dapo::vec::hsum(lane_weighted);
    for (size_t j = full; j < len; ++j) {
      const double d = static_cast<double>(scalar(block[j])) - running_max;
      const double e = std::exp(d);
      if (exps) exps[begin + j] = static_cast<float>(e);
      sum += e;
      weighted += e * d;
    }
  }
  out.max = running_max;
  out.lse = static_cast<float>(running_max + std::log(sum));
  if (want_entropy) out.entropy = static_cast<float>(std::log(sum) - weighted / sum);
  return out;
}

template <typename T>
void row_logp_grad(const T* row, size_t v, float lse, int32_t token, float scale, float* grad, bool stream) {
  const f8 vlse = dapo::vec::splat(lse), vneg = dapo::vec::splat(-scale);
  size_t j = 0;
  if (stream) {
    // Scalar head up to a 32-byte boundary, so the vector body can use streaming stores.
    for (; j < v && (reinterpret_cast<uintptr_t>(grad + j) & 31) != 0; ++j) grad[j] = -scale * std::exp(scalar(row[j]) - lse);
    for (; j + kLanes <= v; j += kLanes)
      dapo::vec::store_stream(grad + j, vneg * dapo::vec::exp(dapo::vec::load(row + j) - vlse));
    dapo::vec::stream_fence();
  } else {
    for (; j + kLanes <= v; j += kLanes) dapo::vec::store(grad + j, vneg * dapo::vec::exp(dapo::vec::load(row + j) - vlse));
  }
  for (; j < v; ++j) grad[j] = -scale * std::exp(scalar(row[j]) - lse);
  grad[token] += scale;
}

// grad[j] = scale * ((j == token) - exps[j] * exp(shift[b] - lse)), block by block.
void grad_from_exps(const float* exps, const float* shifts, size_t v, float lse, int32_t token, float scale, float* grad, bool stream) {
  // Every block starts at a multiple of 1024 floats, so all blocks share the grad row's alignment.
  const size_t head = stream ? ((32 - (reinterpret_cast<uintptr_t>(grad) & 31)) & 31) / sizeof(float) : 0;
  for (size_t begin = 0; begin < v; begin += kBlock) {
    const size_t end = v - begin < kBlock ? v : begin + kBlock;
    const float factor = -scale * std::exp(shifts[begin / kBlock] - lse);
    const f8 vfactor = dapo::vec::splat(factor);
    size_t j = begin;
    for (; j < end && j < begin + head; ++j) grad[j] = factor * exps[j];
    if (stream) {
      for (; j + kLanes <= end; j += kLanes) dapo::vec::store_stream(grad + j, vfactor * dapo::vec::load(exps + j));
    } else {
      for (; j + kLanes <= end; j += kLanes) dapo::vec::store(grad + j, vfactor * dapo::vec::load(exps + j));
    }
    for (; j < end; ++j) grad[j] = factor * exps[j];
  }
  if (stream) dapo::vec::stream_fence();
  grad[token] += scale;
}

}  // namespace

namespace dapo {
namespace DAPO_ROW_NAMESPACE {

RowStats row_stats_f32(const float* row, size_t v, bool want_entropy) { return row_stats(row, v, want_entropy); }
RowStats row_stats_exps_f32(const float* row, size_t v, float* exps, float* shifts) { return row_stats(row, v, true, exps, shifts); }
RowStats row_stats_exps_bf16(const uint16_t* row, size_t v, float* exps, float* shifts) { return row_stats(row, v, true, exps, shifts); }
void row_grad_from_exps(const float* exps, const float* shifts, size_t v, float lse, int32_t token, float scale, float* grad, bool stream) {
  grad_from_exps(exps, shifts, v, lse, token, scale, grad, stream);
}
RowStats row_stats_bf16(const uint16_t* row, size_t v, bool want_entropy) { return row_stats(row, v, want_entropy); }
void row_logp_grad_f32(const float* row, size_t v, float lse, int32_t token, float scale, float* grad, bool stream) {
  row_logp_grad(row, v, lse, token, scale, grad, stream);
}
void row_logp_grad_bf16(const uint16_t* row, size_t v, float lse, int32_t token, float scale, float* grad, bool stream) {
  row_logp_grad(row, v, lse, token, scale, grad, stream);
}

}  // namespace DAPO_ROW_NAMESPACE
}  // namespace dapo
