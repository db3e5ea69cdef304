// The SIMT attention kernels (see attention_kernels.cuh): fp32 arithmetic on CUDA cores, any even
// head_dim up to 256, float and bf16 storage. Lane-parallel layouts throughout: a score is one
// lane's dot product over the head dimension (its key, or its query, against a row broadcast
// from shared memory), and an output row is spread over the lanes by dimension
// (lane + 32 i), so no [T x T] matrix exists anywhere and every sum runs in a fixed order.
#include <type_traits>

#include "cuda/model/attention_device.cuh"
#include "cuda/model/attention_kernels.cuh"

namespace dapo::cuda::model::attn {
namespace {

constexpr int kThreads = 128, kWarps = 4;
constexpr int kRowsPerWarp = 4;                    // forward / dQ: query rows per warp
constexpr int kQueryTile = kWarps * kRowsPerWarp;  // 16 query rows per block
constexpr int kKeyTile = 32;                       // one key per lane
constexpr int kBackQueryTile = 32;                 // dK / dV: one query per lane

// dst[r * stride + c] = mul * src row (row0 + r), for r < n_rows, c < D; zero for rows at or past
// end. `base` is row 0 of the sequence at the head's first dimension.
template <typename T>
__device__ void load_rows(float* dst, int stride, const T* base, int64_t ld, int row0, int n_rows, int end, int D,
                          float mul) {
  for (int i = threadIdx.x; i < n_rows * D; i += blockDim.x) {
    const int r = i / D, c = i - r * D, row = row0 + r;
    dst[r * stride + c] = row < end ? to_float(base[static_cast<int64_t>(row) * ld + c]) * mul : 0.0f;
  }
}

// acc[rr][i] += sum over j < n of w[rr] of lane j, times rows[j * stride + lane + 32 i]: each
// lane's weight (one per key of the tile) broadcast in turn, lanes owning dims lane + 32 i.
template <int DPL>
__device__ __forceinline__ void add_weighted_rows(float (&acc)[kRowsPerWarp][DPL], const float (&w)[kRowsPerWarp],
                                                  const float* rows, int stride, int n, int D) {
  const int lane = threadIdx.x % 32;
  for (int j = 0; j < n; ++j) {
    float x[DPL];
#pragma unroll
    for (int i = 0; i < DPL; ++i) x[i] = lane + 32 * i < D ? rows[j * stride + lane + 32 * i] : 0.0f;
#pragma unroll
    for (int rr = 0; rr < kRowsPerWarp; ++rr) {
      const float wj = __shfl_sync(kFullMask, w[rr], j);
#pragma unroll
      for (int i = 0; i < DPL; ++i) acc[rr][i] = fmaf(wj, x[i], acc[rr][i]);
    }
  }
}

// Forward. Each warp owns kRowsPerWarp query rows; per key tile, lane j scores key j against each
// row, the row's online softmax state (max m, per-lane partial sum l) is updated, and the
// probabilities are broadcast lane by lane into the output accumulators (lane owns dims
// lane + 32 i). Scores are in log2 units (q pre-multiplied by scale * log2 e).
template <typename T, int DPL>
__global__ void __launch_bounds__(kThreads) forward_kernel(const Params<T> p) {
  const QueryBlock b = query_block(p, kQueryTile);
  if (b.q0 >= b.len) return;
  const int D = p.head_dim, KS = D + 1;  // odd key stride: lane j's row reads are conflict-free
  extern __shared__ float smem[];
  float* qs = smem;                  // [kQueryTile][D]
  float* ks = qs + kQueryTile * D;   // [kKeyTile][KS]
  float* vs = ks + kKeyTile * KS;    // [kKeyTile][KS]
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t kv_off = static_cast<int64_t>(b.start) * p.ld_kv + b.kv_head * D;
  load_rows(qs, D, p.q + static_cast<int64_t>(b.start) * p.ld_q + b.head * D, p.ld_q, b.q0, kQueryTile, b.len, D,
            p.scale_log2);

  float m[kRowsPerWarp], l[kRowsPerWarp], acc[kRowsPerWarp][DPL];
#pragma unroll
  for (int rr = 0; rr < kRowsPerWarp; ++rr) {
    m[rr] = -INFINITY;
    l[rr] = 0.0f;
#pragma unroll
    for (int i = 0; i < DPL; ++i) acc[rr][i] = 0.0f;
  }
  const int n_keys = min(b.q0 + kQueryTile, b.len);
  const int row0 = b.q0 + warp * kRowsPerWarp;  // this warp's first row (sequence-relative)
  for (int k0 = 0; k0 < n_keys; k0 += kKeyTile) {
    __syncthreads();  // the previous tile is consumed
    load_rows(ks, KS, p.k + kv_off, p.ld_kv, k0, kKeyTile, n_keys, D, 1.0f);
    load_rows(vs, KS, p.v + kv_off, p.ld_kv, k0, kKeyTile, n_keys, D, 1.0f);
    __syncthreads();
    const int key = k0 + lane;
    float s[kRowsPerWarp];
#pragma unroll
    for (int rr = 0; rr < kRowsPerWarp; ++rr) s[rr] = 0.0f;
    for (int c = 0; c < D; ++c) {
      const float kc = ks[lane * KS + c];
#pragma unroll
      for (int rr = 0; rr < kRowsPerWarp; ++rr) s[rr] = fmaf(qs[(warp * kRowsPerWarp + rr) * D + c], kc, s[rr]);
    }
#pragma unroll
    for (int rr = 0; rr < kRowsPerWarp; ++rr) {
      const float x = (key <= row0 + rr && key < n_keys) ? s[rr] : -INFINITY;
      const float m_new = fmaxf(m[rr], warp_max(x));
      if (m_new == -INFINITY) {  // nothing visible to this row yet (warp-uniform)
        s[rr] = 0.0f;
        continue;
      }
      const float alpha = exp2f(m[rr] - m_new);  // 0 on the first visible tile
      s[rr] = exp2f(x - m_new);
      l[rr] = l[rr] * alpha + s[rr];
#pragma unroll
      for (int i = 0; i < DPL; ++i) acc[rr][i] *= alpha;
      m[rr] = m_new;
    }
    add_weighted_rows(acc, s, vs, KS, min(kKeyTile, n_keys - k0), D);
  }
#pragma unroll
  for (int rr = 0; rr < kRowsPerWarp; ++rr) {
    const int row = row0 + rr;
    if (row >= b.len) continue;  // warp-uniform
    const float sum = warp_sum(l[rr]), inv = 1.0f / sum;
    T* o = p.out + static_cast<int64_t>(b.start + row) * p.ld_out + b.head * D;
#pragma unroll
    for (int i = 0; i < DPL; ++i)
      if (lane + 32 * i < D) o[lane + 32 * i] = from_float<T>(acc[rr][i] * inv);
    if (lane == 0 && p.lse_out) p.lse_out[static_cast<int64_t>(b.start + row) * p.heads + b.head] = (m[rr] + log2f(sum)) * kLn2;
  }
}

// dQ = scale * sum_j dS_j k_j with dS = P (dP - delta), P = exp2(s - lse * log2 e), dP = dout . v;
// the forward's layout, with dout beside q in shared memory.
template <typename T, int DPL>
__global__ void __launch_bounds__(kThreads) dq_kernel(const Params<T> p) {
  const QueryBlock b = query_block(p, kQueryTile);
  if (b.q0 >= b.len) return;
  const int D = p.head_dim, KS = D + 1;
  extern __shared__ float smem[];
  float* qs = smem;                   // [kQueryTile][D], pre-scaled to log2 units
  float* dos = qs + kQueryTile * D;   // [kQueryTile][D]
  float* ks = dos + kQueryTile * D;   // [kKeyTile][KS]
  float* vs = ks + kKeyTile * KS;     // [kKeyTile][KS]
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t kv_off = static_cast<int64_t>(b.start) * p.ld_kv + b.kv_head * D;
  load_rows(qs, D, p.q + static_cast<int64_t>(b.start) * p.ld_q + b.head * D, p.ld_q, b.q0, kQueryTile, b.len, D,
            p.scale_log2);
  load_rows(dos, D, p.dout + static_cast<int64_t>(b.start) * p.ld_out + b.head * D, p.ld_out, b.q0, kQueryTile, b.len,
            D, 1.0f);
  const int row0 = b.q0 + warp * kRowsPerWarp;
  float lse2[kRowsPerWarp], delta[kRowsPerWarp], acc[kRowsPerWarp][DPL];
#pragma unroll
  for (int rr = 0; rr < kRowsPerWarp; ++rr) {
    const int row = row0 + rr;
    const int64_t at = static_cast<int64_t>(b.start + row) * p.heads + b.head;
    lse2[rr] = row < b.len ? p.lse[at] * kLog2e : INFINITY;  // past the end: P = 0
    delta[rr] = row < b.len ? p.delta[at] : 0.0f;
#pragma unroll
    for (int i = 0; i < DPL; ++i) acc[rr][i] = 0.0f;
  }
  const int n_keys = min(b.q0 + kQueryTile, b.len);
  for (int k0 = 0; k0 < n_keys; k0 += kKeyTile) {
    __syncthreads();
    load_rows(ks, KS, p.k + kv_off, p.ld_kv, k0, kKeyTile, n_keys, D, 1.0f);
    load_rows(vs, KS, p.v + kv_off, p.ld_kv, k0, kKeyTile, n_keys, D, 1.0f);
    __syncthreads();
    const int key = k0 + lane;
    float s[kRowsPerWarp], dp[kRowsPerWarp];
#pragma unroll
    for (int rr = 0; rr < kRowsPerWarp; ++rr) s[rr] = dp[rr] = 0.0f;
    for (int c = 0; c < D; ++c) {
      const float kc = ks[lane * KS + c], vc = vs[lane * KS + c];
#pragma unroll
      for (int rr = 0; rr < kRowsPerWarp; ++rr) {
        s[rr] = fmaf(qs[(warp * kRowsPerWarp + rr) * D + c], kc, s[rr]);
        dp[rr] = fmaf(dos[(warp * kRowsPerWarp + rr) * D + c], vc, dp[rr]);
      }
    }
#pragma unroll
    for (int rr = 0; rr < kRowsPerWarp; ++rr) {
      const float pr = (key <= row0 + rr && key < n_keys) ? exp2f(s[rr] - lse2[rr]) : 0.0f;
      s[rr] = pr * (dp[rr] - delta[rr]);  // dS / scale
    }
    add_weighted_rows(acc, s, ks, KS, min(kKeyTile, n_keys - k0), D);
  }
#pragma unroll
  for (int rr = 0; rr < kRowsPerWarp; ++rr) {
    const int row = row0 + rr;
    if (row >= b.len) continue;
    T* o = p.dq + static_cast<int64_t>(b.start + row) * p.ld_q + b.head * D;
#pragma unroll
    for (int i = 0; i < DPL; ++i)
      if (lane + 32 * i < D) o[lane + 32 * i] = from_float<T>(acc[rr][i] * p.scale);
  }
}

// dK and dV of one tile of kWarps * KPW keys of one kv head; warp w owns KPW keys. Loops over the
// group's query heads, then over query tiles from the key tile on (lane = query): the sums over
// queries and heads run in that fixed order, in registers.
template <typename T, int DPL, int KPW>
__global__ void __launch_bounds__(kThreads) dkdv_kernel(const Params<T> p) {
  constexpr int kKeys = kWarps * KPW;
  const int seq = blockIdx.x / p.kv_heads, kv_head = blockIdx.x - seq * p.kv_heads;
  const int start = p.cu_seqlens[seq], len = p.cu_seqlens[seq + 1] - start;
  const int k0 = blockIdx.y * kKeys;  // blockIdx.y = 0 first: the tiles with the most queries
  if (k0 >= len) return;
  const int D = p.head_dim, QS = D + 1;
  extern __shared__ float smem[];
  float* ks = smem;                       // [kKeys][D] (read as broadcasts)
  float* vs = ks + kKeys * D;             // [kKeys][D]
  float* qs = vs + kKeys * D;             // [kBackQueryTile][QS]
  float* dos = qs + kBackQueryTile * QS;  // [kBackQueryTile][QS]
  float* lse2s = dos + kBackQueryTile * QS;
  float* deltas = lse2s + kBackQueryTile;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t kv_off = static_cast<int64_t>(start) * p.ld_kv + kv_head * D;
  load_rows(ks, D, p.k + kv_off, p.ld_kv, k0, kKeys, len, D, 1.0f);
  load_rows(vs, D, p.v + kv_off, p.ld_kv, k0, kKeys, len, D, 1.0f);

  float dk[KPW][DPL], dv[KPW][DPL];
#pragma unroll
  for (int jj = 0; jj < KPW; ++jj)
#pragma unroll
    for (int i = 0; i < DPL; ++i) dk[jj][i] = dv[jj][i] = 0.0f;
  const int key0 = k0 + warp * KPW;  // this warp's first key
  for (int h = kv_head * p.group; h < (kv_head + 1) * p.group; ++h) {
    for (int t0 = (k0 / kBackQueryTile) * kBackQueryTile; t0 < len; t0 += kBackQueryTile) {
      __syncthreads();
      load_rows(qs, QS, p.q + static_cast<int64_t>(start) * p.ld_q + h * D, p.ld_q, t0, kBackQueryTile, len, D, 1.0f);
      load_rows(dos, QS, p.dout + static_cast<int64_t>(start) * p.ld_out + h * D, p.ld_out, t0, kBackQueryTile, len, D,
                1.0f);
      if (threadIdx.x < kBackQueryTile) {
        const int row = t0 + threadIdx.x;
        const int64_t at = static_cast<int64_t>(start + row) * p.heads + h;
        lse2s[threadIdx.x] = row < len ? p.lse[at] * kLog2e : INFINITY;
        deltas[threadIdx.x] = row < len ? p.delta[at] : 0.0f;
      }
      __syncthreads();
      const int query = t0 + lane;
      float s[KPW], dp[KPW];
#pragma unroll
      for (int jj = 0; jj < KPW; ++jj) s[jj] = dp[jj] = 0.0f;
      for (int c = 0; c < D; ++c) {
        const float qc = qs[lane * QS + c], oc = dos[lane * QS + c];
#pragma unroll
        for (int jj = 0; jj < KPW; ++jj) {
          s[jj] = fmaf(qc, ks[(warp * KPW + jj) * D + c], s[jj]);
          dp[jj] = fmaf(oc, vs[(warp * KPW + jj) * D + c], dp[jj]);
        }
      }
      const float lse2 = lse2s[lane], delta = deltas[lane];
#pragma unroll
      for (int jj = 0; jj < KPW; ++jj) {
        const float pr = key0 + jj <= query ? exp2f(s[jj] * p.scale_log2 - lse2) : 0.0f;
        s[jj] = pr;
        dp[jj] = pr * (dp[jj] - delta);  // dS / scale
      }
      // This tile's sums apart, then added to the totals: a two-level sum, so the fp32 error
      // grows with tiles + 32 rather than with all group * length terms in one chain.
      float tile_dk[KPW][DPL], tile_dv[KPW][DPL];
#pragma unroll
      for (int jj = 0; jj < KPW; ++jj)
#pragma unroll
        for (int t = 0; t < DPL; ++t) tile_dk[jj][t] = tile_dv[jj][t] = 0.0f;
      const int n_queries = min(kBackQueryTile, len - t0);
      for (int i = 0; i < n_queries; ++i) {
        float oi[DPL], qi[DPL];
#pragma unroll
        for (int t = 0; t < DPL; ++t) {
          const bool in = lane + 32 * t < D;
          oi[t] = in ? dos[i * QS + lane + 32 * t] : 0.0f;
          qi[t] = in ? qs[i * QS + lane + 32 * t] : 0.0f;
        }
#pragma unroll
        for (int jj = 0; jj < KPW; ++jj) {
          const float pi = __shfl_sync(kFullMask, s[jj], i), dsi = __shfl_sync(kFullMask, dp[jj], i);
#pragma unroll
          for (int t = 0; t < DPL; ++t) {
            tile_dv[jj][t] = fmaf(pi, oi[t], tile_dv[jj][t]);
            tile_dk[jj][t] = fmaf(dsi, qi[t], tile_dk[jj][t]);
          }
        }
      }
#pragma unroll
      for (int jj = 0; jj < KPW; ++jj)
#pragma unroll
        for (int t = 0; t < DPL; ++t) {
          dk[jj][t] += tile_dk[jj][t];
          dv[jj][t] += tile_dv[jj][t];
        }
    }
  }
#pragma unroll
  for (int jj = 0; jj < KPW; ++jj) {
    const int key = key0 + jj;
    if (key >= len) continue;
    const int64_t at = static_cast<int64_t>(start + key) * p.ld_kv + kv_head * D;
#pragma unroll
    for (int t = 0; t < DPL; ++t)
      if (lane + 32 * t < D) {
        p.dk[at + lane + 32 * t] = from_float<T>(dk[jj][t] * p.scale);
        p.dv[at + lane + 32 * t] = from_float<T>(dv[jj][t]);
      }
  }
}

// Runs f(std::integral_constant<int, DPL>) for the head_dim's dims per lane.
template <typename F>
cudaError_t with_dims_per_lane(int head_dim, F&& f) {
  switch (dims_per_lane(head_dim)) {
    case 1: return f(std::integral_constant<int, 1>());
    case 2: return f(std::integral_constant<int, 2>());
    case 4: return f(std::integral_constant<int, 4>());
    default: return f(std::integral_constant<int, 8>());
  }
}

// Keys per warp of the dK / dV kernel: 2 * KPW * DPL accumulators per lane stay near 32.
template <int DPL>
constexpr int keys_per_warp() {
  return DPL <= 2 ? 8 : DPL == 4 ? 4 : 2;
}

}  // namespace

template <typename T>
cudaError_t simt_forward(const Params<T>& p, cudaStream_t stream) {
  return with_dims_per_lane(p.head_dim, [&](auto dpl) {
    const size_t d = static_cast<size_t>(p.head_dim);
    const size_t bytes = (kQueryTile * d + 2 * kKeyTile * (d + 1)) * sizeof(float);
    const dim3 grid(static_cast<unsigned>(p.n_seqs * p.heads), tiles_of(p.max_seqlen, kQueryTile));
    return launch_kernel(forward_kernel<T, decltype(dpl)::value>, grid, kThreads, bytes, p, stream);
  });
}

template <typename T>
cudaError_t simt_backward(const Params<T>& p, cudaStream_t stream) {
  return with_dims_per_lane(p.head_dim, [&](auto dpl) {
    constexpr int DPL = decltype(dpl)::value, KPW = keys_per_warp<DPL>();
    const size_t d = static_cast<size_t>(p.head_dim);
    const size_t dkdv_bytes = (2 * kWarps * KPW * d + 2 * kBackQueryTile * (d + 1) + 2 * kBackQueryTile) * sizeof(float);
    const dim3 dkdv_grid(static_cast<unsigned>(p.n_seqs * p.kv_heads), tiles_of(p.max_seqlen, kWarps * KPW));
    cudaError_t status = launch_kernel(dkdv_kernel<T, DPL, KPW>, dkdv_grid, kThreads, dkdv_bytes, p, stream);
    if (status != cudaSuccess) return status;
    const size_t dq_bytes = (2 * kQueryTile * d + 2 * kKeyTile * (d + 1)) * sizeof(float);
    const dim3 dq_grid(static_cast<unsigned>(p.n_seqs * p.heads), tiles_of(p.max_seqlen, kQueryTile));
    return launch_kernel(dq_kernel<T, DPL>, dq_grid, kThreads, dq_bytes, p, stream);
  });
}

template cudaError_t simt_forward<float>(const Params<float>&, cudaStream_t);
template cudaError_t simt_forward<bf16>(const Params<bf16>&, cudaStream_t);
template cudaError_t simt_backward<float>(const Params<float>&, cudaStream_t);
template cudaError_t simt_backward<bf16>(const Params<bf16>&, cudaStream_t);

}  // namespace dapo::cuda::model::attn
