#include "model/layers.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "common/thread_pool.h"

namespace dapo {
namespace {

// Dot product with eight partial sums (vectorisable without reassociation flags).
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

inline size_t row_grain(size_t dim) { return std::max<size_t>(1, 16384 / std::max<size_t>(dim, 1)); }

}  // namespace

void rmsnorm_forward(const float* x, const float* w, size_t rows, size_t dim, double eps, float* y, float* rstd) {
  parallel_for(rows, row_grain(dim), [&](size_t begin, size_t end) {
    for (size_t t = begin; t < end; ++t) {
      const float* xr = x + t * dim;
      double ss = 0;
      for (size_t j = 0; j < dim; ++j) ss += static_cast<double>(xr[j]) * xr[j];
      const float r = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(dim) + eps));
      rstd[t] = r;
      float* yr = y + t * dim;
      for (size_t j = 0; j < dim; ++j) yr[j] = w[j] * (xr[j] * r);
    }
  });
}

void rmsnorm_backward(const float* dy, const float* x, const float* w, const float* rstd, size_t rows, size_t dim,
                      float* dx, bool accumulate_dx, float* dw) {
  parallel_for(rows, row_grain(dim), [&](size_t begin, size_t end) {
    for (size_t t = begin; t < end; ++t) {
      const float* xr = x + t * dim;
      const float* dyr = dy + t * dim;
      float* dxr = dx + t * dim;
      const double r = rstd[t];
      double s = 0;  // sum_j dy_j w_j x_j
      for (size_t j = 0; j < dim; ++j) s += static_cast<double>(dyr[j]) * w[j] * xr[j];
      const float coef = static_cast<float>(s * r * r * r / static_cast<double>(dim));
      const float rf = static_cast<float>(r);
      for (size_t j = 0; j < dim; ++j) {
        const float d = rf * w[j] * dyr[j] - xr[j] * coef;
        dxr[j] = accumulate_dx ? dxr[j] + d : d;
      }
    }
  });
  if (!dw) return;
  parallel_for(dim, 64, [&](size_t begin, size_t end) {
    for (size_t j = begin; j < end; ++j) {
      double s = 0;
      for (size_t t = 0; t < rows; ++t) s += static_cast<double>(dy[t * dim + j]) * x[t * dim + j] * rstd[t];
      dw[j] += static_cast<float>(s);
    }
  });
}

void swiglu_forward(const float* g, const float* u, size_t n, float* a) {
  parallel_for(n, 1 << 14, [&](size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i) {
      const float s = 1.0f / (1.0f + std::exp(-g[i]));
      a[i] = g[i] * s * u[i];
    }
  });
}

void swiglu_backward(const float* da, const float* g, const float* u, size_t n, float* dg, float* du) {
  parallel_for(n, 1 << 14, [&](size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i) {
      const float s = 1.0f / (1.0f + std::exp(-g[i]));
      const float silu = g[i] * s;
      du[i] = da[i] * silu;
      dg[i] = da[i] * u[i] * s * (1.0f + g[i] * (1.0f - s));
    }
  });
}

void add_column_sums(const float* x, size_t rows, size_t cols, float* out) {
  parallel_for(cols, 64, [&](size_t begin, size_t end) {
    for (size_t j = begin; j < end; ++j) {
      double s = 0;
      for (size_t t = 0; t < rows; ++t) s += x[t * cols + j];
      out[j] += static_cast<float>(s);
    }
  });
}

void add_bias(float* x, size_t rows, size_t cols, const float* b) {
  parallel_for(rows, row_grain(cols), [&](size_t begin, size_t end) {
    for (size_t t = begin; t < end; ++t)
      for (size_t j = 0; j < cols; ++j) x[t * cols + j] += b[j];
  });
}

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

}  // namespace dapo
