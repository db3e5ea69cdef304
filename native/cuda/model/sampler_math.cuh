// The exact arithmetic of the CUDA sampler (sampler.cu), kept apart so its check
// (checks/sampler_check.cu) can use the same definitions on the host.
//
// Probabilities are handled as fixed-point weights: W(z) = round(exp((z - max) / T) * 2^s), a
// uint64 with s = weight_bits(vocab), so that the vocabulary's weights (each at most 2^s) sum
// below 2^63. Integer sums are exact, so every cumulative mass the sampler compares is a
// function of the logits alone, not of the order or the grouping of the additions.
//
// Precision, against the CPU twin (sample_token sums exp((z - max) / T) in double), in units of
// the largest weight (1 on both sides, exp(0)):
//  - one weight: the GPU's exp is within 3 ulp of the true value (fixed_weight: a table and a
//    degree-5 polynomial; below e^-24 a float exp2 whose error is under 2^-54 of the largest
//    weight), and its argument (z - max) * (1/T) within 1 ulp of the CPU's (z - max) / T;
//    rounding to the grid of 2^-s adds at most 2^-(s+1). Per weight:
//    |W / 2^s - w_cpu| <= 2^-(s+1) + 2^-50.
//  - a cumulative mass over n weights: GPU exact, CPU's running double sum within n 2^-53 of its
//    total; so a boundary differs by at most n (2^-(s+1) + 2^-50 + 2^-53 S) in absolute terms.
//  - so the two sides pick different tokens only when u S falls within that distance of a
//    boundary, u within it / S (S >= 1: the kept mass). Worst case (every rounding the same
//    way, S = 1): V 2^-(s+1) = 2.2e-9 at V = 151936 (s = 45), 3.7e-9 at 262144 (s = 45); the
//    CPU's own sums are only good to V 2^-53 = 1.7e-11 relative. Typically the roundings cancel
//    as a random walk, sqrt(V / 3) 2^-(s+1) / S: 3e-12 at V = 151936 and S = 1, less when the
//    distribution is flat (S large). The top-p cut (cum >= p S, p S exact here) is decided on
//    the same sums, so it too can differ only that close to its boundary.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <cmath>
#include <cstring>

#define DAPO_SAMPLER_FN __host__ __device__ inline

namespace dapo::cuda::model::sampler_math {

// The bits of a value as another type of the same size (memcpy: defined on host and device).
template <typename To, typename From>
DAPO_SAMPLER_FN To bit_cast(From from) {
  static_assert(sizeof(To) == sizeof(From), "bit_cast between types of different sizes");
  To to;
  std::memcpy(&to, &from, sizeof to);
  return to;
}
DAPO_SAMPLER_FN uint32_t float_bits(float f) { return bit_cast<uint32_t>(f); }
DAPO_SAMPLER_FN float bits_float(uint32_t b) { return bit_cast<float>(b); }

// The order-preserving integer image of a non-NaN float: a > b exactly when key(a) > key(b), and
// -0 maps to +0's key (they compare equal as floats, so ties between them go by id, as on the
// CPU). key(-inf) = 0x007fffff is the smallest key; 0 is below every key.
DAPO_SAMPLER_FN uint32_t float_key(float f) {
  uint32_t b = float_bits(f);
  if ((b << 1) == 0) b = 0;
  return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}

DAPO_SAMPLER_FN float key_float(uint32_t k) { return bits_float((k & 0x80000000u) ? (k & 0x7fffffffu) : ~k); }

// s of the fixed-point weights for a vocabulary of v: v weights of at most 2^s sum to <= 2^63.
DAPO_SAMPLER_FN int weight_bits(size_t v) {
  int log2v = 0;
  while (log2v < 63 && (static_cast<size_t>(1) << log2v) < v) ++log2v;
  const int s = 63 - log2v;
  return s > 62 ? 62 : s;
}

// Below this (z - max) / T the weight rounds to 0 for every s <= 62: exp(x) 2^s < 2^-1.
DAPO_SAMPLER_FN double weight_cutoff(int s) { return -(s + 2) * 0.6931471805599453; }

// floor(u * total) for u = k / 2^53 (a philox_uniform draw), exactly.
DAPO_SAMPLER_FN uint64_t scale_floor(double u, uint64_t total) {
  const uint64_t k = static_cast<uint64_t>(u * 9007199254740992.0);  // exact: u has 53 bits
  const unsigned __int128 product = static_cast<unsigned __int128>(k) * total;
  return static_cast<uint64_t>(product >> 53);
}

// ceil(p * total) for p in (0, 1), exactly (0 for p <= 0).
DAPO_SAMPLER_FN uint64_t scale_ceil(double p, uint64_t total) {
  if (!(p > 0)) return 0;
  // p = mantissa * 2^-shift with a 53-bit integer mantissa; shift >= 53 because p < 1.
  int exponent = 0;
  const double fraction = frexp(p, &exponent);  // p = fraction * 2^exponent, fraction in [0.5, 1)
  const uint64_t mantissa = static_cast<uint64_t>(ldexp(fraction, 53));
  const int shift = 53 - exponent;
  const unsigned __int128 product = static_cast<unsigned __int128>(mantissa) * total;  // < 2^117
  if (shift >= 120) return product != 0 ? 1 : 0;
  unsigned __int128 q = product >> shift;
  if ((q << shift) != product) ++q;
  return static_cast<uint64_t>(q);
}

#if defined(__CUDACC__)
// 2^(j / 64), j = 0..63, correctly rounded (computed with 60-digit decimal arithmetic). Kernels
// copy it to shared memory, where fixed_weight's gathers are cheap. One copy per translation unit.
constexpr int kExp2TableSize = 64;
namespace {
__device__ const double kExp2Table[kExp2TableSize] = {
    0x1.0000000000000p+0, 0x1.02c9a3e778061p+0, 0x1.059b0d3158574p+0, 0x1.0874518759bc8p+0,
    0x1.0b5586cf9890fp+0, 0x1.0e3ec32d3d1a2p+0, 0x1.11301d0125b51p+0, 0x1.1429aaea92de0p+0,
    0x1.172b83c7d517bp+0, 0x1.1a35beb6fcb75p+0, 0x1.1d4873168b9aap+0, 0x1.2063b88628cd6p+0,
    0x1.2387a6e756238p+0, 0x1.26b4565e27cddp+0, 0x1.29e9df51fdee1p+0, 0x1.2d285a6e4030bp+0,
    0x1.306fe0a31b715p+0, 0x1.33c08b26416ffp+0, 0x1.371a7373aa9cbp+0, 0x1.3a7db34e59ff7p+0,
    0x1.3dea64c123422p+0, 0x1.4160a21f72e2ap+0, 0x1.44e086061892dp+0, 0x1.486a2b5c13cd0p+0,
    0x1.4bfdad5362a27p+0, 0x1.4f9b2769d2ca7p+0, 0x1.5342b569d4f82p+0, 0x1.56f4736b527dap+0,
    0x1.5ab07dd485429p+0, 0x1.5e76f15ad2148p+0, 0x1.6247eb03a5585p+0, 0x1.6623882552225p+0,
    0x1.6a09e667f3bcdp+0, 0x1.6dfb23c651a2fp+0, 0x1.71f75e8ec5f74p+0, 0x1.75feb564267c9p+0,
    0x1.7a11473eb0187p+0, 0x1.7e2f336cf4e62p+0, 0x1.82589994cce13p+0, 0x1.868d99b4492edp+0,
    0x1.8ace5422aa0dbp+0, 0x1.8f1ae99157736p+0, 0x1.93737b0cdc5e5p+0, 0x1.97d829fde4e50p+0,
    0x1.9c49182a3f090p+0, 0x1.a0c667b5de565p+0, 0x1.a5503b23e255dp+0, 0x1.a9e6b5579fdbfp+0,
    0x1.ae89f995ad3adp+0, 0x1.b33a2b84f15fbp+0, 0x1.b7f76f2fb5e47p+0, 0x1.bcc1e904bc1d2p+0,
    0x1.c199bdd85529cp+0, 0x1.c67f12e57d14bp+0, 0x1.cb720dcef9069p+0, 0x1.d072d4a07897cp+0,
    0x1.d5818dcfba487p+0, 0x1.da9e603db3285p+0, 0x1.dfc97337b9b5fp+0, 0x1.e502ee78b3ff6p+0,
    0x1.ea4afa2a490dap+0, 0x1.efa1bee615a27p+0, 0x1.f50765b6e4540p+0, 0x1.fa7c1819e90d8p+0};
}  // namespace

// Below this x a weight is computed in float (see fixed_weight).
constexpr double kFloatWeightBelow = -24.0;

// W = round(exp(x) 2^s) for x = (z - max) / T <= 0 (0 below weight_cutoff(s), and for -inf).
// exp(x) = 2^q 2^(j/64) e^r with n = rint(64 x / ln2) = 64 q + j and |r| <= ln2 / 128: r from a
// two-constant reduction (C1 has 40 significant bits, so n C1 is exact for |n| < 2^13, here
// |n| <= 64 * 65), e^r from its degree-5 Taylor polynomial (remainder r^6 / 720 < 2^-54), the
// table entry from shared memory. About ten double operations, against some twenty for exp().
// Weights below e^-24 (most of a language model's vocabulary) take 2^(s + x log2 e) in float
// instead: relative error under 1.5e-6 (the exponent rounded to float, |.| <= s + 2, plus the
// hardware exp2), so under 1.5e-6 e^-24 = 2^-54 of the largest weight, inside the precision
// argument's 2^-50. Every pass computes a weight with this one function, so sums and searches
// agree exactly.
__device__ __forceinline__ uint64_t fixed_weight(double x, int s, double cutoff, const double* table) {
  if (!(x >= cutoff)) return 0;
  if (x < kFloatWeightBelow) {
    constexpr double kLog2e = 1.4426950408889634;
    return __float2ull_rn(exp2f(__double2float_rn(fma(x, kLog2e, static_cast<double>(s)))));
  }
  constexpr double k64OverLn2 = 92.33248261689366;
  constexpr double kC1 = 0x1.62e42fefa2000p-7;   // ln2 / 64, high 40 bits
  constexpr double kC2 = 0x1.9ef35793c7673p-47;  // ln2 / 64 - kC1
  const double nd = rint(x * k64OverLn2);
  const int n = static_cast<int>(nd);
  double r = fma(-nd, kC1, x);
  r = fma(-nd, kC2, r);
  double p = fma(r, 1.0 / 120, 1.0 / 24);
  p = fma(r, p, 1.0 / 6);
  p = fma(r, p, 0.5);
  p = fma(r, p, 1.0);
  p = fma(r, p, 1.0);
  const int q = n >> 6;  // floor(n / 64): arithmetic shift
  const double scale = __hiloint2double((q + s + 1023) << 20, 0);  // 2^(q + s), q + s >= -3
  return __double2ull_rn(p * table[n & 63] * scale);
}
#endif

}  // namespace dapo::cuda::model::sampler_math
