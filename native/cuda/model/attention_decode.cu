// Generation's attention (ops.cuh, "attention.cu" section): the KV cache writes and copies, and
// flash-decoding. One query row per live sequence reads its slot's cached keys: the keys are
// split over blocks (grid sized by max_length, so a captured CUDA graph replays the same launch
// at every step; each block reads the real length from device memory and returns when its split
// starts past it), each block handles one kv head for all query heads of its group (the cache is
// read once per group), and a combine pass merges the splits' partial softmax states in split
// order. Decode is bound by reading the cache, so the kernels are SIMT: lane j of a warp scores
// key j against the group's queries (broadcast from shared memory), then the probabilities go
// back through shared memory while lanes split the head dimension for the values.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "cuda/model/attention_device.cuh"
#include "cuda/model/attention_kernels.cuh"

namespace dapo::cuda::model {
namespace attn {
namespace {

constexpr int kThreads = 128, kWarps = 4;
constexpr int kSubTile = 32;                  // keys per warp step: one per lane
constexpr int kMinSplit = kWarps * kSubTile;  // 128 keys per block at the least
constexpr int kMaxGridZ = 65535;

template <typename T>
struct DecodeParams {
  const T* k_cache = nullptr;
  const T* v_cache = nullptr;
  int64_t slot_stride = 0, kvd = 0;  // elements per slot (capacity * kvd), per position
  int slots = 0, heads = 0, group = 0, head_dim = 0, max_length = 0;
  const T* q = nullptr;
  int64_t ld_q = 0;
  const int32_t* slot = nullptr;
  const int32_t* length = nullptr;
  T* out = nullptr;
  int64_t ld_out = 0;
  int split = 0, n_splits = 0;  // keys per block, blocks per row
  float* part_acc = nullptr;    // [rows, heads, n_splits, head_dim]: unnormalised outputs
  float2* part_ml = nullptr;    // [rows, heads, n_splits]: (max in log2 units, sum of weights)
  float scale_log2 = 0;
  bool vec = false;  // cache rows 16-byte aligned: vector loads
};

// Row r's visible length: 0 for a slot out of range, at most max_length.
template <typename T>
__device__ __forceinline__ int row_length(const DecodeParams<T>& p, int r) {
  const int s = p.slot[r], len = p.length[r];
  return s < 0 || s >= p.slots || len < 0 ? 0 : min(len, p.max_length);
}

// w[i] = the i-th 32-bit word at src (16-byte aligned when W >= 4, else 4 W-byte aligned).
template <int W>
__device__ __forceinline__ void load_words(uint32_t (&w)[W], const void* src) {
  if constexpr (W % 4 == 0) {
#pragma unroll
    for (int i = 0; i < W / 4; ++i) {
      const uint4 u = reinterpret_cast<const uint4*>(src)[i];
      w[4 * i] = u.x, w[4 * i + 1] = u.y, w[4 * i + 2] = u.z, w[4 * i + 3] = u.w;
    }
  } else if constexpr (W == 2) {
    const uint2 u = *reinterpret_cast<const uint2*>(src);
    w[0] = u.x, w[1] = u.y;
  } else {
    w[0] = *reinterpret_cast<const uint32_t*>(src);
  }
}

// x[i] = src[i] as floats for i < N: vector loads when `vec` and all N are in range (src then
// aligned to min(16, N * sizeof(T)) bytes), else element by element, zero past `valid`.
template <int N, typename T>
__device__ __forceinline__ void load_floats(float (&x)[N], const T* src, int valid, bool vec) {
  if (vec && valid >= N) {
    if constexpr (std::is_same_v<T, float>) {
      uint32_t w[N];
      load_words(w, src);
#pragma unroll
      for (int i = 0; i < N; ++i) x[i] = __uint_as_float(w[i]);
      return;
    } else if constexpr (N >= 2) {  // bf16 pairs: the low half is the lower element
      uint32_t w[N / 2];
      load_words(w, src);
#pragma unroll
      for (int i = 0; i < N / 2; ++i) {
        x[2 * i] = __uint_as_float(w[i] << 16);
        x[2 * i + 1] = __uint_as_float(w[i] & 0xffff0000u);
      }
      return;
    }
  }
#pragma unroll
  for (int i = 0; i < N; ++i) x[i] = i < valid ? to_float(src[i]) : 0.0f;
}

// One (split, kv head, row) per block; HB query heads of the group at a time. Warp w owns keys
// [w * split / 4, (w + 1) * split / 4) of the split, online softmax over its 32-key steps; the
// four warps' states are then merged in warp order, and the block writes the split's partial
// state (or, with a single split, the output). No __launch_bounds__: with it, ptxas trades a few
// registers for local-memory spills in some shapes; without it none spills (at most 178 registers).
template <typename T, int DPL, int HB>
__global__ void split_kernel(const DecodeParams<T> p) {
  constexpr int kDimMax = 32 * DPL;
  __shared__ float qs[HB][kDimMax];  // the chunk's queries in log2 units, zero past head_dim
  __shared__ float ps[kWarps][HB][kSubTile];
  __shared__ float warp_m[kWarps][HB], warp_l[kWarps][HB];
  __shared__ float warp_acc[kWarps][HB][kDimMax];
  const int split = blockIdx.x, kv_head = blockIdx.y, r = blockIdx.z;
  const int D = p.head_dim, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const bool direct = p.n_splits == 1;
  const int len = row_length(p, r);
  const int k_begin = split * p.split;
  // Past the length: nothing to do, except that the only block of a single split writes the
  // output even for a length of 0 (zeros, as the combine pass writes then).
  if (k_begin >= len && !direct) return;
  const int64_t base = static_cast<int64_t>(p.slot[r]) * p.slot_stride + kv_head * D;
  const T* kc = p.k_cache + base;
  const T* vc = p.v_cache + base;
  const int per_warp = p.split / kWarps;
  const int w_begin = k_begin + warp * per_warp, w_end = min(w_begin + per_warp, len);

  for (int h0 = 0; h0 < p.group; h0 += HB) {
    const int nh = min(HB, p.group - h0), head0 = kv_head * p.group + h0;
    __syncthreads();  // the previous chunk is merged
    for (int i = threadIdx.x; i < HB * kDimMax; i += kThreads) {
      const int hh = i / kDimMax, c = i % kDimMax;
      qs[hh][c] = hh < nh && c < D ? to_float(p.q[static_cast<int64_t>(r) * p.ld_q + (head0 + hh) * D + c]) * p.scale_log2
                                   : 0.0f;
    }
    __syncthreads();
    float m[HB], l[HB], acc[HB][DPL];
#pragma unroll
    for (int hh = 0; hh < HB; ++hh) {
      m[hh] = -INFINITY;
      l[hh] = 0.0f;
#pragma unroll
      for (int i = 0; i < DPL; ++i) acc[hh][i] = 0.0f;
    }
    for (int key0 = w_begin; key0 < w_end; key0 += kSubTile) {
      const int key = key0 + lane;
      const bool valid = key < w_end;
      const T* krow = kc + static_cast<int64_t>(valid ? key : key0) * p.kvd;
      float s[HB];
#pragma unroll
      for (int hh = 0; hh < HB; ++hh) s[hh] = 0.0f;
#pragma unroll 4
      for (int c0 = 0; c0 < D; c0 += 8) {
        float kx[8];
        load_floats<8>(kx, krow + c0, D - c0, p.vec);
#pragma unroll
        for (int hh = 0; hh < HB; ++hh)
#pragma unroll
          for (int e = 0; e < 8; ++e) s[hh] = fmaf(qs[hh][c0 + e], kx[e], s[hh]);
      }
#pragma unroll
      for (int hh = 0; hh < HB; ++hh) {
        const float x = valid ? s[hh] : -INFINITY;
        const float m_new = fmaxf(m[hh], warp_max(x));  // finite: lane 0's key is in range
        const float alpha = exp2f(m[hh] - m_new), pr = exp2f(x - m_new);
        l[hh] = l[hh] * alpha + pr;
#pragma unroll
        for (int i = 0; i < DPL; ++i) acc[hh][i] *= alpha;
        m[hh] = m_new;
        ps[warp][hh][lane] = pr;
      }
      __syncwarp();
      // Values in batches of kBatch rows: that many loads in flight per lane, and no more
      // registers than that (the probabilities of invalid keys are 0).
      constexpr int kBatch = DPL <= 2 ? 8 : 8 / DPL;
      const int n_valid = min(kSubTile, w_end - key0);
#pragma unroll 1
      for (int j0 = 0; j0 < n_valid; j0 += kBatch) {
        float vx[kBatch][DPL];
#pragma unroll
        for (int b = 0; b < kBatch; ++b)
          load_floats<DPL>(vx[b], vc + static_cast<int64_t>(key0 + j0 + b) * p.kvd + lane * DPL,
                           j0 + b < n_valid ? D - lane * DPL : 0, p.vec);
#pragma unroll
        for (int b = 0; b < kBatch; ++b)
#pragma unroll
          for (int hh = 0; hh < HB; ++hh) {
            const float pj = ps[warp][hh][j0 + b];
#pragma unroll
            for (int i = 0; i < DPL; ++i) acc[hh][i] = fmaf(pj, vx[b][i], acc[hh][i]);
          }
      }
      __syncwarp();
    }
#pragma unroll
    for (int hh = 0; hh < HB; ++hh) {
      const float lw = warp_sum(l[hh]);
      if (lane == 0) {
        warp_m[warp][hh] = m[hh];  // -inf for a warp whose keys are all past the length
        warp_l[warp][hh] = lw;
      }
#pragma unroll
      for (int i = 0; i < DPL; ++i) warp_acc[warp][hh][lane * DPL + i] = acc[hh][i];
    }
    __syncthreads();
    for (int i = threadIdx.x; i < nh * D; i += kThreads) {
      const int hh = i / D, c = i - hh * D;
      float mx = -INFINITY;
#pragma unroll
      for (int w = 0; w < kWarps; ++w) mx = fmaxf(mx, warp_m[w][hh]);
      float sum = 0.0f, a = 0.0f;
#pragma unroll
      for (int w = 0; w < kWarps; ++w) {
        const float f = warp_m[w][hh] == -INFINITY ? 0.0f : exp2f(warp_m[w][hh] - mx);
        sum += f * warp_l[w][hh];
        a += f * warp_acc[w][hh][c];
      }
      const int h = head0 + hh;
      if (direct) {
        p.out[static_cast<int64_t>(r) * p.ld_out + h * D + c] = from_float<T>(sum > 0.0f ? a / sum : 0.0f);
      } else {
        const int64_t part = (static_cast<int64_t>(r) * p.heads + h) * p.n_splits + split;
        p.part_acc[part * D + c] = a;
        if (c == 0) p.part_ml[part] = make_float2(mx, sum);
      }
    }
  }
}

// out[r, h] = sum_s w_s acc_s / sum_s w_s l_s with w_s = exp2(m_s - max m), over the splits that
// ran for row r, in split order. One warp per (row, head).
template <typename T>
__global__ void __launch_bounds__(kThreads) combine_kernel(const DecodeParams<T> p, int rows) {
  const int64_t item = static_cast<int64_t>(blockIdx.x) * kWarps + threadIdx.x / 32;
  if (item >= static_cast<int64_t>(rows) * p.heads) return;
  const int r = static_cast<int>(item / p.heads), h = static_cast<int>(item % p.heads), lane = threadIdx.x % 32;
  const int D = p.head_dim;
  const int len = row_length(p, r);
  const int ran = (len + p.split - 1) / p.split;
  T* o = p.out + static_cast<int64_t>(r) * p.ld_out + h * D;
  if (ran == 0) {
    for (int c = lane; c < D; c += 32) o[c] = from_float<T>(0.0f);
    return;
  }
  const int64_t part0 = item * p.n_splits;
  float mx = -INFINITY;
  for (int s = lane; s < ran; s += 32) mx = fmaxf(mx, p.part_ml[part0 + s].x);
  mx = warp_max(mx);
  float sum = 0.0f;
  for (int s = lane; s < ran; s += 32) {
    const float2 ml = p.part_ml[part0 + s];
    sum += exp2f(ml.x - mx) * ml.y;
  }
  const float inv = 1.0f / warp_sum(sum);
  for (int c = lane; c < D; c += 32) {
    float a = 0.0f;
    for (int s = 0; s < ran; ++s) a += exp2f(p.part_ml[part0 + s].x - mx) * p.part_acc[(part0 + s) * D + c];
    o[c] = from_float<T>(a * inv);
  }
}

template <typename T>
__global__ void write_kernel(KvCache<T> cache, const T* k, const T* v, int64_t ld_kv, int64_t rows,
                             const int32_t* slot, const int32_t* pos) {
  const int64_t kvd = static_cast<int64_t>(cache.kv_heads * cache.head_dim), n = rows * kvd;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = i / kvd, c = i - r * kvd;
    const int s = slot[r], at_pos = pos[r];
    // The engine places rows on the host; a slot or position out of range is skipped rather
    // than written out of bounds.
    if (s < 0 || static_cast<size_t>(s) >= cache.slots || at_pos < 0 || static_cast<size_t>(at_pos) >= cache.capacity)
      continue;
    const int64_t at = (static_cast<int64_t>(s) * static_cast<int64_t>(cache.capacity) + at_pos) * kvd + c;
    cache.k[at] = k[r * ld_kv + c];
    cache.v[at] = v[r * ld_kv + c];
  }
}

constexpr int kMaxCopyTargets = 64;
struct CopyTargets {
  int32_t slot[kMaxCopyTargets];
};

// words [0, n) of slot `from` to the same words of each target slot (blockIdx.y).
template <typename W>
__global__ void copy_kernel(W* k, W* v, int64_t slot_words, int32_t from, int64_t n, CopyTargets to) {
  const int64_t src = static_cast<int64_t>(from) * slot_words, dst = static_cast<int64_t>(to.slot[blockIdx.y]) * slot_words;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    k[dst + i] = k[src + i];
    v[dst + i] = v[src + i];
  }
}

// Blocks for a grid-stride loop over n items of 256 threads.
unsigned stride_blocks(int64_t n) { return static_cast<unsigned>(std::min<int64_t>((n + 255) / 256, 4096)); }

template <typename T>
bool cache_ok(const KvCache<T>& c) {
  return c.k && c.v && c.slots > 0 && c.capacity > 0 && c.kv_heads > 0 && c.head_dim > 0 &&
         c.slots <= static_cast<size_t>(INT32_MAX) && c.capacity <= static_cast<size_t>(INT32_MAX) &&
         c.kv_heads * c.head_dim <= static_cast<size_t>(INT32_MAX);
}

// Runs f(std::integral_constant<int, DPL>, std::integral_constant<int, HB>).
template <typename F>
cudaError_t with_shape(int head_dim, int group, F&& f) {
  auto by_group = [&](auto dpl) -> cudaError_t {
    if (group <= 1) return f(dpl, std::integral_constant<int, 1>());
    if (group <= 2) return f(dpl, std::integral_constant<int, 2>());
    if (group <= 4) return f(dpl, std::integral_constant<int, 4>());
    return f(dpl, std::integral_constant<int, 8>());
  };
  switch (dims_per_lane(head_dim)) {
    case 1: return by_group(std::integral_constant<int, 1>());
    case 2: return by_group(std::integral_constant<int, 2>());
    case 4: return by_group(std::integral_constant<int, 4>());
    default: return by_group(std::integral_constant<int, 8>());
  }
}

size_t max_splits(size_t max_length) { return (max_length + kMinSplit - 1) / kMinSplit; }

// Keys per block: 256 unless that leaves fewer than two blocks per SM, then 128.
int split_size(size_t rows, size_t kv_heads, size_t max_length) {
  int device = 0, sms = 132;
  if (cudaGetDevice(&device) == cudaSuccess) cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
  const size_t wide = 2 * kMinSplit, blocks = rows * kv_heads * ((max_length + wide - 1) / wide);
  return blocks >= 2 * static_cast<size_t>(sms) ? static_cast<int>(wide) : kMinSplit;
}

template <typename T>
bool decode_args_ok(const DecodeAttentionArgs<T>& a) {
  const KvCache<T>& c = a.cache;
  if (!cache_ok(c) || a.heads == 0 || a.heads % c.kv_heads != 0 || c.head_dim % 2 != 0 || c.head_dim > 256) return false;
  if (a.rows > static_cast<size_t>(kMaxGridZ) || a.max_length > c.capacity || a.heads > 65535) return false;
  if (a.rows == 0) return true;
  return a.q && a.slot && a.length && a.out && a.ld_q >= a.heads * c.head_dim && a.ld_out >= a.heads * c.head_dim;
}

size_t align256(size_t bytes) { return (bytes + 255) / 256 * 256; }

}  // namespace
}  // namespace attn

template <typename T>
size_t attention_decode_scratch_bytes(const DecodeAttentionArgs<T>& a) {
  const size_t splits = attn::max_splits(a.max_length);
  if (splits <= 1) return 0;
  const size_t parts = a.rows * a.heads * splits;
  return attn::align256(parts * a.cache.head_dim * sizeof(float)) + attn::align256(parts * sizeof(float2));
}

template <typename T>
cudaError_t attention_decode(const DecodeAttentionArgs<T>& a, void* scratch, cudaStream_t stream) {
  using namespace attn;
  if (!decode_args_ok(a)) return cudaErrorInvalidValue;
  if (a.rows == 0) return cudaSuccess;
  DecodeParams<T> p;
  const KvCache<T>& c = a.cache;
  p.k_cache = c.k;
  p.v_cache = c.v;
  p.kvd = static_cast<int64_t>(c.kv_heads * c.head_dim);
  p.slot_stride = static_cast<int64_t>(c.capacity) * p.kvd;
  p.slots = static_cast<int>(c.slots);
  p.heads = static_cast<int>(a.heads);
  p.group = static_cast<int>(a.heads / c.kv_heads);
  p.head_dim = static_cast<int>(c.head_dim);
  p.max_length = static_cast<int>(a.max_length);
  p.q = a.q;
  p.ld_q = static_cast<int64_t>(a.ld_q);
  p.slot = a.slot;
  p.length = a.length;
  p.out = a.out;
  p.ld_out = static_cast<int64_t>(a.ld_out);
  p.scale_log2 = static_cast<float>(1.0 / std::sqrt(static_cast<double>(c.head_dim))) * kLog2e;
  p.vec = (reinterpret_cast<uintptr_t>(c.k) | reinterpret_cast<uintptr_t>(c.v)) % 16 == 0 &&
          (c.head_dim * sizeof(T)) % 16 == 0;
  p.split = split_size(a.rows, c.kv_heads, std::max<size_t>(a.max_length, 1));
  p.n_splits = static_cast<int>(std::max<size_t>((a.max_length + p.split - 1) / p.split, 1));
  if (p.n_splits > 1) {
    if (!scratch) return cudaErrorInvalidValue;
    const size_t parts = a.rows * a.heads * static_cast<size_t>(p.n_splits);
    p.part_acc = static_cast<float*>(scratch);
    p.part_ml = reinterpret_cast<float2*>(static_cast<char*>(scratch) + align256(parts * c.head_dim * sizeof(float)));
  }
  const dim3 grid(static_cast<unsigned>(p.n_splits), static_cast<unsigned>(c.kv_heads), static_cast<unsigned>(a.rows));
  cudaError_t status = with_shape(p.head_dim, p.group, [&](auto dpl, auto hb) {
    split_kernel<T, decltype(dpl)::value, decltype(hb)::value><<<grid, kThreads, 0, stream>>>(p);
    return cudaGetLastError();
  });
  if (status != cudaSuccess || p.n_splits == 1) return status;
  const int64_t items = static_cast<int64_t>(a.rows) * p.heads;
  combine_kernel<T><<<static_cast<unsigned>((items + kWarps - 1) / kWarps), kThreads, 0, stream>>>(
      p, static_cast<int>(a.rows));
  return cudaGetLastError();
}

template <typename T>
cudaError_t kv_cache_write(const KvCache<T>& cache, const T* k, const T* v, size_t ld_kv, size_t rows,
                           const int32_t* slot, const int32_t* pos, cudaStream_t stream) {
  using namespace attn;
  if (!cache_ok(cache) || ld_kv < cache.kv_heads * cache.head_dim) return cudaErrorInvalidValue;
  if (rows == 0) return cudaSuccess;
  if (!k || !v || !slot || !pos) return cudaErrorInvalidValue;
  const int64_t n = static_cast<int64_t>(rows * cache.kv_heads * cache.head_dim);
  write_kernel<T><<<stride_blocks(n), 256, 0, stream>>>(cache, k, v, static_cast<int64_t>(ld_kv),
                                                         static_cast<int64_t>(rows), slot, pos);
  return cudaGetLastError();
}

template <typename T>
cudaError_t kv_cache_copy(const KvCache<T>& cache, int32_t from, const int32_t* to_host, size_t n_to, size_t length,
                          cudaStream_t stream) {
  using namespace attn;
  if (!cache_ok(cache) || from < 0 || static_cast<size_t>(from) >= cache.slots || length > cache.capacity)
    return cudaErrorInvalidValue;
  if (n_to == 0 || length == 0) return cudaSuccess;
  if (!to_host) return cudaErrorInvalidValue;
  for (size_t i = 0; i < n_to; ++i)
    if (to_host[i] < 0 || static_cast<size_t>(to_host[i]) >= cache.slots) return cudaErrorInvalidValue;
  const size_t kvd = cache.kv_heads * cache.head_dim;
  const size_t slot_bytes = cache.capacity * kvd * sizeof(T), bytes = length * kvd * sizeof(T);
  const bool wide = (reinterpret_cast<uintptr_t>(cache.k) | reinterpret_cast<uintptr_t>(cache.v) | slot_bytes | bytes) % 16 == 0;
  for (size_t first = 0; first < n_to; first += kMaxCopyTargets) {
    CopyTargets to{};
    const size_t count = std::min<size_t>(kMaxCopyTargets, n_to - first);
    for (size_t i = 0; i < count; ++i) to.slot[i] = to_host[first + i];
    if (wide) {
      const int64_t n = static_cast<int64_t>(bytes / 16);
      copy_kernel<uint4><<<dim3(stride_blocks(n), static_cast<unsigned>(count)), 256, 0, stream>>>(
          reinterpret_cast<uint4*>(cache.k), reinterpret_cast<uint4*>(cache.v), static_cast<int64_t>(slot_bytes / 16),
          from, n, to);
    } else {
      const int64_t n = static_cast<int64_t>(length * kvd);
      copy_kernel<T><<<dim3(stride_blocks(n), static_cast<unsigned>(count)), 256, 0, stream>>>(
          cache.k, cache.v, static_cast<int64_t>(cache.capacity * kvd), from, n, to);
    }
    const cudaError_t status = cudaGetLastError();
    if (status != cudaSuccess) return status;
  }
  return cudaSuccess;
}

#define DAPO_ATTENTION_DECODE_INSTANTIATE(T)                                                                     \
  template size_t attention_decode_scratch_bytes<T>(const DecodeAttentionArgs<T>&);                              \
  template cudaError_t attention_decode<T>(const DecodeAttentionArgs<T>&, void*, cudaStream_t);                  \
  template cudaError_t kv_cache_write<T>(const KvCache<T>&, const T*, const T*, size_t, size_t, const int32_t*,  \
                                         const int32_t*, cudaStream_t);                                          \
  template cudaError_t kv_cache_copy<T>(const KvCache<T>&, int32_t, const int32_t*, size_t, size_t, cudaStream_t);
DAPO_ATTENTION_DECODE_INSTANTIATE(float)
DAPO_ATTENTION_DECODE_INSTANTIATE(bf16)
#undef DAPO_ATTENTION_DECODE_INSTANTIATE

}  // namespace dapo::cuda::model
