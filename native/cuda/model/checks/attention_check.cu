// Op checks of attention*.cu against the CPU twins (native/model/layers.h): attention_forward
// over packed sequences as engine.cc's training forward calls it (each row sees its sequence's
// keys up to itself), attention_backward, attention_decode as engine.cc's KV-cache decoder calls
// the same CPU forward (each row sees positions [0, length) of its slot), and the cache writes and
// copies. Inputs are N(0, 1) from the seed, rounded to bf16 in bf16 mode before both sides see them.
//
// "attention_forward", "attention_backward":
//   dims    = [heads, kv_heads, head_dim, variant, layout]
//             variant: 0 the launchers' choice (DAPO_ATTENTION_KERNEL, then MMA where it applies),
//                      1 SIMT, 2 MMA (bf16 with head_dim 64 or 128 only; anything else is an error)
//             layout:  0 q, k, v, out each contiguous; 1 q, k, v side by side in one buffer of rows
//                      (heads + 2 kv_heads) * head_dim (one fused QKV projection) and out with a
//                      padded stride of heads * head_dim + 8; gradients in the same layouts
//   lengths = the packed sequences' lengths (at least one row in all)
//   outputs: forward "out", "lse"; backward "dq", "dk", "dv" (the backward gets the CPU forward's
//   out, rounded to bf16 in bf16 mode, and its lse, so both sides see the same inputs); and "rerun",
//   a second run against the first (0 unless a result depends on timing)
// "attention_decode":
//   dims    = [heads, kv_heads, head_dim, slots, capacity, max_length (0: capacity)]
//   lengths = one decoded row per entry: its length (0 .. max_length; 0 gives zeros); row r reads
//             slot perm[r % slots] of a random permutation, q has the fused-QKV row stride
//   outputs: "out"
// "kv_cache" (kv_cache_write, then kv_cache_copy):
//   dims    = [kv_heads, head_dim, slots, capacity, rows, copy_length]
//             writes `rows` rows (k and v halves of one buffer) at distinct random (slot, position),
//             then copies positions [0, copy_length) of slot 0 to every other slot
//   outputs: "k_cache", "v_cache" (the whole caches, so stray writes show)
#include <algorithm>
#include <cstdio>
#include <numeric>
#include <vector>

#include "cuda/buffers.cuh"
#include "cuda/check.cuh"
#include "cuda/model/attention_kernels.cuh"
#include "cuda/model/op_check.cuh"
#include "model/layers.h"

namespace dapo::cuda::model {
namespace {

using attn::Kernel;

constexpr size_t kMaxRows = size_t{1} << 18;        // keeps the CPU twin's time and the buffers small
constexpr size_t kMaxCacheValues = size_t{1} << 26;

int bad_case(char* message, size_t size, const char* op, const char* what) {
  std::snprintf(message, size, "%s: %s", op, what);
  return DAPO_CUDA_ERR_ARGS;
}

std::vector<float> random_values(CheckRng& rng, size_t n, bool bf16_mode) {
  std::vector<float> x(n);
  rng.fill_normal(x.data(), n, 1.0f);
  if (bf16_mode) round_to_bf16(x.data(), n);
  return x;
}

// Host <-> device with strides; bf16 values are already rounded, so the conversions are exact.
template <typename T>
cudaError_t put(T* dev, size_t ld, const std::vector<float>& host, size_t rows, size_t width) {
  std::vector<T> t(host.size());
  for (size_t i = 0; i < host.size(); ++i) t[i] = static_cast<T>(host[i]);
  return cudaMemcpy2D(dev, ld * sizeof(T), t.data(), width * sizeof(T), width * sizeof(T), rows, cudaMemcpyHostToDevice);
}
template <typename T>
cudaError_t get(std::vector<float>* host, const T* dev, size_t ld, size_t rows, size_t width) {
  std::vector<T> t(rows * width);
  const cudaError_t status =
      cudaMemcpy2D(t.data(), width * sizeof(T), dev, ld * sizeof(T), width * sizeof(T), rows, cudaMemcpyDeviceToHost);
  host->resize(t.size());
  for (size_t i = 0; i < t.size(); ++i) (*host)[i] = static_cast<float>(t[i]);
  return status;
}
template <typename T>
cudaError_t zeros(Scratch& s, size_t n, T** dev) {
  cudaError_t status = s.alloc_n(dev, n);
  return status == cudaSuccess ? cudaMemset(*dev, 0, n * sizeof(T)) : status;
}

// ---- Packed training batches ------------------------------------------------------------------------

struct Shape {
  size_t heads = 0, kv_heads = 0, head_dim = 0, rows = 0, max_seqlen = 0;
  Kernel variant = Kernel::kAuto;
  bool fused = false;
  std::vector<int32_t> cu;  // [n_seqs + 1]
  size_t qd() const { return heads * head_dim; }
  size_t kvd() const { return kv_heads * head_dim; }
  // Row strides of q / k / v (and their gradients) and of out / dout on the device.
  size_t ld_q() const { return fused ? qd() + 2 * kvd() : qd(); }
  size_t ld_kv() const { return fused ? ld_q() : kvd(); }
  size_t ld_out() const { return fused ? qd() + 8 : qd(); }
};

int parse_heads(const OpCase& c, const char* op, size_t* heads, size_t* kv_heads, size_t* head_dim, char* message,
                size_t size) {
  if (c.dims[0] < 1 || c.dims[1] < 1 || c.dims[0] > 256 || c.dims[0] % c.dims[1] != 0)
    return bad_case(message, size, op, "dims[0] (heads) and dims[1] (kv_heads) must be >= 1, heads <= 256, heads a multiple of kv_heads");
  if (c.dims[2] < 2 || c.dims[2] > 256 || c.dims[2] % 2 != 0)
    return bad_case(message, size, op, "dims[2] (head_dim) must be even, 2 .. 256");
  *heads = static_cast<size_t>(c.dims[0]);
  *kv_heads = static_cast<size_t>(c.dims[1]);
  *head_dim = static_cast<size_t>(c.dims[2]);
  return 0;
}

int parse_shape(const OpCase& c, const char* op, Shape* s, char* message, size_t size) {
  if (int rc = parse_heads(c, op, &s->heads, &s->kv_heads, &s->head_dim, message, size)) return rc;
  if (c.dims[3] < 0 || c.dims[3] > 2) return bad_case(message, size, op, "dims[3] (variant) must be 0 (auto), 1 (simt) or 2 (mma)");
  if (c.dims[4] < 0 || c.dims[4] > 1) return bad_case(message, size, op, "dims[4] (layout) must be 0 (separate) or 1 (fused qkv)");
  s->variant = static_cast<Kernel>(c.dims[3]);
  s->fused = c.dims[4] == 1;
  if (!c.lengths || c.n_lengths == 0) return bad_case(message, size, op, "lengths must list the sequence lengths");
  s->cu.assign(1, 0);
  for (size_t i = 0; i < c.n_lengths; ++i) {
    if (c.lengths[i] < 0 || static_cast<size_t>(c.lengths[i]) > kMaxRows - s->rows)
      return bad_case(message, size, op, "lengths must be >= 0 and sum to at most 262144 rows");
    s->rows += static_cast<size_t>(c.lengths[i]);
    s->max_seqlen = std::max(s->max_seqlen, static_cast<size_t>(c.lengths[i]));
    s->cu.push_back(static_cast<int32_t>(s->rows));
  }
  if (s->rows == 0) return bad_case(message, size, op, "lengths hold no rows");
  return 0;
}

// The CPU training forward of engine.cc: row i of sequence s sees keys cu[s] .. i.
void cpu_forward(const Shape& s, const float* q, const float* k, const float* v, float* out, float* lse) {
  std::vector<const float*> kb(s.rows), vb(s.rows);
  std::vector<uint32_t> count(s.rows);
  for (size_t seq = 0; seq + 1 < s.cu.size(); ++seq)
    for (int32_t i = s.cu[seq]; i < s.cu[seq + 1]; ++i) {
      kb[i] = k + static_cast<size_t>(s.cu[seq]) * s.kvd();
      vb[i] = v + static_cast<size_t>(s.cu[seq]) * s.kvd();
      count[i] = static_cast<uint32_t>(i - s.cu[seq] + 1);
    }
  AttentionRows a;
  a.rows = s.rows;
  a.heads = s.heads;
  a.kv_heads = s.kv_heads;
  a.head_dim = s.head_dim;
  a.q = q;
  a.k_base = kb.data();
  a.v_base = vb.data();
  a.count = count.data();
  a.kv_stride = s.kvd();
  a.out = out;
  a.lse = lse;
  attention_forward(a);
}

// q, k, v of one case on the device, in the case's layout (fused: one buffer), or zeros.
template <typename T>
struct Qkv {
  T* q = nullptr;
  T* k = nullptr;
  T* v = nullptr;
};
template <typename T>
cudaError_t qkv_on_device(Scratch& scratch, const Shape& s, const std::vector<float>* q, const std::vector<float>* k,
                          const std::vector<float>* v, Qkv<T>* d) {
  cudaError_t status;
  if (s.fused) {
    if ((status = zeros(scratch, s.rows * s.ld_q(), &d->q)) != cudaSuccess) return status;
    d->k = d->q + s.qd();
    d->v = d->k + s.kvd();
  } else if ((status = zeros(scratch, s.rows * s.qd(), &d->q)) != cudaSuccess ||
             (status = zeros(scratch, s.rows * s.kvd(), &d->k)) != cudaSuccess ||
             (status = zeros(scratch, s.rows * s.kvd(), &d->v)) != cudaSuccess) {
    return status;
  }
  if (q && (status = put(d->q, s.ld_q(), *q, s.rows, s.qd())) != cudaSuccess) return status;
  if (k && (status = put(d->k, s.ld_kv(), *k, s.rows, s.kvd())) != cudaSuccess) return status;
  if (v && (status = put(d->v, s.ld_kv(), *v, s.rows, s.kvd())) != cudaSuccess) return status;
  return cudaSuccess;
}

// A case's random q, k, v, and its batch on the device (the case's layout, cu_seqlens).
template <typename T>
struct Batch {
  std::vector<float> q, k, v;
  Qkv<T> d;
  int32_t* cu = nullptr;
};
template <typename T>
cudaError_t make_batch(Scratch& scratch, const Shape& s, CheckRng& rng, bool bf16_mode, Batch<T>* b) {
  b->q = random_values(rng, s.rows * s.qd(), bf16_mode);
  b->k = random_values(rng, s.rows * s.kvd(), bf16_mode);
  b->v = random_values(rng, s.rows * s.kvd(), bf16_mode);
  cudaError_t status = qkv_on_device(scratch, s, &b->q, &b->k, &b->v, &b->d);
  if (status == cudaSuccess) status = scratch.alloc_n(&b->cu, s.cu.size());
  if (status == cudaSuccess)
    status = cudaMemcpy(b->cu, s.cu.data(), s.cu.size() * sizeof(int32_t), cudaMemcpyHostToDevice);
  return status;
}

template <typename T>
AttentionArgs<T> device_args(const Shape& s, const Qkv<T>& d, const int32_t* cu, T* out, float* lse) {
  AttentionArgs<T> a;
  a.rows = s.rows;
  a.n_seqs = s.cu.size() - 1;
  a.heads = s.heads;
  a.kv_heads = s.kv_heads;
  a.head_dim = s.head_dim;
  a.cu_seqlens = cu;
  a.max_seqlen = s.max_seqlen;
  a.q = d.q;
  a.k = d.k;
  a.v = d.v;
  a.ld_q = s.ld_q();
  a.ld_kv = s.ld_kv();
  a.out = out;
  a.ld_out = s.ld_out();
  a.lse = lse;
  return a;
}

int mma_refused(const char* op, char* message, size_t size) {
  return bad_case(message, size, op,
                  "variant 2 (mma) needs bf16, head_dim 64 or 128, 16-byte aligned rows and an sm_80 or newer device");
}

// Runs `launch` between events on the default stream, then waits and reports its failure by name.
template <typename Launch>
int timed(const char* op, Launch&& launch, OpReport& report, char* message, size_t size) {
  EventTimer timer;
  DAPO_CUDA_TRY(timer.start(), message, size);
  const cudaError_t status = launch();
  if (status != cudaSuccess) return ::dapo::cuda::report(status, op, message, size);
  DAPO_CUDA_TRY(timer.stop(), message, size);
  DAPO_CUDA_TRY(cudaDeviceSynchronize(), message, size);
  report.cuda_ms = timer.elapsed();
  return 0;
}

// Runs the op again, untimed: its outputs must equal the first run's bit for bit ("rerun"), as
// the kernels sum in a fixed order (a race or an atomic would show here).
template <typename Launch>
int rerun(const char* op, Launch&& launch, char* message, size_t size) {
  const cudaError_t status = launch();
  if (status != cudaSuccess) return ::dapo::cuda::report(status, op, message, size);
  DAPO_CUDA_TRY(cudaDeviceSynchronize(), message, size);
  return 0;
}

std::vector<float> joined(std::vector<float> a, const std::vector<float>& b, const std::vector<float>& c = {}) {
  a.insert(a.end(), b.begin(), b.end());
  a.insert(a.end(), c.begin(), c.end());
  return a;
}

template <typename T>
int check_forward(const OpCase& c, OpReport& report, char* message, size_t size) {
  constexpr const char* op = "attention_forward";
  Shape s;
  if (int rc = parse_shape(c, op, &s, message, size)) return rc;
  CheckRng rng(c.seed);
  Scratch scratch;
  Batch<T> b;
  DAPO_CUDA_TRY(make_batch(scratch, s, rng, c.dtype == DAPO_CUDA_BF16, &b), message, size);
  std::vector<float> out_ref(s.rows * s.qd()), lse_ref(s.rows * s.heads);
  cpu_forward(s, b.q.data(), b.k.data(), b.v.data(), out_ref.data(), lse_ref.data());

  T* out = nullptr;
  float* lse = nullptr;
  DAPO_CUDA_TRY(zeros(scratch, s.rows * s.ld_out(), &out), message, size);
  DAPO_CUDA_TRY(zeros(scratch, s.rows * s.heads, &lse), message, size);
  const AttentionArgs<T> a = device_args(s, b.d, b.cu, out, lse);
  if (s.variant == Kernel::kMma && !attn::mma_applies(a)) return mma_refused(op, message, size);
  if (int rc = timed(op, [&] { return attn::forward_with(a, s.variant, 0); }, report, message, size)) return rc;

  auto results = [&](std::vector<float>* out_got, std::vector<float>* lse_got) {
    cudaError_t status = get(out_got, out, s.ld_out(), s.rows, s.qd());
    return status == cudaSuccess ? get(lse_got, lse, s.heads, s.rows, s.heads) : status;
  };
  std::vector<float> out_got, lse_got, out_again, lse_again;
  DAPO_CUDA_TRY(results(&out_got, &lse_got), message, size);
  if (int rc = rerun(op, [&] { return attn::forward_with(a, s.variant, 0); }, message, size)) return rc;
  DAPO_CUDA_TRY(results(&out_again, &lse_again), message, size);
  report.compare("out", out_got.data(), out_ref.data(), out_ref.size());
  report.compare("lse", lse_got.data(), lse_ref.data(), lse_ref.size());
  const std::vector<float> first = joined(out_got, lse_got), again = joined(out_again, lse_again);
  report.compare("rerun", again.data(), first.data(), first.size());
  return 0;
}

template <typename T>
int check_backward(const OpCase& c, OpReport& report, char* message, size_t size) {
  constexpr const char* op = "attention_backward";
  Shape s;
  if (int rc = parse_shape(c, op, &s, message, size)) return rc;
  CheckRng rng(c.seed);
  const bool bf = c.dtype == DAPO_CUDA_BF16;
  Scratch scratch;
  Batch<T> in;
  DAPO_CUDA_TRY(make_batch(scratch, s, rng, bf, &in), message, size);
  const std::vector<float>&q = in.q, &k = in.k, &v = in.v;
  const std::vector<float> dout = random_values(rng, s.rows * s.qd(), bf);
  std::vector<float> out(s.rows * s.qd()), lse(s.rows * s.heads);
  cpu_forward(s, q.data(), k.data(), v.data(), out.data(), lse.data());
  if (bf) round_to_bf16(out.data(), out.size());  // what the device forward would have stored
  std::vector<float> dq_ref(q.size()), dk_ref(k.size()), dv_ref(v.size());
  AttentionBackward b;
  b.n_seqs = s.cu.size() - 1;
  b.heads = s.heads;
  b.kv_heads = s.kv_heads;
  b.head_dim = s.head_dim;
  b.offsets = s.cu.data();
  b.q = q.data();
  b.k = k.data();
  b.v = v.data();
  b.out = out.data();
  b.dout = dout.data();
  b.lse = lse.data();
  b.dq = dq_ref.data();
  b.dk = dk_ref.data();
  b.dv = dv_ref.data();
  attention_backward(b);

  Qkv<T> grads;
  T *out_d = nullptr, *dout_d = nullptr;
  float* lse_d = nullptr;
  DAPO_CUDA_TRY(qkv_on_device<T>(scratch, s, nullptr, nullptr, nullptr, &grads), message, size);
  DAPO_CUDA_TRY(zeros(scratch, s.rows * s.ld_out(), &out_d), message, size);
  DAPO_CUDA_TRY(zeros(scratch, s.rows * s.ld_out(), &dout_d), message, size);
  DAPO_CUDA_TRY(put(out_d, s.ld_out(), out, s.rows, s.qd()), message, size);
  DAPO_CUDA_TRY(put(dout_d, s.ld_out(), dout, s.rows, s.qd()), message, size);
  DAPO_CUDA_TRY(scratch.alloc_n(&lse_d, lse.size()), message, size);
  DAPO_CUDA_TRY(cudaMemcpy(lse_d, lse.data(), lse.size() * sizeof(float), cudaMemcpyHostToDevice), message, size);
  AttentionBackwardArgs<T> a;
  a.fwd = device_args(s, in.d, in.cu, out_d, lse_d);
  a.dout = dout_d;
  a.dq = grads.q;
  a.dk = grads.k;
  a.dv = grads.v;
  void* work = nullptr;
  DAPO_CUDA_TRY(scratch.alloc(&work, attention_backward_scratch_bytes(a.fwd)), message, size);
  if (s.variant == Kernel::kMma && !attn::mma_applies(a.fwd)) return mma_refused(op, message, size);
  if (int rc = timed(op, [&] { return attn::backward_with(a, work, s.variant, 0); }, report, message, size)) return rc;

  auto results = [&](std::vector<float>* dq, std::vector<float>* dk, std::vector<float>* dv) {
    cudaError_t status = get(dq, grads.q, s.ld_q(), s.rows, s.qd());
    if (status == cudaSuccess) status = get(dk, grads.k, s.ld_kv(), s.rows, s.kvd());
    return status == cudaSuccess ? get(dv, grads.v, s.ld_kv(), s.rows, s.kvd()) : status;
  };
  std::vector<float> dq, dk, dv, dq_again, dk_again, dv_again;
  DAPO_CUDA_TRY(results(&dq, &dk, &dv), message, size);
  if (int rc = rerun(op, [&] { return attn::backward_with(a, work, s.variant, 0); }, message, size)) return rc;
  DAPO_CUDA_TRY(results(&dq_again, &dk_again, &dv_again), message, size);
  report.compare("dq", dq.data(), dq_ref.data(), dq_ref.size());
  report.compare("dk", dk.data(), dk_ref.data(), dk_ref.size());
  report.compare("dv", dv.data(), dv_ref.data(), dv_ref.size());
  const std::vector<float> first = joined(dq, dk, dv), again = joined(dq_again, dk_again, dv_again);
  report.compare("rerun", again.data(), first.data(), first.size());
  return 0;
}

// ---- Generation ----------------------------------------------------------------------------------------

// A random permutation of 0 .. n - 1.
std::vector<int32_t> permutation(CheckRng& rng, size_t n) {
  std::vector<int32_t> p(n);
  std::iota(p.begin(), p.end(), 0);
  for (size_t i = n; i > 1; --i) std::swap(p[i - 1], p[static_cast<size_t>(rng.below(static_cast<int32_t>(i)))]);
  return p;
}

int cache_dims(const OpCase& c, const char* op, int first, size_t* slots, size_t* capacity, size_t kvd, char* message,
               size_t size) {
  if (c.dims[first] < 1 || c.dims[first + 1] < 1 || c.dims[first] > 4096 || c.dims[first + 1] > (1 << 20))
    return bad_case(message, size, op, "slots and capacity must be >= 1 (slots <= 4096, capacity <= 2^20)");
  *slots = static_cast<size_t>(c.dims[first]);
  *capacity = static_cast<size_t>(c.dims[first + 1]);
  if (*slots * *capacity > kMaxCacheValues / kvd) return bad_case(message, size, op, "the cache would exceed 2^26 values");
  return 0;
}

template <typename T>
int check_decode(const OpCase& c, OpReport& report, char* message, size_t size) {
  constexpr const char* op = "attention_decode";
  size_t heads = 0, kv_heads = 0, hd = 0, slots = 0, capacity = 0;
  if (int rc = parse_heads(c, op, &heads, &kv_heads, &hd, message, size)) return rc;
  const size_t qd = heads * hd, kvd = kv_heads * hd, ld_q = qd + 2 * kvd;
  if (int rc = cache_dims(c, op, 3, &slots, &capacity, kvd, message, size)) return rc;
  if (c.dims[5] < 0 || static_cast<size_t>(c.dims[5]) > capacity)
    return bad_case(message, size, op, "dims[5] (max_length) must be 0 .. capacity");
  const size_t max_length = c.dims[5] == 0 ? capacity : static_cast<size_t>(c.dims[5]);
  if (!c.lengths || c.n_lengths == 0 || c.n_lengths > 4096)
    return bad_case(message, size, op, "lengths must give 1 .. 4096 decoded rows their lengths");
  const size_t rows = c.n_lengths;
  for (size_t r = 0; r < rows; ++r)
    if (c.lengths[r] < 0 || static_cast<size_t>(c.lengths[r]) > max_length)
      return bad_case(message, size, op, "every length must be 0 .. max_length");

  CheckRng rng(c.seed);
  const bool bf = c.dtype == DAPO_CUDA_BF16;
  const std::vector<float> kc = random_values(rng, slots * capacity * kvd, bf),
                           vc = random_values(rng, slots * capacity * kvd, bf), q = random_values(rng, rows * qd, bf);
  const std::vector<int32_t> perm = permutation(rng, slots);
  std::vector<int32_t> slot(rows), length(c.lengths, c.lengths + rows);
  for (size_t r = 0; r < rows; ++r) slot[r] = perm[r % slots];

  // The CPU decoder's call: row r sees positions [0, length) of its slot (length 0: zeros).
  std::vector<const float*> kb(rows), vb(rows);
  std::vector<uint32_t> count(rows);
  for (size_t r = 0; r < rows; ++r) {
    kb[r] = kc.data() + static_cast<size_t>(slot[r]) * capacity * kvd;
    vb[r] = vc.data() + static_cast<size_t>(slot[r]) * capacity * kvd;
    count[r] = static_cast<uint32_t>(std::max(length[r], 1));
  }
  std::vector<float> out_ref(rows * qd);
  AttentionRows ar;
  ar.rows = rows;
  ar.heads = heads;
  ar.kv_heads = kv_heads;
  ar.head_dim = hd;
  ar.q = q.data();
  ar.k_base = kb.data();
  ar.v_base = vb.data();
  ar.count = count.data();
  ar.kv_stride = kvd;
  ar.out = out_ref.data();
  attention_forward(ar);
  for (size_t r = 0; r < rows; ++r)
    if (length[r] == 0) std::fill(out_ref.begin() + r * qd, out_ref.begin() + (r + 1) * qd, 0.0f);

  Scratch scratch;
  KvCache<T> cache;
  cache.slots = slots;
  cache.capacity = capacity;
  cache.kv_heads = kv_heads;
  cache.head_dim = hd;
  T *q_d = nullptr, *out_d = nullptr;
  int32_t *slot_d = nullptr, *length_d = nullptr;
  DAPO_CUDA_TRY(scratch.alloc_n(&cache.k, kc.size()), message, size);
  DAPO_CUDA_TRY(scratch.alloc_n(&cache.v, vc.size()), message, size);
  DAPO_CUDA_TRY(put(cache.k, kvd, kc, slots * capacity, kvd), message, size);
  DAPO_CUDA_TRY(put(cache.v, kvd, vc, slots * capacity, kvd), message, size);
  DAPO_CUDA_TRY(zeros(scratch, rows * ld_q, &q_d), message, size);
  DAPO_CUDA_TRY(put(q_d, ld_q, q, rows, qd), message, size);
  DAPO_CUDA_TRY(zeros(scratch, rows * qd, &out_d), message, size);
  DAPO_CUDA_TRY(scratch.alloc_n(&slot_d, rows), message, size);
  DAPO_CUDA_TRY(scratch.alloc_n(&length_d, rows), message, size);
  DAPO_CUDA_TRY(cudaMemcpy(slot_d, slot.data(), rows * sizeof(int32_t), cudaMemcpyHostToDevice), message, size);
  DAPO_CUDA_TRY(cudaMemcpy(length_d, length.data(), rows * sizeof(int32_t), cudaMemcpyHostToDevice), message, size);
  DecodeAttentionArgs<T> a;
  a.rows = rows;
  a.heads = heads;
  a.cache = cache;
  a.q = q_d;
  a.ld_q = ld_q;
  a.slot = slot_d;
  a.length = length_d;
  a.max_length = max_length;
  a.out = out_d;
  a.ld_out = qd;
  void* work = nullptr;
  DAPO_CUDA_TRY(scratch.alloc(&work, attention_decode_scratch_bytes(a)), message, size);
  if (int rc = timed(op, [&] { return attention_decode(a, work, 0); }, report, message, size)) return rc;

  std::vector<float> out;
  DAPO_CUDA_TRY(get(&out, out_d, qd, rows, qd), message, size);
  report.compare("out", out.data(), out_ref.data(), out_ref.size());
  return 0;
}

template <typename T>
int check_kv_cache(const OpCase& c, OpReport& report, char* message, size_t size) {
  constexpr const char* op = "kv_cache";
  if (c.dims[0] < 1 || c.dims[0] > 256 || c.dims[1] < 2 || c.dims[1] > 256 || c.dims[1] % 2 != 0)
    return bad_case(message, size, op, "dims[0] (kv_heads) must be 1 .. 256 and dims[1] (head_dim) even, 2 .. 256");
  const size_t kvd = static_cast<size_t>(c.dims[0] * c.dims[1]);
  size_t slots = 0, capacity = 0;
  if (int rc = cache_dims(c, op, 2, &slots, &capacity, kvd, message, size)) return rc;
  if (c.dims[4] < 0 || static_cast<size_t>(c.dims[4]) > slots * capacity || c.dims[4] > (1 << 20))
    return bad_case(message, size, op, "dims[4] (rows) must be 0 .. slots * capacity");
  if (c.dims[5] < 0 || static_cast<size_t>(c.dims[5]) > capacity)
    return bad_case(message, size, op, "dims[5] (copy_length) must be 0 .. capacity");
  const size_t rows = static_cast<size_t>(c.dims[4]), copy_length = static_cast<size_t>(c.dims[5]);

  CheckRng rng(c.seed);
  const bool bf = c.dtype == DAPO_CUDA_BF16;
  std::vector<float> kc = random_values(rng, slots * capacity * kvd, bf), vc = random_values(rng, slots * capacity * kvd, bf);
  const std::vector<float> k = random_values(rng, rows * kvd, bf), v = random_values(rng, rows * kvd, bf);
  // Distinct (slot, position) pairs, drawn as a permutation of all places.
  const std::vector<int32_t> places = permutation(rng, slots * capacity);
  std::vector<int32_t> slot(rows), pos(rows);
  for (size_t r = 0; r < rows; ++r) {
    slot[r] = places[r] / static_cast<int32_t>(capacity);
    pos[r] = places[r] % static_cast<int32_t>(capacity);
  }
  std::vector<int32_t> to(slots - 1);
  std::iota(to.begin(), to.end(), 1);

  Scratch scratch;
  KvCache<T> cache;
  cache.slots = slots;
  cache.capacity = capacity;
  cache.kv_heads = static_cast<size_t>(c.dims[0]);
  cache.head_dim = static_cast<size_t>(c.dims[1]);
  T* kv_d = nullptr;  // k and v side by side in rows of 2 kvd, as halves of one projection
  int32_t *slot_d = nullptr, *pos_d = nullptr;
  DAPO_CUDA_TRY(scratch.alloc_n(&cache.k, kc.size()), message, size);
  DAPO_CUDA_TRY(scratch.alloc_n(&cache.v, vc.size()), message, size);
  DAPO_CUDA_TRY(put(cache.k, kvd, kc, slots * capacity, kvd), message, size);
  DAPO_CUDA_TRY(put(cache.v, kvd, vc, slots * capacity, kvd), message, size);
  DAPO_CUDA_TRY(zeros(scratch, std::max<size_t>(rows, 1) * 2 * kvd, &kv_d), message, size);
  if (rows > 0) {
    DAPO_CUDA_TRY(put(kv_d, 2 * kvd, k, rows, kvd), message, size);
    DAPO_CUDA_TRY(put(kv_d + kvd, 2 * kvd, v, rows, kvd), message, size);
  }
  DAPO_CUDA_TRY(scratch.alloc_n(&slot_d, std::max<size_t>(rows, 1)), message, size);
  DAPO_CUDA_TRY(scratch.alloc_n(&pos_d, std::max<size_t>(rows, 1)), message, size);
  DAPO_CUDA_TRY(cudaMemcpy(slot_d, slot.data(), rows * sizeof(int32_t), cudaMemcpyHostToDevice), message, size);
  DAPO_CUDA_TRY(cudaMemcpy(pos_d, pos.data(), rows * sizeof(int32_t), cudaMemcpyHostToDevice), message, size);
  auto launch = [&] {
    cudaError_t status = kv_cache_write(cache, kv_d, kv_d + kvd, 2 * kvd, rows, slot_d, pos_d, 0);
    if (status == cudaSuccess) status = kv_cache_copy(cache, 0, to.data(), to.size(), copy_length, 0);
    return status;
  };
  if (int rc = timed(op, launch, report, message, size)) return rc;

  for (size_t r = 0; r < rows; ++r) {
    const size_t at = (static_cast<size_t>(slot[r]) * capacity + static_cast<size_t>(pos[r])) * kvd;
    std::copy(k.begin() + r * kvd, k.begin() + (r + 1) * kvd, kc.begin() + at);
    std::copy(v.begin() + r * kvd, v.begin() + (r + 1) * kvd, vc.begin() + at);
  }
  for (int32_t s : to) {
    std::copy(kc.begin(), kc.begin() + copy_length * kvd, kc.begin() + s * capacity * kvd);
    std::copy(vc.begin(), vc.begin() + copy_length * kvd, vc.begin() + s * capacity * kvd);
  }
  std::vector<float> k_got, v_got;
  DAPO_CUDA_TRY(get(&k_got, cache.k, kvd, slots * capacity, kvd), message, size);
  DAPO_CUDA_TRY(get(&v_got, cache.v, kvd, slots * capacity, kvd), message, size);
  report.compare("k_cache", k_got.data(), kc.data(), kc.size());
  report.compare("v_cache", v_got.data(), vc.data(), vc.size());
  return 0;
}

template <template <typename> class Check>
int by_dtype(const OpCase& c, OpReport& report, char* message, size_t size) {
  return c.dtype == DAPO_CUDA_BF16 ? Check<bf16>::run(c, report, message, size)
                                   : Check<float>::run(c, report, message, size);
}
template <typename T>
struct Forward {
  static int run(const OpCase& c, OpReport& r, char* m, size_t n) { return check_forward<T>(c, r, m, n); }
};
template <typename T>
struct Backward {
  static int run(const OpCase& c, OpReport& r, char* m, size_t n) { return check_backward<T>(c, r, m, n); }
};
template <typename T>
struct Decode {
  static int run(const OpCase& c, OpReport& r, char* m, size_t n) { return check_decode<T>(c, r, m, n); }
};
template <typename T>
struct Cache {
  static int run(const OpCase& c, OpReport& r, char* m, size_t n) { return check_kv_cache<T>(c, r, m, n); }
};

const OpCheckRegistration forward_reg("attention_forward", by_dtype<Forward>);
const OpCheckRegistration backward_reg("attention_backward", by_dtype<Backward>);
const OpCheckRegistration decode_reg("attention_decode", by_dtype<Decode>);
const OpCheckRegistration kv_cache_reg("kv_cache", by_dtype<Cache>);

}  // namespace
}  // namespace dapo::cuda::model
