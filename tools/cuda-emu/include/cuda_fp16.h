// __half on the emulator: IEEE binary16 storage, converted exactly to float.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

#include "cuda_runtime.h"

struct __half_raw {
  unsigned short x;
};

struct __half {
  unsigned short x;
  __half() = default;
  __half(const __half_raw& r) : x(r.x) {}
  operator __half_raw() const { return __half_raw{x}; }
};

inline float __half2float(__half h) {
  const unsigned sign = (h.x >> 15) & 1u, exponent = (h.x >> 10) & 0x1fu, mantissa = h.x & 0x3ffu;
  float v;
  if (exponent == 0) v = std::ldexp(static_cast<float>(mantissa), -24);
  else if (exponent == 31) v = mantissa ? NAN : INFINITY;
  else v = std::ldexp(static_cast<float>(mantissa | 0x400u), static_cast<int>(exponent) - 25);
  return sign ? -v : v;
}

inline __half __float2half_rn(float f) {
  // Round to nearest even through double arithmetic on the exact value.
  __half_raw r{0};
  const unsigned sign = std::signbit(f) ? 0x8000u : 0u;
  float a = std::fabs(f);
  if (std::isnan(f)) r.x = static_cast<unsigned short>(sign | 0x7e00u);
  else if (a >= 65520.0f) r.x = static_cast<unsigned short>(sign | 0x7c00u);
  else if (a < std::ldexp(1.0f, -14)) r.x = static_cast<unsigned short>(sign | static_cast<unsigned>(std::nearbyint(std::ldexp(a, 24))));
  else {
    int e;
    std::frexp(a, &e);  // a = m 2^e, m in [0.5, 1)
    const double q = std::nearbyint(std::ldexp(static_cast<double>(a), 11 - e));  // 11 significant bits
    unsigned bits = static_cast<unsigned>(q);
    int exponent = e - 1 + 15;
    if (bits == 2048u) bits = 1024u, ++exponent;
    r.x = static_cast<unsigned short>(sign | (static_cast<unsigned>(exponent) << 10) | (bits & 0x3ffu));
  }
  return __half(r);
}
inline __half __float2half(float f) { return __float2half_rn(f); }
