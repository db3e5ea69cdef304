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

template <typename T>
dapo::RowStats row_stats(const T* row, size_t v, bool want_entropy) {
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
    if (want_entropy) {
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

}  // namespace

namespace dapo {
namespace DAPO_ROW_NAMESPACE {

RowStats row_stats_f32(const float* row, size_t v, bool want_entropy) { return row_stats(row, v, want_entropy); }
RowStats row_stats_bf16(const uint16_t* row, size_t v, bool want_entropy) { return row_stats(row, v, want_entropy); }
void row_logp_grad_f32(const float* row, size_t v, float lse, int32_t token, float scale, float* grad, bool stream) {
  row_logp_grad(row, v, lse, token, scale, grad, stream);
}
void row_logp_grad_bf16(const uint16_t* row, size_t v, float lse, int32_t token, float scale, float* grad, bool stream) {
  row_logp_grad(row, v, lse, token, scale, grad, stream);
}

}  // namespace DAPO_ROW_NAMESPACE
}  // namespace dapo
