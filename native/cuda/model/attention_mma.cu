// The tensor-core attention kernels (see attention_kernels.cuh): bf16 operands, fp32
// accumulation, mma.sync.m16n8k16, head_dim 64 and 128, 4 warps per block, each warp owning 16
// rows of the block's tile. Tiles of keys / queries go to shared memory with cp.async (double
// buffered, rows padded by 8 elements so ldmatrix reads are free of bank conflicts); fragments
// come out of shared memory with ldmatrix (.trans where the operand is needed transposed).
//
// Fragment layouts of m16n8k16 (PTX ISA, "Matrix fragments for mma.m16n8k16"), with g = lane / 4
// and t = lane % 4:
//   A (16 x 16, row-major): a0 = (g, 2t..2t+1), a1 = (g+8, 2t..), a2 = (g, 2t+8..), a3 = (g+8, 2t+8..)
//   B (16 x 8, k x n):      b0 = (k 2t..2t+1, n g), b1 = (k 2t+8..2t+9, n g)
//   C (16 x 8, fp32):       c0, c1 = (g, 2t), (g, 2t+1); c2, c3 = (g+8, 2t), (g+8, 2t+1)
// so the C fragments of two adjacent n-tiles, rounded to bf16 pairs, are the A fragment of one
// k-step: the probabilities feed the next product without leaving registers.
#include <cstring>

#include "cuda/model/attention_device.cuh"
#include "cuda/model/attention_kernels.cuh"

#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800
#define DAPO_ATTN_MMA 1
#else
#define DAPO_ATTN_MMA 0  // older devices: never dispatched (see mma_applies), compiled empty
#endif

namespace dapo::cuda::model::attn {
namespace {

constexpr int kThreads = 128;

// ---- PTX ---------------------------------------------------------------------------------------

__device__ __forceinline__ uint32_t shared_address(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// 16 bytes global -> shared, asynchronously; zero-filled when !valid (nothing is read then).
__device__ __forceinline__ void cp_async_16(void* dst, const void* src, bool valid) {
#if DAPO_ATTN_MMA
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(shared_address(dst)), "l"(src),
               "r"(valid ? 16 : 0)
               : "memory");
#endif
}
__device__ __forceinline__ void cp_async_commit() {
#if DAPO_ATTN_MMA
  asm volatile("cp.async.commit_group;\n" ::: "memory");
#endif
}
template <int N>
__device__ __forceinline__ void cp_async_wait() {
#if DAPO_ATTN_MMA
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
#endif
}

// Four 8x8 b16 matrices; lane l gives the address of row l % 8 of matrix l / 8 and receives, in
// r[i], elements (l / 4, 2 (l % 4) .. +1) of matrix i (transposed with .trans).
__device__ __forceinline__ void ldsm_x4(uint32_t (&r)[4], const void* p) {
#if DAPO_ATTN_MMA
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(shared_address(p))
               : "memory");
#endif
}
__device__ __forceinline__ void ldsm_x4_trans(uint32_t (&r)[4], const void* p) {
#if DAPO_ATTN_MMA
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(shared_address(p))
               : "memory");
#endif
}

// d += a * b (16 x 8 x 16, bf16 in, fp32 accumulate).
__device__ __forceinline__ void mma(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
#if DAPO_ATTN_MMA
  asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#endif
}

// ---- Fragments -----------------------------------------------------------------------------------

// Two floats as a bf16 pair (lo in the low half: the lower column), the rounded values added to
// `sum` so a softmax denominator counts exactly the weights the product uses.
__device__ __forceinline__ uint32_t pack(float lo, float hi) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  uint32_t bits;
  memcpy(&bits, &v, 4);
  return bits;
}
__device__ __forceinline__ uint32_t pack_sum(float lo, float hi, float& sum) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  sum += __low2float(v) + __high2float(v);
  uint32_t bits;
  memcpy(&bits, &v, 4);
  return bits;
}

// Shared-memory row of a B fragment pair read by ldsm_x4 (n-tiles 2 np, 2 np + 1 of k-step kk)
// from a [n][k] row-major tile (keys or queries by rows, head dims by columns).
template <int STRIDE>
__device__ __forceinline__ int b_offset(int np, int kk, int lane) {
  return (np * 16 + (lane & 7) + ((lane >> 4) << 3)) * STRIDE + kk * 16 + ((lane >> 3) & 1) * 8;
}
// Shared-memory row of an A fragment (rows row0.., k-step kk) read by ldsm_x4 from a row-major
// tile; the same address pattern, with .trans, gives the B fragment pair (n-tiles 2 kk', 2 kk' + 1
// as columns np) of a [k][n] row-major tile.
template <int STRIDE>
__device__ __forceinline__ int a_offset(int row0, int col16, int lane) {
  return (row0 + (lane & 15)) * STRIDE + col16 * 16 + (lane >> 4) * 8;
}

// A fragments of rows r0 and r1 = r0 + 8 over the whole head (KD k-steps), from global memory;
// rows at or past `end` are zero.
template <int KD>
__device__ __forceinline__ void load_a_rows(uint32_t (&f)[KD][4], const bf16* base, int64_t ld, int r0, int end) {
  const int t = threadIdx.x % 4, r1 = r0 + 8;
  const bf16* p0 = base + static_cast<int64_t>(r0) * ld + 2 * t;
  const bf16* p1 = base + static_cast<int64_t>(r1) * ld + 2 * t;
#pragma unroll
  for (int kk = 0; kk < KD; ++kk) {
    f[kk][0] = r0 < end ? *reinterpret_cast<const uint32_t*>(p0 + kk * 16) : 0u;
    f[kk][1] = r1 < end ? *reinterpret_cast<const uint32_t*>(p1 + kk * 16) : 0u;
    f[kk][2] = r0 < end ? *reinterpret_cast<const uint32_t*>(p0 + kk * 16 + 8) : 0u;
    f[kk][3] = r1 < end ? *reinterpret_cast<const uint32_t*>(p1 + kk * 16 + 8) : 0u;
  }
}

// Rows r0 and r0 + 8 of a 16 x (8 ND) accumulator, times mul0 / mul1, as bf16 pairs.
template <int ND>
__device__ __forceinline__ void store_c_rows(const float (&c)[ND][4], float mul0, float mul1, bf16* base, int64_t ld,
                                             int r0, int end) {
  const int t = threadIdx.x % 4, r1 = r0 + 8;
  if (r0 < end) {
    bf16* p = base + static_cast<int64_t>(r0) * ld + 2 * t;
#pragma unroll
    for (int n = 0; n < ND; ++n) *reinterpret_cast<uint32_t*>(p + n * 8) = pack(c[n][0] * mul0, c[n][1] * mul0);
  }
  if (r1 < end) {
    bf16* p = base + static_cast<int64_t>(r1) * ld + 2 * t;
#pragma unroll
    for (int n = 0; n < ND; ++n) *reinterpret_cast<uint32_t*>(p + n * 8) = pack(c[n][2] * mul1, c[n][3] * mul1);
  }
}

// Rows [row0, row0 + ROWS) of a head's slice (base = row 0 of the sequence, at the head) into a
// shared tile of stride D + 8, 16 bytes per cp.async; rows at or past `end` are zero-filled.
template <int D, int ROWS>
__device__ __forceinline__ void load_tile(bf16* dst, const bf16* base, int64_t ld, int row0, int end) {
  constexpr int kChunks = D / 8, kStride = D + 8;
#pragma unroll
  for (int i = threadIdx.x; i < ROWS * kChunks; i += kThreads) {
    const int r = i / kChunks, c = (i % kChunks) * 8, row = row0 + r;
    const bool valid = row < end;
    cp_async_16(dst + r * kStride + c, valid ? base + static_cast<int64_t>(row) * ld + c : base, valid);
  }
}

__device__ __forceinline__ float quad_max(float x) {
  x = fmaxf(x, __shfl_xor_sync(kFullMask, x, 1));
  return fmaxf(x, __shfl_xor_sync(kFullMask, x, 2));
}
__device__ __forceinline__ float quad_sum(float x) {
  x += __shfl_xor_sync(kFullMask, x, 1);
  return x + __shfl_xor_sync(kFullMask, x, 2);
}

// The keys and values a query block reads, tile by tile (BK rows each, up to n_keys), double
// buffered in shared memory: tile kt is in buffer kt & 1 while tile kt + 1 loads.
template <int D, int BK>
struct KvTiles {
  static constexpr int S = D + 8;
  static constexpr size_t shared_bytes = 2 * 2 * BK * S * sizeof(bf16);
  bf16* ks;  // [2][BK][S]
  bf16* vs;  // [2][BK][S]
  const bf16* kbase;
  const bf16* vbase;
  int64_t ld;
  int n_keys, n_tiles;

  __device__ KvTiles(unsigned char* shared, const Params<bf16>& p, const QueryBlock& b, int n_keys_)
      : ks(reinterpret_cast<bf16*>(shared)),
        vs(ks + 2 * BK * S),
        kbase(p.k + static_cast<int64_t>(b.start) * p.ld_kv + b.kv_head * D),
        vbase(p.v + static_cast<int64_t>(b.start) * p.ld_kv + b.kv_head * D),
        ld(p.ld_kv),
        n_keys(n_keys_),
        n_tiles((n_keys_ + BK - 1) / BK) {}
  __device__ void load(int kt, int buf) const {
    load_tile<D, BK>(ks + buf * BK * S, kbase, ld, kt * BK, n_keys);
    load_tile<D, BK>(vs + buf * BK * S, vbase, ld, kt * BK, n_keys);
    cp_async_commit();
  }
  // Waits for tile kt (after starting tile kt + 1) and returns its buffer; tile 0 was started
  // with load(0, 0). The caller syncs the block after using the buffer.
  __device__ int wait(int kt) const {
    const int buf = kt & 1;
    if (kt + 1 < n_tiles) {
      load(kt + 1, buf ^ 1);
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    return buf;
  }
  __device__ const bf16* k(int buf) const { return ks + buf * BK * S; }
  __device__ const bf16* v(int buf) const { return vs + buf * BK * S; }
};

// ---- Forward -------------------------------------------------------------------------------------

template <int D>
struct ForwardTiles {
  static constexpr int BQ = 64, BK = 64;
  static constexpr size_t shared_bytes = KvTiles<D, BK>::shared_bytes;
};

// Online softmax of one tile's scores s (already in log2 units and masked) for the thread's two
// rows: rescales o and l by the new maxima and returns P as bf16 A fragments (k = keys).
template <int NK, int ND>
__device__ __forceinline__ void softmax_tile(float (&s)[NK][4], float (&o)[ND][4], float& m0, float& m1, float& l0,
                                             float& l1, uint32_t (&pf)[NK / 2][4]) {
  float mx0 = -INFINITY, mx1 = -INFINITY;
#pragma unroll
  for (int j = 0; j < NK; ++j) {
    mx0 = fmaxf(mx0, fmaxf(s[j][0], s[j][1]));
    mx1 = fmaxf(mx1, fmaxf(s[j][2], s[j][3]));
  }
  const float mn0 = fmaxf(m0, quad_max(mx0)), mn1 = fmaxf(m1, quad_max(mx1));
  // A row with nothing visible yet keeps weight 0 everywhere (and no inf - inf).
  const float base0 = mn0 == -INFINITY ? 0.0f : mn0, base1 = mn1 == -INFINITY ? 0.0f : mn1;
  const float a0 = exp2f(m0 - base0), a1 = exp2f(m1 - base1);
  m0 = mn0;
  m1 = mn1;
  l0 *= a0;
  l1 *= a1;
#pragma unroll
  for (int n = 0; n < ND; ++n) {
    o[n][0] *= a0;
    o[n][1] *= a0;
    o[n][2] *= a1;
    o[n][3] *= a1;
  }
#pragma unroll
  for (int j = 0; j < NK; ++j) {
    pf[j / 2][(j & 1) * 2] = pack_sum(exp2f(s[j][0] - base0), exp2f(s[j][1] - base0), l0);
    pf[j / 2][(j & 1) * 2 + 1] = pack_sum(exp2f(s[j][2] - base1), exp2f(s[j][3] - base1), l1);
  }
}

template <int D>
__global__ void __launch_bounds__(kThreads) forward_kernel(const Params<bf16> p) {
  using Tiles = ForwardTiles<D>;
  constexpr int BQ = Tiles::BQ, BK = Tiles::BK, S = D + 8, KD = D / 16, NK = BK / 8, ND = D / 8;
  const QueryBlock b = query_block(p, BQ);
  if (b.q0 >= b.len) return;
  extern __shared__ __align__(16) unsigned char shared_raw[];
  const KvTiles<D, BK> kv(shared_raw, p, b, min(b.q0 + BQ, b.len));
  kv.load(0, 0);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  const int r0 = b.q0 + warp * 16 + g, r1 = r0 + 8;  // the thread's rows, sequence-relative

  uint32_t qf[KD][4];
  load_a_rows(qf, p.q + static_cast<int64_t>(b.start) * p.ld_q + b.head * D, p.ld_q, r0, b.len);
  float o[ND][4];
#pragma unroll
  for (int n = 0; n < ND; ++n) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f;
  float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.0f, l1 = 0.0f;

  for (int kt = 0; kt < kv.n_tiles; ++kt) {
    const int buf = kv.wait(kt);
    const bf16* k_tile = kv.k(buf);
    const bf16* v_tile = kv.v(buf);

    float s[NK][4];
#pragma unroll
    for (int j = 0; j < NK; ++j) s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.0f;
#pragma unroll
    for (int kk = 0; kk < KD; ++kk)
#pragma unroll
      for (int np = 0; np < NK / 2; ++np) {
        uint32_t kb[4];
        ldsm_x4(kb, k_tile + b_offset<S>(np, kk, lane));
        mma(s[2 * np], qf[kk], kb[0], kb[1]);
        mma(s[2 * np + 1], qf[kk], kb[2], kb[3]);
      }
    const int k0 = kt * BK;
    const bool edge = k0 + BK > b.q0;  // the tile holds keys past some row (or past the end)
#pragma unroll
    for (int j = 0; j < NK; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        float x = s[j][e] * p.scale_log2;
        const int key = k0 + 8 * j + 2 * t + (e & 1), row = e < 2 ? r0 : r1;
        if (edge && (key > row || key >= b.len)) x = -INFINITY;
        s[j][e] = x;
      }
    uint32_t pf[NK / 2][4];
    softmax_tile(s, o, m0, m1, l0, l1, pf);
#pragma unroll
    for (int kk = 0; kk < BK / 16; ++kk)
#pragma unroll
      for (int np = 0; np < ND / 2; ++np) {
        uint32_t vb[4];
        ldsm_x4_trans(vb, v_tile + a_offset<S>(kk * 16, np, lane));
        mma(o[2 * np], pf[kk], vb[0], vb[1]);
        mma(o[2 * np + 1], pf[kk], vb[2], vb[3]);
      }
    __syncthreads();  // the buffer is refilled next iteration
  }
  l0 = quad_sum(l0);
  l1 = quad_sum(l1);
  store_c_rows(o, 1.0f / l0, 1.0f / l1, p.out + static_cast<int64_t>(b.start) * p.ld_out + b.head * D, p.ld_out, r0,
               b.len);
  if (t == 0 && p.lse_out) {
    if (r0 < b.len) p.lse_out[static_cast<int64_t>(b.start + r0) * p.heads + b.head] = (m0 + log2f(l0)) * kLn2;
    if (r1 < b.len) p.lse_out[static_cast<int64_t>(b.start + r1) * p.heads + b.head] = (m1 + log2f(l1)) * kLn2;
  }
}

// ---- Backward: dQ --------------------------------------------------------------------------------

template <int D>
struct DqTiles {
  static constexpr int BQ = 64, BK = D == 128 ? 32 : 64;
  static constexpr size_t shared_bytes = KvTiles<D, BK>::shared_bytes;
};

// Per key tile: S = Q K^T, dP = dO V^T, P = exp2(S scale log2 e - lse log2 e), dS = P (dP - delta),
// dQ += dS K; written times the scale at the end.
template <int D>
__global__ void __launch_bounds__(kThreads) dq_kernel(const Params<bf16> p) {
  using Tiles = DqTiles<D>;
  constexpr int BQ = Tiles::BQ, BK = Tiles::BK, S = D + 8, KD = D / 16, NK = BK / 8, ND = D / 8;
  const QueryBlock b = query_block(p, BQ);
  if (b.q0 >= b.len) return;
  extern __shared__ __align__(16) unsigned char shared_raw[];
  const KvTiles<D, BK> kv(shared_raw, p, b, min(b.q0 + BQ, b.len));
  kv.load(0, 0);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  const int r0 = b.q0 + warp * 16 + g, r1 = r0 + 8;

  uint32_t qf[KD][4], dof[KD][4];
  load_a_rows(qf, p.q + static_cast<int64_t>(b.start) * p.ld_q + b.head * D, p.ld_q, r0, b.len);
  load_a_rows(dof, p.dout + static_cast<int64_t>(b.start) * p.ld_out + b.head * D, p.ld_out, r0, b.len);
  const int64_t at0 = static_cast<int64_t>(b.start + r0) * p.heads + b.head, at1 = at0 + 8 * p.heads;
  const float lse0 = r0 < b.len ? p.lse[at0] * kLog2e : INFINITY, lse1 = r1 < b.len ? p.lse[at1] * kLog2e : INFINITY;
  const float dl0 = r0 < b.len ? p.delta[at0] : 0.0f, dl1 = r1 < b.len ? p.delta[at1] : 0.0f;
  float dq[ND][4];
#pragma unroll
  for (int n = 0; n < ND; ++n) dq[n][0] = dq[n][1] = dq[n][2] = dq[n][3] = 0.0f;

  for (int kt = 0; kt < kv.n_tiles; ++kt) {
    const int buf = kv.wait(kt);
    const bf16* k_tile = kv.k(buf);
    const bf16* v_tile = kv.v(buf);

    float s[NK][4], dp[NK][4];
#pragma unroll
    for (int j = 0; j < NK; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) s[j][e] = dp[j][e] = 0.0f;
#pragma unroll
    for (int kk = 0; kk < KD; ++kk)
#pragma unroll
      for (int np = 0; np < NK / 2; ++np) {
        uint32_t fb[4];
        ldsm_x4(fb, k_tile + b_offset<S>(np, kk, lane));
        mma(s[2 * np], qf[kk], fb[0], fb[1]);
        mma(s[2 * np + 1], qf[kk], fb[2], fb[3]);
        ldsm_x4(fb, v_tile + b_offset<S>(np, kk, lane));
        mma(dp[2 * np], dof[kk], fb[0], fb[1]);
        mma(dp[2 * np + 1], dof[kk], fb[2], fb[3]);
      }
    const int k0 = kt * BK;
    const bool edge = k0 + BK > b.q0;
    uint32_t dsf[NK / 2][4];
#pragma unroll
    for (int j = 0; j < NK; ++j) {
      float ds[4];
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int key = k0 + 8 * j + 2 * t + (e & 1), row = e < 2 ? r0 : r1;
        float pr = exp2f(s[j][e] * p.scale_log2 - (e < 2 ? lse0 : lse1));
        if (edge && (key > row || key >= b.len)) pr = 0.0f;
        ds[e] = pr * (dp[j][e] - (e < 2 ? dl0 : dl1));
      }
      dsf[j / 2][(j & 1) * 2] = pack(ds[0], ds[1]);
      dsf[j / 2][(j & 1) * 2 + 1] = pack(ds[2], ds[3]);
    }
#pragma unroll
    for (int kk = 0; kk < BK / 16; ++kk)
#pragma unroll
      for (int np = 0; np < ND / 2; ++np) {
        uint32_t kb[4];
        ldsm_x4_trans(kb, k_tile + a_offset<S>(kk * 16, np, lane));
        mma(dq[2 * np], dsf[kk], kb[0], kb[1]);
        mma(dq[2 * np + 1], dsf[kk], kb[2], kb[3]);
      }
    __syncthreads();
  }
  store_c_rows(dq, p.scale, p.scale, p.dq + static_cast<int64_t>(b.start) * p.ld_q + b.head * D, p.ld_q, r0, b.len);
}

// ---- Backward: dK, dV ----------------------------------------------------------------------------

template <int D>
struct DkdvTiles {
  static constexpr int BK = 64, BQ = D == 128 ? 32 : 64, S = D + 8;
  // K and V once; Q and dO double buffered; lse (log2 units) and delta of the query tile, likewise.
  static constexpr size_t shared_bytes = 2 * BK * S * sizeof(bf16) + 2 * 2 * BQ * S * sizeof(bf16) +
                                         2 * 2 * BQ * sizeof(float);
};

// One block per (sequence, kv head, tile of 64 keys), warp w owning keys 16 w .. 16 w + 15, working
// on transposed products so the keys are the rows: S^T = K Q^T, dP^T = V dO^T, P^T, dS^T, then
// dV += P^T dO and dK += dS^T Q. Iterates over the group's query heads, then the query tiles from
// the key tile on: that fixed order is the only order of the sums.
template <int D>
__global__ void __launch_bounds__(kThreads) dkdv_kernel(const Params<bf16> p) {
  using Tiles = DkdvTiles<D>;
  constexpr int BK = Tiles::BK, BQ = Tiles::BQ, S = Tiles::S, KD = D / 16, NQ = BQ / 8, ND = D / 8;
  const int seq = blockIdx.x / p.kv_heads, kv_head = blockIdx.x - seq * p.kv_heads;
  const int start = p.cu_seqlens[seq], len = p.cu_seqlens[seq + 1] - start;
  const int k0 = blockIdx.y * BK;  // blockIdx.y = 0 first: the tiles with the most queries
  if (k0 >= len) return;
  extern __shared__ __align__(16) unsigned char shared_raw[];
  bf16* ks = reinterpret_cast<bf16*>(shared_raw);  // [BK][S]
  bf16* vs = ks + BK * S;                           // [BK][S]
  bf16* qs = vs + BK * S;                           // [2][BQ][S]
  bf16* dos = qs + 2 * BQ * S;                      // [2][BQ][S]
  float* lse2s = reinterpret_cast<float*>(dos + 2 * BQ * S);  // [2][BQ]
  float* deltas = lse2s + 2 * BQ;                              // [2][BQ]
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  load_tile<D, BK>(ks, p.k + static_cast<int64_t>(start) * p.ld_kv + kv_head * D, p.ld_kv, k0, len);
  load_tile<D, BK>(vs, p.v + static_cast<int64_t>(start) * p.ld_kv + kv_head * D, p.ld_kv, k0, len);

  const int first_tile = k0 / BQ, n_tiles = (len + BQ - 1) / BQ - first_tile, steps = p.group * n_tiles;
  // Step i: query head kv_head * group + i / n_tiles, query tile first_tile + i % n_tiles.
  auto prefetch = [&](int step, int buf) {
    const int h = kv_head * p.group + step / n_tiles, t0 = (first_tile + step % n_tiles) * BQ;
    load_tile<D, BQ>(qs + buf * BQ * S, p.q + static_cast<int64_t>(start) * p.ld_q + h * D, p.ld_q, t0, len);
    load_tile<D, BQ>(dos + buf * BQ * S, p.dout + static_cast<int64_t>(start) * p.ld_out + h * D, p.ld_out, t0, len);
    for (int i = threadIdx.x; i < BQ; i += kThreads) {
      const int row = t0 + i;
      const int64_t at = static_cast<int64_t>(start + row) * p.heads + h;
      lse2s[buf * BQ + i] = row < len ? p.lse[at] * kLog2e : INFINITY;  // past the end: P = 0
      deltas[buf * BQ + i] = row < len ? p.delta[at] : 0.0f;
    }
  };
  prefetch(0, 0);
  cp_async_commit();

  float dk[ND][4], dv[ND][4];
#pragma unroll
  for (int n = 0; n < ND; ++n)
#pragma unroll
    for (int e = 0; e < 4; ++e) dk[n][e] = dv[n][e] = 0.0f;
  const int key0 = k0 + warp * 16 + g, key1 = key0 + 8;  // the thread's rows (keys)

  for (int step = 0; step < steps; ++step) {
    const int buf = step & 1;
    if (step + 1 < steps) {
      prefetch(step + 1, buf ^ 1);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    const int t0 = (first_tile + step % n_tiles) * BQ;
    const bf16* q_tile = qs + buf * BQ * S;
    const bf16* do_tile = dos + buf * BQ * S;
    const float* lse2 = lse2s + buf * BQ;
    const float* delta = deltas + buf * BQ;

    float st[NQ][4], dpt[NQ][4];
#pragma unroll
    for (int j = 0; j < NQ; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) st[j][e] = dpt[j][e] = 0.0f;
#pragma unroll
    for (int kk = 0; kk < KD; ++kk) {
      uint32_t ka[4], va[4];
      ldsm_x4(ka, ks + a_offset<S>(warp * 16, kk, lane));
      ldsm_x4(va, vs + a_offset<S>(warp * 16, kk, lane));
#pragma unroll
      for (int np = 0; np < NQ / 2; ++np) {
        uint32_t fb[4];
        ldsm_x4(fb, q_tile + b_offset<S>(np, kk, lane));
        mma(st[2 * np], ka, fb[0], fb[1]);
        mma(st[2 * np + 1], ka, fb[2], fb[3]);
        ldsm_x4(fb, do_tile + b_offset<S>(np, kk, lane));
        mma(dpt[2 * np], va, fb[0], fb[1]);
        mma(dpt[2 * np + 1], va, fb[2], fb[3]);
      }
    }
    uint32_t pf[NQ / 2][4], dsf[NQ / 2][4];
#pragma unroll
    for (int j = 0; j < NQ; ++j) {
      float pr[4], ds[4];
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int col = 8 * j + 2 * t + (e & 1), key = e < 2 ? key0 : key1;
        pr[e] = key <= t0 + col ? exp2f(st[j][e] * p.scale_log2 - lse2[col]) : 0.0f;
        ds[e] = pr[e] * (dpt[j][e] - delta[col]);
      }
      pf[j / 2][(j & 1) * 2] = pack(pr[0], pr[1]);
      pf[j / 2][(j & 1) * 2 + 1] = pack(pr[2], pr[3]);
      dsf[j / 2][(j & 1) * 2] = pack(ds[0], ds[1]);
      dsf[j / 2][(j & 1) * 2 + 1] = pack(ds[2], ds[3]);
    }
#pragma unroll
    for (int kk = 0; kk < BQ / 16; ++kk)
#pragma unroll
      for (int np = 0; np < ND / 2; ++np) {
        uint32_t fb[4];
        ldsm_x4_trans(fb, do_tile + a_offset<S>(kk * 16, np, lane));
        mma(dv[2 * np], pf[kk], fb[0], fb[1]);
        mma(dv[2 * np + 1], pf[kk], fb[2], fb[3]);
        ldsm_x4_trans(fb, q_tile + a_offset<S>(kk * 16, np, lane));
        mma(dk[2 * np], dsf[kk], fb[0], fb[1]);
        mma(dk[2 * np + 1], dsf[kk], fb[2], fb[3]);
      }
    __syncthreads();
  }
  const int64_t kv_off = static_cast<int64_t>(start) * p.ld_kv + kv_head * D;
  store_c_rows(dk, p.scale, p.scale, p.dk + kv_off, p.ld_kv, key0, len);
  store_c_rows(dv, 1.0f, 1.0f, p.dv + kv_off, p.ld_kv, key0, len);
}

// ---- Launch ----------------------------------------------------------------------------------------

template <int D>
cudaError_t forward_d(const Params<bf16>& p, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>(p.n_seqs * p.heads), tiles_of(p.max_seqlen, ForwardTiles<D>::BQ));
  return launch_kernel(forward_kernel<D>, grid, kThreads, ForwardTiles<D>::shared_bytes, p, stream);
}

template <int D>
cudaError_t backward_d(const Params<bf16>& p, cudaStream_t stream) {
  const dim3 dkdv_grid(static_cast<unsigned>(p.n_seqs * p.kv_heads), tiles_of(p.max_seqlen, DkdvTiles<D>::BK));
  const cudaError_t status = launch_kernel(dkdv_kernel<D>, dkdv_grid, kThreads, DkdvTiles<D>::shared_bytes, p, stream);
  if (status != cudaSuccess) return status;
  const dim3 dq_grid(static_cast<unsigned>(p.n_seqs * p.heads), tiles_of(p.max_seqlen, DqTiles<D>::BQ));
  return launch_kernel(dq_kernel<D>, dq_grid, kThreads, DqTiles<D>::shared_bytes, p, stream);
}

}  // namespace

cudaError_t mma_forward(const Params<bf16>& p, cudaStream_t stream) {
  if (p.head_dim == 64) return forward_d<64>(p, stream);
  if (p.head_dim == 128) return forward_d<128>(p, stream);
  return cudaErrorInvalidValue;
}

cudaError_t mma_backward(const Params<bf16>& p, cudaStream_t stream) {
  if (p.head_dim == 64) return backward_d<64>(p, stream);
  if (p.head_dim == 128) return backward_d<128>(p, stream);
  return cudaErrorInvalidValue;
}

}  // namespace dapo::cuda::model::attn
