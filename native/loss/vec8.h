// Eight-lane float vectors with GCC/Clang vector extensions: one source that compiles to
// AVX2 in *_avx2.cc files and to pairs of SSE2 operations elsewhere.
#pragma once
#include <cstdint>
#include <cstring>
#if defined(__AVX__)
#include <immintrin.h>
#endif

namespace dapo {
namespace vec {
// Internal linkage on purpose: each instruction-set build gets its own copies, so the linker
// can never hand AVX2 code to the generic path.
namespace {

typedef float f8 __attribute__((vector_size(32)));
typedef int32_t i8 __attribute__((vector_size(32)));
typedef uint32_t u8 __attribute__((vector_size(32)));
typedef uint16_t h8 __attribute__((vector_size(16)));
constexpr int kLanes = 8;

inline f8 splat(float x) { return f8{x, x, x, x, x, x, x, x}; }

inline f8 load(const float* p) {
  f8 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline f8 load(const uint16_t* p) {  // bf16 bits -> float
#if defined(__AVX2__)
  // One widening move (GCC splits the generic conversion into two halves and an insert).
  __m256i wide = _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))), 16);
  f8 v;
  std::memcpy(&v, &wide, sizeof v);
  return v;
#else
  h8 h;
  std::memcpy(&h, p, sizeof h);
  u8 wide = __builtin_convertvector(h, u8) << 16;
  f8 v;
  std::memcpy(&v, &wide, sizeof v);
  return v;
#endif
}
inline void store(float* p, f8 v) { std::memcpy(p, &v, sizeof v); }

// A store that bypasses the cache (p 32-byte aligned), for outputs too large to be read back
// soon: it saves the read-for-ownership of every written line.
inline void store_stream(float* p, f8 v) {
#if defined(__AVX__)
  _mm256_stream_ps(p, reinterpret_cast<__m256&>(v));
#else
  store(p, v);
#endif
}
inline void stream_fence() {
#if defined(__AVX__)
  _mm_sfence();
#endif
}

inline f8 vmax(f8 a, f8 b) { return a > b ? a : b; }

inline float hmax(f8 v) {
  float m = v[0];
  for (int i = 1; i < kLanes; ++i) m = v[i] > m ? v[i] : m;
  return m;
}
inline double hsum(f8 v) {
  double s = 0;
  for (int i = 0; i < kLanes; ++i) s += v[i];
  return s;
}

// exp(x) for x <= 88, within about 2 ulp; values below -86 flush to 0 (they are < 1e-37 and
// only ever summed against terms near 1). Range reduction by ln 2 and a degree-5 polynomial
// (the classic Cephes expf coefficients).
inline f8 exp(f8 x) {
  const f8 magic = splat(12582912.0f);  // 1.5 * 2^23: adding it rounds to an integer
  x = x < splat(88.0f) ? x : splat(88.0f);
  const i8 underflow = x < splat(-86.0f);
  x = underflow ? splat(-86.0f) : x;
  f8 t = x * splat(1.44269504088896341f) + magic;
  f8 n = t - magic;
  i8 n_int;
  {
    i8 t_bits, magic_bits;
    std::memcpy(&t_bits, &t, sizeof t);
    std::memcpy(&magic_bits, &magic, sizeof magic);
    n_int = t_bits - magic_bits;
  }
  f8 r = x - n * splat(0.693359375f);
  r = r - n * splat(-2.12194440e-4f);
  f8 p = splat(1.9875691500e-4f);
  p = p * r + splat(1.3981999507e-3f);
  p = p * r + splat(8.3334519073e-3f);
  p = p * r + splat(4.1665795894e-2f);
  p = p * r + splat(1.6666665459e-1f);
  p = p * r + splat(5.0000001201e-1f);
  f8 e = p * (r * r) + r + splat(1.0f);
  i8 bits;
  std::memcpy(&bits, &e, sizeof e);
  bits += n_int << 23;
  bits = underflow ? i8{} : bits;
  f8 out;
  std::memcpy(&out, &bits, sizeof out);
  return out;
}

}  // namespace
}  // namespace vec
}  // namespace dapo
