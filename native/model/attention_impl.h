// Body of the attention kernels, included once per instruction set (attention_generic.cc,
// attention_avx2.cc) with DAPO_ATTN_NAMESPACE naming it.
#include <algorithm>
#include <cmath>
#include <vector>

#include "common/thread_pool.h"
#include "model/layers.h"

namespace {

// Dot product with eight partial sums (vectorises without reassociation flags).
inline float dot(const float* a, const float* b, size_t n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l) acc[l] += a[i + l] * b[i + l];
  float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

inline void axpy(float alpha, const float* x, float* y, size_t n) {
  for (size_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

}  // namespace

namespace dapo {
namespace DAPO_ATTN_NAMESPACE {

void attention_forward(const AttentionRows& a) {
  const size_t hd = a.head_dim, group = a.heads / a.kv_heads, qd = a.heads * hd;
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(hd)));
  parallel_for(a.rows * a.heads, 1, [&](size_t begin, size_t end) {
    thread_local std::vector<float> scores;
    for (size_t item = begin; item < end; ++item) {
      const size_t r = item / a.heads, h = item % a.heads, kh = h / group;
      const size_t n = a.count[r];
      const float* q = a.q + r * qd + h * hd;
      const float* kb = a.k_base[r] + kh * hd;
      const float* vb = a.v_base[r] + kh * hd;
      scores.resize(n);
      float mx = -INFINITY;
      for (size_t j = 0; j < n; ++j) {
        scores[j] = dot(q, kb + j * a.kv_stride, hd) * scale;
        mx = std::max(mx, scores[j]);
      }
      double sum = 0;
      for (size_t j = 0; j < n; ++j) {
        scores[j] = std::exp(scores[j] - mx);
        sum += scores[j];
      }
      float* o = a.out + r * qd + h * hd;
      std::fill(o, o + hd, 0.0f);
      const float inv = static_cast<float>(1.0 / sum);
      for (size_t j = 0; j < n; ++j) axpy(scores[j] * inv, vb + j * a.kv_stride, o, hd);
      if (a.lse) a.lse[r * a.heads + h] = static_cast<float>(mx + std::log(sum));
    }
  });
}

void attention_backward(const AttentionBackward& a) {
  const size_t hd = a.head_dim, group = a.heads / a.kv_heads, qd = a.heads * hd, kvd = a.kv_heads * hd;
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(hd)));
  // One task per (sequence, key head): it owns dk and dv of its rows, so no two tasks add to
  // the same value and the sums run in a fixed order.
  parallel_for(a.n_seqs * a.kv_heads, 1, [&](size_t begin, size_t end) {
    thread_local std::vector<float> p;
    for (size_t item = begin; item < end; ++item) {
      const size_t s = item / a.kv_heads, kh = item % a.kv_heads;
      const size_t off = static_cast<size_t>(a.offsets[s]), len = static_cast<size_t>(a.offsets[s + 1]) - off;
      for (size_t t = 0; t < len; ++t) {
        std::fill(a.dk + (off + t) * kvd + kh * hd, a.dk + (off + t) * kvd + kh * hd + hd, 0.0f);
        std::fill(a.dv + (off + t) * kvd + kh * hd, a.dv + (off + t) * kvd + kh * hd + hd, 0.0f);
      }
      p.resize(len);
      for (size_t h = kh * group; h < (kh + 1) * group; ++h) {
        for (size_t i = 0; i < len; ++i) {
          const size_t row = off + i;
          const float* q = a.q + row * qd + h * hd;
          const float* dout = a.dout + row * qd + h * hd;
          const float lse = a.lse[row * a.heads + h];
          const float d_i = dot(dout, a.out + row * qd + h * hd, hd);
          float* dq = a.dq + row * qd + h * hd;
          std::fill(dq, dq + hd, 0.0f);
          for (size_t j = 0; j <= i; ++j) {
            const float* k = a.k + (off + j) * kvd + kh * hd;
            const float* v = a.v + (off + j) * kvd + kh * hd;
            const float pj = std::exp(dot(q, k, hd) * scale - lse);
            const float dp = dot(dout, v, hd);
            const float ds = pj * (dp - d_i) * scale;
            axpy(ds, k, dq, hd);
            axpy(ds, q, a.dk + (off + j) * kvd + kh * hd, hd);
            axpy(pj, dout, a.dv + (off + j) * kvd + kh * hd, hd);
          }
        }
      }
    }
  });
}

}  // namespace DAPO_ATTN_NAMESPACE
}  // namespace dapo
