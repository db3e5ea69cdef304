// CUDA's built-in variables and device functions on the emulator. Arithmetic intrinsics are
// IEEE operations (the _rn ones exactly; __expf, __logf and the division --use_fast_math makes
// approximate are computed accurately here: see tools/cuda-emu/README.md).
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "emu/device.h"
#include "emu/types.h"

#define __global__
#define __device__
#define __host__
#define __constant__
#define __forceinline__ inline __attribute__((always_inline))
#define __restrict__ __restrict
#define __align__(n) alignas(n)
#define __launch_bounds__(...)
#define __grid_constant__

constexpr int warpSize = 32;

// ---- min / max over mixed arithmetic types, as CUDA's overloads ----
template <typename A, typename B,
          typename = std::enable_if_t<std::is_arithmetic<A>::value && std::is_arithmetic<B>::value>>
inline std::common_type_t<A, B> min(A a, B b) {
  using C = std::common_type_t<A, B>;
  return static_cast<C>(b) < static_cast<C>(a) ? static_cast<C>(b) : static_cast<C>(a);
}
template <typename A, typename B,
          typename = std::enable_if_t<std::is_arithmetic<A>::value && std::is_arithmetic<B>::value>>
inline std::common_type_t<A, B> max(A a, B b) {
  using C = std::common_type_t<A, B>;
  return static_cast<C>(a) < static_cast<C>(b) ? static_cast<C>(b) : static_cast<C>(a);
}

// ---- synchronisation ----
inline void __syncthreads() { ::emu::syncthreads(); }
inline int __syncthreads_count(int p) { return ::emu::syncthreads_count(p); }
inline int __syncthreads_and(int p) { return ::emu::syncthreads_and(p); }
inline int __syncthreads_or(int p) { return ::emu::syncthreads_or(p); }
inline void __syncwarp(unsigned mask = 0xffffffffu) { ::emu::syncwarp(mask); }
inline void __threadfence() {}
inline void __threadfence_block() {}
inline void __threadfence_system() {}
[[noreturn]] inline void __trap() { ::emu::fault(719, "__trap() called"); }
inline void __nanosleep(unsigned) { ::emu::spin_yield(); }

// ---- warp collectives ----
template <typename T>
inline T __shfl_sync(unsigned mask, T v, int src, int width = 32) {
  return ::emu::shfl(::emu::ShflKind::Idx, mask, v, src, width);
}
template <typename T>
inline T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  return ::emu::shfl(::emu::ShflKind::Up, mask, v, static_cast<int>(delta), width);
}
template <typename T>
inline T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  return ::emu::shfl(::emu::ShflKind::Down, mask, v, static_cast<int>(delta), width);
}
template <typename T>
inline T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32) {
  return ::emu::shfl(::emu::ShflKind::Xor, mask, v, lane_mask, width);
}
inline unsigned __ballot_sync(unsigned mask, int p) { return ::emu::ballot(mask, p); }
inline int __all_sync(unsigned mask, int p) { return ::emu::vote_all(mask, p); }
inline int __any_sync(unsigned mask, int p) { return ::emu::vote_any(mask, p); }
inline unsigned __activemask() { return ::emu::ballot(0xffffffffu, 1); }

// ---- bits ----
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline int __ffsll(long long x) { return __builtin_ffsll(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz(static_cast<unsigned>(x)); }
inline int __clzll(long long x) { return x == 0 ? 64 : __builtin_clzll(static_cast<unsigned long long>(x)); }
inline unsigned __brev(unsigned x) {
  unsigned r = 0;
  for (int i = 0; i < 32; ++i) r |= ((x >> i) & 1u) << (31 - i);
  return r;
}
inline unsigned __umulhi(unsigned a, unsigned b) { return static_cast<unsigned>((static_cast<uint64_t>(a) * b) >> 32); }
inline unsigned long long __umul64hi(unsigned long long a, unsigned long long b) {
  return static_cast<unsigned long long>((static_cast<unsigned __int128>(a) * b) >> 64);
}

// ---- reinterpretation and conversion ----
inline float __uint_as_float(unsigned u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline unsigned __float_as_uint(float f) {
  unsigned u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float __int_as_float(int i) {
  float f;
  std::memcpy(&f, &i, 4);
  return f;
}
inline int __float_as_int(float f) {
  int i;
  std::memcpy(&i, &f, 4);
  return i;
}
inline double __longlong_as_double(long long v) {
  double d;
  std::memcpy(&d, &v, 8);
  return d;
}
inline long long __double_as_longlong(double d) {
  long long v;
  std::memcpy(&v, &d, 8);
  return v;
}
inline double __hiloint2double(int hi, int lo) {
  const uint64_t bits = (static_cast<uint64_t>(static_cast<uint32_t>(hi)) << 32) | static_cast<uint32_t>(lo);
  double d;
  std::memcpy(&d, &bits, 8);
  return d;
}
inline int __double2hiint(double d) { return static_cast<int>(static_cast<uint64_t>(__double_as_longlong(d)) >> 32); }
inline int __double2loint(double d) { return static_cast<int>(static_cast<uint64_t>(__double_as_longlong(d))); }
// Round-to-nearest conversions (the host's default rounding mode is round to nearest even).
inline unsigned long long __double2ull_rn(double d) {
  if (!(d > 0)) return 0;
  if (d >= 18446744073709551616.0) return ~0ull;
  return static_cast<unsigned long long>(std::nearbyint(d));
}
inline unsigned long long __float2ull_rn(float f) { return __double2ull_rn(static_cast<double>(f)); }
inline long long __double2ll_rn(double d) { return static_cast<long long>(std::nearbyint(d)); }
inline int __float2int_rn(float f) { return static_cast<int>(std::nearbyintf(f)); }
inline int __float2int_rz(float f) { return static_cast<int>(f); }
inline int __float2int_rd(float f) { return static_cast<int>(std::floor(f)); }
inline int __float2int_ru(float f) { return static_cast<int>(std::ceil(f)); }
inline unsigned __float2uint_rn(float f) { return static_cast<unsigned>(std::nearbyintf(f)); }
inline float __double2float_rn(double d) { return static_cast<float>(d); }
inline float __int2float_rn(int i) { return static_cast<float>(i); }
inline float __uint2float_rn(unsigned i) { return static_cast<float>(i); }
inline double __ull2double_rn(unsigned long long v) { return static_cast<double>(v); }
inline float __ull2float_rn(unsigned long long v) { return static_cast<float>(v); }

// ---- fp32 arithmetic: the _rn intrinsics are IEEE operations, never contracted ----
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __frcp_rn(float a) { return 1.0f / a; }
inline float __fsqrt_rn(float a) { return std::sqrt(a); }
inline float __fmaf_rn(float a, float b, float c) { return std::fma(a, b, c); }
inline double __dadd_rn(double a, double b) { return a + b; }
inline double __dmul_rn(double a, double b) { return a * b; }
inline double __ddiv_rn(double a, double b) { return a / b; }
inline double __fma_rn(double a, double b, double c) { return std::fma(a, b, c); }
// The fast-math intrinsics, computed accurately: hardware results differ in the last bits.
inline float __expf(float x) { return std::exp(x); }
inline float __exp10f(float x) { return std::pow(10.0f, x); }
inline float __logf(float x) { return std::log(x); }
inline float __log2f(float x) { return std::log2(x); }
inline float __log10f(float x) { return std::log10(x); }
inline float __powf(float a, float b) { return std::pow(a, b); }
inline float __sinf(float x) { return std::sin(x); }
inline float __cosf(float x) { return std::cos(x); }
inline float __tanf(float x) { return std::tan(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __saturatef(float x) { return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : (x == x ? x : 0.0f)); }
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline double rsqrt(double x) { return 1.0 / std::sqrt(x); }
inline float exp10f(float x) { return std::pow(10.0f, x); }
using std::isfinite;
using std::isinf;
using std::isnan;
using std::signbit;

// ---- cache-hinted loads and stores: plain accesses ----
template <typename T>
inline T __ldg(const T* p) {
  return *p;
}
template <typename T>
inline T __ldcs(const T* p) {
  return *p;
}
template <typename T>
inline T __ldcg(const T* p) {
  return *p;
}
template <typename T>
inline T __ldca(const T* p) {
  return *p;
}
template <typename T>
inline T __ldlu(const T* p) {
  return *p;
}
template <typename T>
inline void __stcs(T* p, const T& v) {
  *p = v;
}
template <typename T>
inline void __stcg(T* p, const T& v) {
  *p = v;
}
template <typename T>
inline void __stwt(T* p, const T& v) {
  *p = v;
}

// ---- atomics: one fiber runs at a time and never in the middle of one, so plain RMW is atomic ----
namespace emu {
template <typename T>
struct same {
  using type = T;
};
}  // namespace emu
template <typename T>
inline T atomicAdd(T* p, typename ::emu::same<T>::type v) {
  const T old = *p;
  *p = old + v;
  return old;
}
template <typename T>
inline T atomicSub(T* p, typename ::emu::same<T>::type v) {
  const T old = *p;
  *p = old - v;
  return old;
}
template <typename T>
inline T atomicMin(T* p, typename ::emu::same<T>::type v) {
  const T old = *p;
  if (v < old) *p = v;
  return old;
}
template <typename T>
inline T atomicMax(T* p, typename ::emu::same<T>::type v) {
  const T old = *p;
  if (old < v) *p = v;
  return old;
}
template <typename T>
inline T atomicExch(T* p, typename ::emu::same<T>::type v) {
  const T old = *p;
  *p = v;
  return old;
}
template <typename T>
inline T atomicCAS(T* p, typename ::emu::same<T>::type compare, typename ::emu::same<T>::type v) {
  const T old = *p;
  if (old == compare) *p = v;
  return old;
}
template <typename T>
inline T atomicOr(T* p, typename ::emu::same<T>::type v) {
  const T old = *p;
  *p = old | v;
  return old;
}
template <typename T>
inline T atomicAnd(T* p, typename ::emu::same<T>::type v) {
  const T old = *p;
  *p = old & v;
  return old;
}
template <typename T>
inline T atomicXor(T* p, typename ::emu::same<T>::type v) {
  const T old = *p;
  *p = old ^ v;
  return old;
}
inline unsigned atomicInc(unsigned* p, unsigned limit) {
  const unsigned old = *p;
  *p = old >= limit ? 0 : old + 1;
  return old;
}

// ---- shared memory addresses (32-bit, as cvta.to.shared gives them) ----
inline size_t __cvta_generic_to_shared(const void* p) { return ::emu::shared_address(p); }
inline void* __cvta_shared_to_generic(size_t a) { return ::emu::shared_pointer(static_cast<unsigned>(a)); }
inline unsigned __isShared(const void* p) { return ::emu::shared_rank_of(p) != ~0u ? 1u : 0u; }
