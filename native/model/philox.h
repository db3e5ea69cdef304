// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11), the
// counter-based generator of cuRAND and PyTorch. A draw is a pure function of (key, counter),
// so the sampler keys it by (seed, prompt id, sample index, position) and gets the same
// numbers whatever the batch composition, the thread count or the device.
#pragma once
#include <cstdint>

#if defined(__CUDACC__)
#define DAPO_PHILOX_FN __host__ __device__ inline
#else
#define DAPO_PHILOX_FN inline
#endif

namespace dapo {

struct Philox4 {
  uint32_t v[4];
};

DAPO_PHILOX_FN Philox4 philox4x32_10(Philox4 ctr, uint32_t k0, uint32_t k1) {
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      k0 += 0x9E3779B9u;
      k1 += 0xBB67AE85u;
    }
    const uint64_t p0 = static_cast<uint64_t>(0xD2511F53u) * ctr.v[0];
    const uint64_t p1 = static_cast<uint64_t>(0xCD9E8D57u) * ctr.v[2];
    const uint32_t hi0 = static_cast<uint32_t>(p0 >> 32), lo0 = static_cast<uint32_t>(p0);
    const uint32_t hi1 = static_cast<uint32_t>(p1 >> 32), lo1 = static_cast<uint32_t>(p1);
    ctr = Philox4{{hi1 ^ ctr.v[1] ^ k0, lo1, hi0 ^ ctr.v[3] ^ k1, lo0}};
  }
  return ctr;
}

// A uniform double in [0, 1) with 53 random bits, for token (position) of sample `sample` of
// prompt `prompt_id` under `seed`.
DAPO_PHILOX_FN double philox_uniform(uint64_t seed, uint64_t prompt_id, uint32_t sample, uint32_t position) {
  const Philox4 ctr{{position, sample, static_cast<uint32_t>(prompt_id), static_cast<uint32_t>(prompt_id >> 32)}};
  const Philox4 r = philox4x32_10(ctr, static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
  const uint64_t bits = (static_cast<uint64_t>(r.v[0] >> 5) << 26) | (r.v[1] >> 6);
  return static_cast<double>(bits) * (1.0 / 9007199254740992.0);
}

}  // namespace dapo
