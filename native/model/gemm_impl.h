// Body of the blocked GEMM, included once per instruction set (gemm_generic.cc, gemm_avx2.cc)
// with DAPO_GEMM_NAMESPACE naming it. Goto/BLIS layout: B is packed in KC x NR panels, A in
// KC x MR panels, and a 6 x 16 register-tile micro-kernel runs over them.
#include <algorithm>
#include <cstring>
#include <vector>

#include "common/error.h"
#include "common/thread_pool.h"
#include "model/gemm.h"
#if defined(__FMA__)
#include <immintrin.h>
#endif

namespace {

typedef float f8 __attribute__((vector_size(32)));

constexpr size_t MR = 6, NR = 16;
constexpr size_t KC = 256;        // depth of a packed slab (fixed: it fixes the summation order)
constexpr size_t MC = 96;         // rows of A per task (16 panels, 96 KiB packed at KC = 256)
constexpr size_t NT = 256;        // columns of C per task

inline f8 load8(const float* p) { f8 v; std::memcpy(&v, p, sizeof v); return v; }
inline void store8(float* p, f8 v) { std::memcpy(p, &v, sizeof v); }
inline f8 splat8(float x) { return f8{x, x, x, x, x, x, x, x}; }
inline f8 fmadd(f8 a, f8 b, f8 c) {
#if defined(__FMA__)
  return (f8)_mm256_fmadd_ps((__m256)a, (__m256)b, (__m256)c);
#else
  return a * b + c;
#endif
}

// c (mr x nr, mr <= 6, nr <= 16) (+)= packed a (kc x 6) * packed b (kc x 16).
inline void micro_kernel(size_t kc, const float* __restrict a, const float* __restrict b, float* c, size_t ldc,
                         bool accumulate, size_t mr, size_t nr) {
  f8 c00 = {}, c01 = {}, c10 = {}, c11 = {}, c20 = {}, c21 = {}, c30 = {}, c31 = {}, c40 = {}, c41 = {}, c50 = {}, c51 = {};
  for (size_t p = 0; p < kc; ++p) {
    const f8 b0 = load8(b), b1 = load8(b + 8);
    f8 av;
    av = splat8(a[0]); c00 = fmadd(av, b0, c00); c01 = fmadd(av, b1, c01);
    av = splat8(a[1]); c10 = fmadd(av, b0, c10); c11 = fmadd(av, b1, c11);
    av = splat8(a[2]); c20 = fmadd(av, b0, c20); c21 = fmadd(av, b1, c21);
    av = splat8(a[3]); c30 = fmadd(av, b0, c30); c31 = fmadd(av, b1, c31);
    av = splat8(a[4]); c40 = fmadd(av, b0, c40); c41 = fmadd(av, b1, c41);
    av = splat8(a[5]); c50 = fmadd(av, b0, c50); c51 = fmadd(av, b1, c51);
    a += MR;
    b += NR;
  }
  const f8 rows[MR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
  if (mr == MR && nr == NR) {
    for (size_t i = 0; i < MR; ++i) {
      float* ci = c + i * ldc;
      if (accumulate) {
        store8(ci, load8(ci) + rows[i][0]);
        store8(ci + 8, load8(ci + 8) + rows[i][1]);
      } else {
        store8(ci, rows[i][0]);
        store8(ci + 8, rows[i][1]);
      }
    }
    return;
  }
  float tile[MR * NR];
  for (size_t i = 0; i < MR; ++i) {
    store8(tile + i * NR, rows[i][0]);
    store8(tile + i * NR + 8, rows[i][1]);
  }
  for (size_t i = 0; i < mr; ++i)
    for (size_t j = 0; j < nr; ++j) c[i * ldc + j] = accumulate ? c[i * ldc + j] + tile[i * NR + j] : tile[i * NR + j];
}

// A rows [i0, i0+mc) x depth [p0, p0+kc) -> panels of MR rows, zero-padded.
void pack_a(const dapo::GemmArgs& g, size_t i0, size_t mc, size_t p0, size_t kc, float* out) {
  for (size_t ir = 0; ir < mc; ir += MR) {
    const size_t mr = std::min(MR, mc - ir);
    float* panel = out + ir * kc;
    for (size_t p = 0; p < kc; ++p) {
      const float* src = g.a + (i0 + ir) * g.a_row + (p0 + p) * g.a_col;
      size_t i = 0;
      for (; i < mr; ++i) panel[p * MR + i] = src[i * g.a_row];
      for (; i < MR; ++i) panel[p * MR + i] = 0.0f;
    }
  }
}

// One NR-wide panel of B: depth [p0, p0+kc), columns [j0, j0+nr), zero-padded.
void pack_b_panel(const dapo::GemmArgs& g, size_t p0, size_t kc, size_t j0, size_t nr, float* panel) {
  if (g.b_col == 1 && nr == NR) {
    for (size_t p = 0; p < kc; ++p) std::memcpy(panel + p * NR, g.b + (p0 + p) * g.b_row + j0, NR * sizeof(float));
    return;
  }
  if (g.b_row == 1) {  // B^T stored row-major (a weight in x W^T): 16 contiguous source rows
    const float* src[NR];
    for (size_t j = 0; j < NR; ++j) src[j] = j < nr ? g.b + (j0 + j) * g.b_col + p0 : nullptr;
    if (nr == NR) {
      for (size_t p = 0; p < kc; ++p)
        for (size_t j = 0; j < NR; ++j) panel[p * NR + j] = src[j][p];
    } else {
      for (size_t p = 0; p < kc; ++p)
        for (size_t j = 0; j < NR; ++j) panel[p * NR + j] = j < nr ? src[j][p] : 0.0f;
    }
    return;
  }
  for (size_t p = 0; p < kc; ++p) {
    const float* src = g.b + (p0 + p) * g.b_row + j0 * g.b_col;
    size_t j = 0;
    for (; j < nr; ++j) panel[p * NR + j] = src[j * g.b_col];
    for (; j < NR; ++j) panel[p * NR + j] = 0.0f;
  }
}

}  // namespace

namespace dapo {
namespace DAPO_GEMM_NAMESPACE {

// Each task owns an MT x NT block of C and walks the whole depth itself, packing its own
// slices of A and B (or reading B from a copy packed once): no barriers between K blocks, and
// the sum over k runs in the same order for every element (K blocks in sequence) whatever the
// tiling, the thread count or whether B was prepacked.
static void run(const GemmArgs& g, const float* prepacked) {
  if (g.m == 0 || g.n == 0) return;
  if (g.k == 0) {
    if (!g.accumulate)
      for (size_t i = 0; i < g.m; ++i) std::memset(g.c + i * g.ldc, 0, g.n * sizeof(float));
    return;
  }
  // A task covers MT = r * MC rows so its packed B strip serves r blocks of A; r leaves about
  // four tasks per thread.
  const size_t m_blocks = (g.m + MC - 1) / MC, n_tiles = (g.n + NT - 1) / NT;
  const size_t want_tasks = 4 * static_cast<size_t>(num_threads());
  const size_t r = std::min(m_blocks, std::max<size_t>(1, m_blocks * n_tiles / want_tasks));
  const size_t mt = r * MC, m_tiles = (g.m + mt - 1) / mt;
  parallel_for(m_tiles * n_tiles, 1, [&](size_t begin, size_t end) {
    thread_local std::vector<float> abuf, bbuf;
    abuf.resize(MC * KC);
    if (!prepacked) bbuf.resize(NT * KC);
    for (size_t t = begin; t < end; ++t) {
      // Column-major over tiles: neighbouring tasks share a B strip while it is warm in L3.
      const size_t i0 = (t % m_tiles) * mt, j0 = (t / m_tiles) * NT;
      const size_t i1 = std::min(g.m, i0 + mt), j1 = std::min(g.n, j0 + NT);
      const size_t wpad = (j1 - j0 + NR - 1) / NR * NR;
      for (size_t pc = 0; pc < g.k; pc += KC) {
        const size_t kc = std::min(KC, g.k - pc);
        const float* bstrip;
        if (prepacked) {
          bstrip = prepacked + j0 * g.k + pc * wpad;
        } else {
          for (size_t j = j0; j < j1; j += NR)
            pack_b_panel(g, pc, kc, j, std::min(NR, j1 - j), bbuf.data() + (j - j0) * kc);
          bstrip = bbuf.data();
        }
        const bool acc = g.accumulate || pc > 0;
        for (size_t ib = i0; ib < i1; ib += MC) {
          const size_t ie = std::min(i1, ib + MC);
          pack_a(g, ib, ie - ib, pc, kc, abuf.data());
          for (size_t j = j0; j < j1; j += NR) {
            const float* bpanel = bstrip + (j - j0) * kc;
            for (size_t i = ib; i < ie; i += MR)
              micro_kernel(kc, abuf.data() + (i - ib) * kc, bpanel, g.c + i * g.ldc + j, g.ldc, acc,
                           std::min(MR, ie - i), std::min(NR, j1 - j));
          }
        }
      }
    }
  });
}

void sgemm(const GemmArgs& g) { run(g, nullptr); }

void sgemm_packed(const GemmArgs& g, const PackedB& b) {
  if (b.n != g.n || b.k != g.k) throw_range("sgemm_packed: B was packed for another shape");
  run(g, b.data.data());
}

// The layout run() reads: strips of NT columns (strip j0 at j0 * K), inside a strip one block
// per K slab (at pc * padded width), inside a block NR-wide panels of kc x NR.
void pack_b(const GemmArgs& g, PackedB& out) {
  out.n = g.n;
  out.k = g.k;
  const size_t npad = (g.n + NR - 1) / NR * NR;
  out.data.assign(npad * g.k, 0.0f);
  const size_t n_tiles = (g.n + NT - 1) / NT;
  parallel_for(n_tiles, 1, [&](size_t begin, size_t end) {
    for (size_t s = begin; s < end; ++s) {
      const size_t j0 = s * NT, j1 = std::min(g.n, j0 + NT);
      const size_t wpad = (j1 - j0 + NR - 1) / NR * NR;
      for (size_t pc = 0; pc < g.k; pc += KC) {
        const size_t kc = std::min(KC, g.k - pc);
        float* block = out.data.data() + j0 * g.k + pc * wpad;
        for (size_t j = j0; j < j1; j += NR) pack_b_panel(g, pc, kc, j, std::min(NR, j1 - j), block + (j - j0) * kc);
      }
    }
  });
}

}  // namespace DAPO_GEMM_NAMESPACE
}  // namespace dapo
