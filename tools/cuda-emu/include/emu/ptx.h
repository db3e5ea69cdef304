// The PTX instructions dapo's kernels issue through inline asm, emulated. transform.ts maps
// each asm statement to one of these calls (an unknown instruction stops the build, naming it).
// Shared-memory operands are 32-bit shared addresses (cvta.to.shared), as in the PTX.
#pragma once
#include <cstdint>
#include <type_traits>

#include "emu/types.h"

namespace emu::ptx {

template <typename P>
inline const void* global(P p) {
  if constexpr (std::is_pointer<P>::value) return reinterpret_cast<const void*>(p);
  else return reinterpret_cast<const void*>(static_cast<uintptr_t>(p));
}

// cp.async.{ca,cg}.shared.global [dst], [src], bytes, src_bytes: lands at the thread's
// cp.async.wait_group that covers its commit group; bytes past src_bytes are zero-filled.
EMU_API void cp_async(unsigned dst, const void* src, unsigned bytes, unsigned src_bytes);
EMU_API void cp_async_commit();
EMU_API void cp_async_wait(unsigned groups_left);
EMU_API void cp_async_wait_all();

// ldmatrix.sync.aligned.m8n8.{x1,x2,x4}[.trans].shared.b16: lanes 8i..8i+7 give the row
// addresses of matrix i; lane l gets, of each matrix, elements (l / 4, 2 (l % 4) .. +1) (or the
// transpose's).
EMU_API void ldmatrix(unsigned (&r)[4], int count, bool trans, unsigned address);
inline void ldmatrix_x4(unsigned& r0, unsigned& r1, unsigned& r2, unsigned& r3, unsigned address, bool trans) {
  unsigned r[4];
  ldmatrix(r, 4, trans, address);
  r0 = r[0], r1 = r[1], r2 = r[2], r3 = r[3];
}
inline void ldmatrix_x2(unsigned& r0, unsigned& r1, unsigned address, bool trans) {
  unsigned r[4];
  ldmatrix(r, 2, trans, address);
  r0 = r[0], r1 = r[1];
}
inline void ldmatrix_x1(unsigned& r0, unsigned address, bool trans) {
  unsigned r[4];
  ldmatrix(r, 1, trans, address);
  r0 = r[0];
}

// mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 d, a, b, c (fragments per the PTX ISA).
struct MmaFragments {
  unsigned a[4], b[2];
  float c[4];
};
EMU_API void mma_m16n8k16_bf16(float (&d)[4], const MmaFragments& in);
inline void mma_m16n8k16_bf16_f32(float& d0, float& d1, float& d2, float& d3, unsigned a0, unsigned a1, unsigned a2,
                                  unsigned a3, unsigned b0, unsigned b1, float c0, float c1, float c2, float c3) {
  float d[4];
  mma_m16n8k16_bf16(d, MmaFragments{{a0, a1, a2, a3}, {b0, b1}, {c0, c1, c2, c3}});
  d0 = d[0], d1 = d[1], d2 = d[2], d3 = d[3];
}

// mbarrier objects in shared memory, with transaction counts (sm_90).
EMU_API void mbarrier_init(unsigned address, unsigned count);
EMU_API void mbarrier_arrive(unsigned address);
EMU_API void mbarrier_arrive_expect_tx(unsigned address, unsigned bytes);
EMU_API void mbarrier_expect_tx(unsigned address, unsigned bytes);
EMU_API bool mbarrier_try_wait_parity(unsigned address, unsigned parity);
// cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [dst], [src], bytes, [mbar]
EMU_API void bulk_copy_g2s(unsigned dst, const void* src, unsigned bytes, unsigned mbar);
inline void fence() {}

}  // namespace emu::ptx
