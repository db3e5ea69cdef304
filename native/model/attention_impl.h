// Body of the attention kernels, included once per instruction set (attention_generic.cc,
// attention_avx2.cc) with DAPO_ATTN_NAMESPACE naming it.
//
// Scores are computed eight keys at a time from a transposed copy of the keys (so no
// horizontal sums), each score a chain of FMAs over the head dimension in order. A score, and
// so a row's output, depends only on its query and keys, never on which other rows share the
// call: the KV-cache decoder and the packed training forward give bitwise the same result.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "common/thread_pool.h"
#include "loss/vec8.h"
#include "model/gemm.h"
#include "model/layers.h"
#if defined(__FMA__)
#include <immintrin.h>
#endif

namespace {

using dapo::vec::f8;

inline f8 fmadd(f8 a, f8 b, f8 c) {
#if defined(__FMA__)
  return (f8)_mm256_fmadd_ps((__m256)a, (__m256)b, (__m256)c);
#else
  return a * b + c;
#endif
}

inline float dot(const float* a, const float* b, size_t n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l) acc[l] += a[i + l] * b[i + l];
  float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}


// xt[c * ld + j] = x[j * stride + c] for j < n, zero for n <= j < ld.
void transpose(const float* x, size_t n, size_t stride, size_t hd, size_t ld, float* xt) {
  for (size_t c = 0; c < hd; ++c) {
    float* row = xt + c * ld;
    for (size_t j = 0; j < n; ++j) row[j] = x[j * stride + c];
    std::fill(row + n, row + ld, 0.0f);
  }
}

// out[j] = scale * sum_c q[c] * kt[c * ld + j] for j < n8 (a multiple of 8).
// Four blocks of eight keys at a time: four independent FMA chains instead of one.
void scores8(const float* q, const float* kt, size_t ld, size_t hd, size_t n8, float scale, float* out) {
  const f8 vscale = dapo::vec::splat(scale);
  size_t j = 0;
  for (; j + 32 <= n8; j += 32) {
    f8 a0 = {}, a1 = {}, a2 = {}, a3 = {};
    for (size_t c = 0; c < hd; ++c) {
      const f8 qc = dapo::vec::splat(q[c]);
      const float* row = kt + c * ld + j;
      a0 = fmadd(qc, dapo::vec::load(row), a0);
      a1 = fmadd(qc, dapo::vec::load(row + 8), a1);
      a2 = fmadd(qc, dapo::vec::load(row + 16), a2);
      a3 = fmadd(qc, dapo::vec::load(row + 24), a3);
    }
    dapo::vec::store(out + j, a0 * vscale);
    dapo::vec::store(out + j + 8, a1 * vscale);
    dapo::vec::store(out + j + 16, a2 * vscale);
    dapo::vec::store(out + j + 24, a3 * vscale);
  }
  for (; j < n8; j += 8) {
    f8 acc = {};
    for (size_t c = 0; c < hd; ++c) acc = fmadd(dapo::vec::splat(q[c]), dapo::vec::load(kt + c * ld + j), acc);
    dapo::vec::store(out + j, acc * vscale);
  }
}

inline size_t round8(size_t n) { return (n + 7) / 8 * 8; }

// o = sum_j (w[j] * scale) v_j over n value rows, one FMA chain per output element in j order;
// the output stays in registers for the common head sizes.
template <size_t V>
void weighted_sum_fixed(const float* w, float scale, const float* vb, size_t stride, size_t n, float* o) {
  f8 acc[V];
  for (size_t c = 0; c < V; ++c) acc[c] = f8{};
  for (size_t j = 0; j < n; ++j) {
    const f8 a = dapo::vec::splat(w[j] * scale);
    const float* v = vb + j * stride;
    for (size_t c = 0; c < V; ++c) acc[c] = fmadd(a, dapo::vec::load(v + 8 * c), acc[c]);
  }
  for (size_t c = 0; c < V; ++c) dapo::vec::store(o + 8 * c, acc[c]);
}

void weighted_sum(const float* w, float scale, const float* vb, size_t stride, size_t n, size_t hd, float* o) {
  switch (hd) {
    case 8: return weighted_sum_fixed<1>(w, scale, vb, stride, n, o);
    case 16: return weighted_sum_fixed<2>(w, scale, vb, stride, n, o);
    case 32: return weighted_sum_fixed<4>(w, scale, vb, stride, n, o);
    case 64: return weighted_sum_fixed<8>(w, scale, vb, stride, n, o);
    case 128: return weighted_sum_fixed<16>(w, scale, vb, stride, n, o);
    default: break;
  }
  std::fill(o, o + hd, 0.0f);
  for (size_t j = 0; j < n; ++j) {
    const float a = w[j] * scale;
    const float* v = vb + j * stride;
    for (size_t c = 0; c < hd; ++c) o[c] = std::fma(a, v[c], o[c]);
  }
}

}  // namespace

namespace dapo {
namespace DAPO_ATTN_NAMESPACE {

void attention_forward(const AttentionRows& a) {
  const size_t hd = a.head_dim, group = a.heads / a.kv_heads, qd = a.heads * hd;
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(hd)));
  // Runs of consecutive rows that read the same keys (one sequence of a packed batch), cut
  // into pieces of at most 64 rows; each (piece, head) transposes its keys once.
  std::vector<size_t> starts;
  for (size_t r = 0; r < a.rows; ++r)
    if (r == 0 || a.k_base[r] != a.k_base[r - 1] || r - starts.back() >= 64) starts.push_back(r);
  starts.push_back(a.rows);
  const size_t pieces = starts.size() - 1;
  parallel_for(pieces * a.heads, 1, [&](size_t begin, size_t end) {
    thread_local std::vector<float> kt, scores;
    for (size_t item = begin; item < end; ++item) {
      const size_t piece = item / a.heads, h = item % a.heads, kh = h / group;
      const size_t r0 = starts[piece], r1 = starts[piece + 1];
      size_t n_max = 0;
      for (size_t r = r0; r < r1; ++r) n_max = std::max<size_t>(n_max, a.count[r]);
      const size_t ld = round8(n_max);
      kt.resize(hd * ld);
      scores.resize(ld);
      transpose(a.k_base[r0] + kh * hd, n_max, a.kv_stride, hd, ld, kt.data());
      for (size_t r = r0; r < r1; ++r) {
        const size_t n = a.count[r], n8 = round8(n);
        const float* q = a.q + r * qd + h * hd;
        const float* vb = a.v_base[r] + kh * hd;
        scores8(q, kt.data(), ld, hd, n8, scale, scores.data());
        float mx = -INFINITY;
        for (size_t j = 0; j < n; ++j) mx = std::max(mx, scores[j]);
        const f8 vmx = dapo::vec::splat(mx);
        f8 lane_sum = {};
        for (size_t j = 0; j < n8; j += 8) {
          f8 e = dapo::vec::exp(dapo::vec::load(scores.data() + j) - vmx);
          if (j + 8 > n)
            for (size_t l = n - j; l < 8; ++l) e[l] = 0.0f;
          dapo::vec::store(scores.data() + j, e);
          lane_sum += e;
        }
        const double sum = dapo::vec::hsum(lane_sum);
        const float inv = static_cast<float>(1.0 / sum);
        weighted_sum(scores.data(), inv, vb, a.kv_stride, n, hd, a.out + r * qd + h * hd);
        if (a.lse) a.lse[r * a.heads + h] = static_cast<float>(mx + std::log(sum));
      }
    }
  });
}

// The backward pass as matrix products per (sequence, key head, head, block of 64 queries):
// S = Q K^T and dP = dO V^T for the block's queries against the keys up to its last query,
// P = exp(scale S - lse) (causal), dS = scale P (dP - D), then dQ = dS K, dK += dS^T Q,
// dV += P^T dO. The GEMMs run serially inside the task (nested parallel_for), and the task
// owns dK and dV of its key head, so the sums run in a fixed order.
void attention_backward(const AttentionBackward& a) {
  const size_t hd = a.head_dim, group = a.heads / a.kv_heads, qd = a.heads * hd, kvd = a.kv_heads * hd;
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(hd)));
  constexpr size_t kBlock = 64;
  parallel_for(a.n_seqs * a.kv_heads, 1, [&](size_t begin, size_t end) {
    thread_local std::vector<float> sp, dps, dvec;
    for (size_t item = begin; item < end; ++item) {
      const size_t s = item / a.kv_heads, kh = item % a.kv_heads;
      const size_t off = static_cast<size_t>(a.offsets[s]), len = static_cast<size_t>(a.offsets[s + 1]) - off;
      for (size_t t = 0; t < len; ++t) {
        std::fill(a.dk + (off + t) * kvd + kh * hd, a.dk + (off + t) * kvd + kh * hd + hd, 0.0f);
        std::fill(a.dv + (off + t) * kvd + kh * hd, a.dv + (off + t) * kvd + kh * hd + hd, 0.0f);
      }
      const float* kbase = a.k + off * kvd + kh * hd;
      const float* vbase = a.v + off * kvd + kh * hd;
      for (size_t h = kh * group; h < (kh + 1) * group; ++h) {
        for (size_t i0 = 0; i0 < len; i0 += kBlock) {
          const size_t i1 = std::min(len, i0 + kBlock), bi = i1 - i0, nk = i1;  // keys 0..i1-1
          const float* qb = a.q + (off + i0) * qd + h * hd;
          const float* dob = a.dout + (off + i0) * qd + h * hd;
          sp.resize(bi * nk);
          dps.resize(bi * nk);
          dvec.resize(bi);
          GemmArgs g;
          // S = Q_b K^T, dP = dO_b V^T
          g.m = bi; g.n = nk; g.k = hd;
          g.a = qb; g.a_row = qd; g.a_col = 1;
          g.b = kbase; g.b_row = 1; g.b_col = kvd;
          g.c = sp.data(); g.ldc = nk; g.accumulate = false;
          ::dapo::sgemm(g);
          g.a = dob;
          g.b = vbase;
          g.c = dps.data();
          ::dapo::sgemm(g);
          for (size_t r = 0; r < bi; ++r) {
            const size_t row = off + i0 + r, n = i0 + r + 1;
            dvec[r] = dot(a.dout + row * qd + h * hd, a.out + row * qd + h * hd, hd);
            const f8 vlse = dapo::vec::splat(a.lse[row * a.heads + h]), vscale = dapo::vec::splat(scale);
            const f8 vd = dapo::vec::splat(dvec[r]);
            float* pr = sp.data() + r * nk;
            float* dr = dps.data() + r * nk;
            size_t j = 0;
            for (; j + 8 <= n; j += 8) {
              const f8 pj = dapo::vec::exp(dapo::vec::load(pr + j) * vscale - vlse);
              dapo::vec::store(pr + j, pj);
              dapo::vec::store(dr + j, pj * (dapo::vec::load(dr + j) - vd) * vscale);
            }
            for (; j < n; ++j) {
              const float pj = std::exp(pr[j] * scale - a.lse[row * a.heads + h]);
              pr[j] = pj;
              dr[j] = pj * (dr[j] - dvec[r]) * scale;
            }
            std::fill(pr + n, pr + nk, 0.0f);
            std::fill(dr + n, dr + nk, 0.0f);
          }
          // dQ_b = dS K
          g.m = bi; g.n = hd; g.k = nk;
          g.a = dps.data(); g.a_row = nk; g.a_col = 1;
          g.b = kbase; g.b_row = kvd; g.b_col = 1;
          g.c = a.dq + (off + i0) * qd + h * hd; g.ldc = qd; g.accumulate = false;
          ::dapo::sgemm(g);
          // dK += dS^T Q_b, dV += P^T dO_b
          g.m = nk; g.n = hd; g.k = bi;
          g.a = dps.data(); g.a_row = 1; g.a_col = nk;
          g.b = qb; g.b_row = qd; g.b_col = 1;
          g.c = a.dk + off * kvd + kh * hd; g.ldc = kvd; g.accumulate = true;
          ::dapo::sgemm(g);
          g.a = sp.data();
          g.b = dob;
          g.c = a.dv + off * kvd + kh * hd;
          ::dapo::sgemm(g);
        }
      }
    }
  });
}

}  // namespace DAPO_ATTN_NAMESPACE
}  // namespace dapo
