// The training launchers of ops.cuh's "attention.cu" section: argument checks, the choice between
// the SIMT and the tensor-core kernels (attention_kernels.cuh), and the backward's first pass,
// delta = rowsum(dout * out). Decode and the KV cache are in attention_decode.cu.
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <type_traits>

#include "cuda/model/attention_device.cuh"
#include "cuda/model/attention_kernels.cuh"

namespace dapo::cuda::model {
namespace attn {

Kernel kernel_from_env() {
  static const Kernel kernel = [] {
    const char* v = std::getenv("DAPO_ATTENTION_KERNEL");
    return v && std::strcmp(v, "simt") == 0 ? Kernel::kSimt : Kernel::kAuto;
  }();
  return kernel;
}

namespace {

constexpr int kDeltaThreads = 256;

// delta[r, h] = sum_d dout[r, h, d] * out[r, h, d] in fp32, lanes over d then a fixed butterfly;
// one warp per (row, head).
template <typename T>
__global__ void __launch_bounds__(kDeltaThreads) delta_kernel(const Params<T> p, int64_t rows, float* delta) {
  const int64_t item = static_cast<int64_t>(blockIdx.x) * (kDeltaThreads / 32) + threadIdx.x / 32;
  if (item >= rows * p.heads) return;
  const int64_t r = item / p.heads;
  const int h = static_cast<int>(item - r * p.heads), lane = threadIdx.x % 32, D = p.head_dim;
  const T* o = p.out_read + r * p.ld_out + h * D;
  const T* d = p.dout + r * p.ld_out + h * D;
  float s = 0.0f;
  for (int c = lane; c < D; c += 32) s = fmaf(to_float(o[c]), to_float(d[c]), s);
  s = warp_sum(s);
  if (lane == 0) delta[item] = s;
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

bool device_has_mma() {
  int device = 0, major = 0;
  if (cudaGetDevice(&device) != cudaSuccess) return false;
  if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess) return false;
  return major >= 8;
}

// Sizes the kernels can run: heads a multiple of kv_heads, an even head_dim up to 256, strides
// that hold a row, and int32 row and grid counts. `empty`: nothing to compute.
template <typename T>
bool args_ok(const AttentionArgs<T>& a, bool* empty) {
  *empty = a.rows == 0 || a.n_seqs == 0;
  if (a.heads == 0 || a.kv_heads == 0 || a.heads % a.kv_heads != 0) return false;
  if (a.head_dim < 2 || a.head_dim % 2 != 0 || a.head_dim > 256) return false;
  if (*empty) return true;
  if (!a.cu_seqlens || !a.q || !a.k || !a.v || !a.out) return false;
  if (a.ld_q < a.heads * a.head_dim || a.ld_kv < a.kv_heads * a.head_dim || a.ld_out < a.heads * a.head_dim) return false;
  if (a.rows > static_cast<size_t>(INT32_MAX) || a.max_seqlen > a.rows || a.n_seqs * a.heads > static_cast<size_t>(INT32_MAX))
    return false;
  // The finest tiles (16 rows, and 8 keys in the SIMT dK / dV kernel) must fit grid.y.
  return a.max_seqlen <= static_cast<size_t>(kMaxGridY) * 8;
}

template <typename T>
Params<T> params_of(const AttentionArgs<T>& a) {
  Params<T> p;
  p.q = a.q;
  p.k = a.k;
  p.v = a.v;
  p.out = a.out;
  p.out_read = a.out;
  p.lse_out = a.lse;
  p.lse = a.lse;
  p.cu_seqlens = a.cu_seqlens;
  p.ld_q = static_cast<int64_t>(a.ld_q);
  p.ld_kv = static_cast<int64_t>(a.ld_kv);
  p.ld_out = static_cast<int64_t>(a.ld_out);
  p.heads = static_cast<int>(a.heads);
  p.kv_heads = static_cast<int>(a.kv_heads);
  p.group = static_cast<int>(a.heads / a.kv_heads);
  p.head_dim = static_cast<int>(a.head_dim);
  p.n_seqs = static_cast<int>(a.n_seqs);
  p.max_seqlen = static_cast<int>(a.max_seqlen);
  p.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(a.head_dim)));
  p.scale_log2 = p.scale * kLog2e;
  return p;
}

// Whether to run the tensor-core kernels: the asked variant, else the environment's, and MMA
// only where it applies (`applies`). An explicit MMA that does not apply is an error.
cudaError_t choose(Kernel asked, bool applies, bool* use_mma) {
  const Kernel k = asked == Kernel::kAuto ? kernel_from_env() : asked;
  if (asked == Kernel::kMma && !applies) return cudaErrorInvalidValue;
  *use_mma = k != Kernel::kSimt && applies;
  return cudaSuccess;
}

size_t align256(size_t bytes) { return (bytes + 255) / 256 * 256; }

}  // namespace

template <typename T>
bool mma_applies(const AttentionArgs<T>& a) {
  if constexpr (!std::is_same_v<T, bf16>) {
    return false;
  } else {
    return (a.head_dim == 64 || a.head_dim == 128) && aligned16(a.q) && aligned16(a.k) && aligned16(a.v) &&
           aligned16(a.out) && a.ld_q % 8 == 0 && a.ld_kv % 8 == 0 && a.ld_out % 8 == 0 && device_has_mma();
  }
}

template <typename T>
cudaError_t forward_with(const AttentionArgs<T>& a, Kernel kernel, cudaStream_t stream) {
  bool empty = false, use_mma = false;
  if (!args_ok(a, &empty)) return cudaErrorInvalidValue;
  const cudaError_t status = choose(kernel, mma_applies(a), &use_mma);
  if (status != cudaSuccess || empty) return status;
  const Params<T> p = params_of(a);
  if constexpr (std::is_same_v<T, bf16>)
    if (use_mma) return mma_forward(p, stream);
  return simt_forward(p, stream);
}

template <typename T>
cudaError_t backward_with(const AttentionBackwardArgs<T>& a, void* scratch, Kernel kernel, cudaStream_t stream) {
  bool empty = false, use_mma = false;
  if (!args_ok(a.fwd, &empty)) return cudaErrorInvalidValue;
  const bool applies = mma_applies(a.fwd) && aligned16(a.dout) && aligned16(a.dq) && aligned16(a.dk) && aligned16(a.dv);
  cudaError_t status = choose(kernel, applies, &use_mma);
  if (status != cudaSuccess || empty) return status;
  if (!a.dout || !a.dq || !a.dk || !a.dv || !a.fwd.lse || !scratch) return cudaErrorInvalidValue;
  Params<T> p = params_of(a.fwd);
  p.out = nullptr;  // read only
  p.lse_out = nullptr;
  p.dout = a.dout;
  p.dq = a.dq;
  p.dk = a.dk;
  p.dv = a.dv;
  float* delta = static_cast<float*>(scratch);
  p.delta = delta;
  const int64_t items = static_cast<int64_t>(a.fwd.rows) * p.heads;
  const int64_t blocks = (items + kDeltaThreads / 32 - 1) / (kDeltaThreads / 32);
  delta_kernel<T><<<static_cast<unsigned>(blocks), kDeltaThreads, 0, stream>>>(p, static_cast<int64_t>(a.fwd.rows),
                                                                                 delta);
  status = cudaGetLastError();
  if (status != cudaSuccess) return status;
  if constexpr (std::is_same_v<T, bf16>)
    if (use_mma) return mma_backward(p, stream);
  return simt_backward(p, stream);
}

}  // namespace attn

template <typename T>
cudaError_t attention_forward(const AttentionArgs<T>& a, cudaStream_t stream) {
  return attn::forward_with(a, attn::Kernel::kAuto, stream);
}

template <typename T>
size_t attention_backward_scratch_bytes(const AttentionArgs<T>& a) {
  return attn::align256(a.rows * a.heads * sizeof(float));  // delta
}

template <typename T>
cudaError_t attention_backward(const AttentionBackwardArgs<T>& a, void* scratch, cudaStream_t stream) {
  return attn::backward_with(a, scratch, attn::Kernel::kAuto, stream);
}

#define DAPO_ATTENTION_INSTANTIATE(T)                                                                             \
  template cudaError_t attention_forward<T>(const AttentionArgs<T>&, cudaStream_t);                               \
  template size_t attention_backward_scratch_bytes<T>(const AttentionArgs<T>&);                                   \
  template cudaError_t attention_backward<T>(const AttentionBackwardArgs<T>&, void*, cudaStream_t);               \
  template bool attn::mma_applies<T>(const AttentionArgs<T>&);                                                    \
  template cudaError_t attn::forward_with<T>(const AttentionArgs<T>&, attn::Kernel, cudaStream_t);                \
  template cudaError_t attn::backward_with<T>(const AttentionBackwardArgs<T>&, void*, attn::Kernel, cudaStream_t);
DAPO_ATTENTION_INSTANTIATE(float)
DAPO_ATTENTION_INSTANTIATE(bf16)
#undef DAPO_ATTENTION_INSTANTIATE

}  // namespace dapo::cuda::model
