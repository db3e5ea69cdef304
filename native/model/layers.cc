#include "model/layers.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "common/thread_pool.h"

namespace dapo {
namespace {

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

}  // namespace dapo
