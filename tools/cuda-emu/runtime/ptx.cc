// The PTX the kernels issue through inline asm (include/emu/ptx.h), emulated with the
// semantics of the PTX ISA: asynchronous copies land no earlier than the wait that covers them
// (so a read before the wait sees garbage, not the data), ldmatrix and mma.sync are warp
// collectives with the ISA's fragment layouts, and an mbarrier completes a phase when its
// arrivals and its transaction bytes are both done.
#include <cstring>

#include "emu/ptx.h"
#include "internal.h"

namespace emu::ptx {
namespace {

void land(const AsyncCopy& c) {
  std::memcpy(c.dst, c.src, c.src_bytes);
  if (c.bytes > c.src_bytes) std::memset(static_cast<char*>(c.dst) + c.src_bytes, 0, c.bytes - c.src_bytes);
}

void check_aligned(const void* p, size_t align, const char* what) {
  if (reinterpret_cast<uintptr_t>(p) % align)
    fault(cudaErrorMisalignedAddress, "%s: address %p is not %zu-byte aligned", what, p, align);
}

// The barrier at a shared address (its own block's, or, for shared::cluster, another's).
MBarrier& barrier_at(unsigned address, const char* what) {
  void* p = shared_pointer(address);
  check_aligned(p, 8, what);
  Block& owner = current_block().cluster->blocks[shared_rank_of(p)];
  const unsigned offset = static_cast<unsigned>(static_cast<unsigned char*>(p) - owner.window);
  auto it = owner.mbarriers.find(offset);
  if (it == owner.mbarriers.end()) fault(cudaErrorIllegalInstruction, "%s on an mbarrier that was never initialised", what);
  return it->second;
}

void maybe_complete(MBarrier& m) {
  if (m.pending == 0 && m.tx == 0) {
    m.phase ^= 1u;
    m.pending = m.count;
    note_progress();
  }
}

}  // namespace

void cp_async(unsigned dst_address, const void* src, unsigned bytes, unsigned src_bytes) {
  Thread& t = current();
  void* dst = shared_pointer(dst_address);
  if (bytes != 4 && bytes != 8 && bytes != 16) fault(cudaErrorIllegalInstruction, "cp.async of %u bytes", bytes);
  if (src_bytes > bytes) fault(cudaErrorIllegalInstruction, "cp.async with src-size %u above its %u bytes", src_bytes, bytes);
  check_aligned(dst, bytes, "cp.async destination");
  if (src_bytes) check_aligned(src, bytes, "cp.async source");
  t.pending.push_back(AsyncCopy{dst, src, bytes, src_bytes});
}

void cp_async_commit() {
  Thread& t = current();
  t.groups.push_back(std::move(t.pending));
  t.pending.clear();
}

void cp_async_wait(unsigned groups_left) {
  Thread& t = current();
  while (t.groups.size() > groups_left) {
    for (const AsyncCopy& c : t.groups.front()) land(c);
    t.groups.pop_front();
  }
}

void cp_async_wait_all() {
  cp_async_commit();
  cp_async_wait(0);
}

// ---- ldmatrix ----

namespace {

struct LdmatrixArgs {
  int count;
  bool trans;
};

uint16_t b16_at(uintptr_t row, int col) {
  uint16_t v;
  std::memcpy(&v, reinterpret_cast<const void*>(row + 2 * col), 2);
  return v;
}

void ldmatrix_fn(const WarpSlot* in, WarpSlot* out, unsigned, const void* extra) {
  const LdmatrixArgs& a = *static_cast<const LdmatrixArgs*>(extra);
  uintptr_t rows[32];
  for (int l = 0; l < 32; ++l) rows[l] = from_slot<uintptr_t>(in[l]);
  for (int l = 0; l < 32; ++l) {
    unsigned r[4] = {0, 0, 0, 0};
    const int g = l / 4, q = l % 4;
    for (int i = 0; i < a.count; ++i) {
      const uintptr_t* m = rows + 8 * i;
      const uint16_t lo = a.trans ? b16_at(m[2 * q], g) : b16_at(m[g], 2 * q);
      const uint16_t hi = a.trans ? b16_at(m[2 * q + 1], g) : b16_at(m[g], 2 * q + 1);
      r[i] = static_cast<unsigned>(lo) | (static_cast<unsigned>(hi) << 16);
    }
    std::memcpy(out[l].bytes, r, sizeof r);
  }
}

}  // namespace

void ldmatrix(unsigned (&r)[4], int count, bool trans, unsigned address) {
  Thread& t = current();
  uintptr_t row = 0;
  if (static_cast<int>(t.lane) < 8 * count) {  // only these lanes' addresses are read
    void* p = shared_pointer(address);
    check_aligned(p, 16, "ldmatrix row");
    row = reinterpret_cast<uintptr_t>(p);
  }
  const LdmatrixArgs args{count, trans};
  const WarpSlot o = warp_collective(WarpOp::Ldmatrix, 0xffffffffu, slot_of(row), ldmatrix_fn, &args);
  std::memcpy(r, o.bytes, sizeof r);
}

// ---- mma.sync m16n8k16, bf16 inputs, fp32 accumulation ----

namespace {

float bits_float(unsigned w) {
  float f;
  std::memcpy(&f, &w, 4);
  return f;
}
float lo_bf16(unsigned w) { return bits_float(w << 16); }
float hi_bf16(unsigned w) { return bits_float(w & 0xffff0000u); }

void mma_fn(const WarpSlot* in, WarpSlot* out, unsigned, const void*) {
  float A[16][16], B[16][8], C[16][8];
  for (int l = 0; l < 32; ++l) {
    const MmaFragments x = from_slot<MmaFragments>(in[l]);
    const int g = l / 4, q = l % 4;
    A[g][2 * q] = lo_bf16(x.a[0]), A[g][2 * q + 1] = hi_bf16(x.a[0]);
    A[g + 8][2 * q] = lo_bf16(x.a[1]), A[g + 8][2 * q + 1] = hi_bf16(x.a[1]);
    A[g][2 * q + 8] = lo_bf16(x.a[2]), A[g][2 * q + 9] = hi_bf16(x.a[2]);
    A[g + 8][2 * q + 8] = lo_bf16(x.a[3]), A[g + 8][2 * q + 9] = hi_bf16(x.a[3]);
    B[2 * q][g] = lo_bf16(x.b[0]), B[2 * q + 1][g] = hi_bf16(x.b[0]);
    B[2 * q + 8][g] = lo_bf16(x.b[1]), B[2 * q + 9][g] = hi_bf16(x.b[1]);
    C[g][2 * q] = x.c[0], C[g][2 * q + 1] = x.c[1];
    C[g + 8][2 * q] = x.c[2], C[g + 8][2 * q + 1] = x.c[3];
  }
  float D[16][8];
  for (int m = 0; m < 16; ++m)
    for (int n = 0; n < 8; ++n) {
      double s = 0;  // bf16 products are exact; the sum is rounded once
      for (int k = 0; k < 16; ++k) s += static_cast<double>(A[m][k]) * B[k][n];
      D[m][n] = static_cast<float>(s + C[m][n]);
    }
  for (int l = 0; l < 32; ++l) {
    const int g = l / 4, q = l % 4;
    const float d[4] = {D[g][2 * q], D[g][2 * q + 1], D[g + 8][2 * q], D[g + 8][2 * q + 1]};
    std::memcpy(out[l].bytes, d, sizeof d);
  }
}

}  // namespace

void mma_m16n8k16_bf16(float (&d)[4], const MmaFragments& in) {
  const WarpSlot o = warp_collective(WarpOp::Mma, 0xffffffffu, slot_of(in), mma_fn, nullptr);
  std::memcpy(d, o.bytes, sizeof d);
}

// ---- mbarriers and bulk copies ----

void mbarrier_init(unsigned address, unsigned count) {
  void* p = shared_pointer(address);
  check_aligned(p, 8, "mbarrier.init");
  if (count == 0) fault(cudaErrorIllegalInstruction, "mbarrier.init with a count of 0");
  Block& owner = current_block().cluster->blocks[shared_rank_of(p)];
  const unsigned offset = static_cast<unsigned>(static_cast<unsigned char*>(p) - owner.window);
  MBarrier& m = owner.mbarriers[offset];
  m = MBarrier{};
  m.count = m.pending = count;
  std::memset(p, 0, 8);
}

void mbarrier_expect_tx(unsigned address, unsigned bytes) {
  barrier_at(address, "mbarrier.expect_tx").tx += bytes;
}

void mbarrier_arrive(unsigned address) {
  MBarrier& m = barrier_at(address, "mbarrier.arrive");
  if (m.pending == 0) fault(cudaErrorIllegalInstruction, "mbarrier.arrive beyond the barrier's count");
  --m.pending;
  note_progress();
  maybe_complete(m);
}

void mbarrier_arrive_expect_tx(unsigned address, unsigned bytes) {
  barrier_at(address, "mbarrier.arrive.expect_tx").tx += bytes;
  mbarrier_arrive(address);
}

void bulk_copy_g2s(unsigned dst_address, const void* src, unsigned bytes, unsigned mbar) {
  void* dst = shared_pointer(dst_address);
  check_aligned(dst, 16, "cp.async.bulk destination");
  check_aligned(src, 16, "cp.async.bulk source");
  if (bytes % 16) fault(cudaErrorIllegalInstruction, "cp.async.bulk of %u bytes, not a multiple of 16", bytes);
  MBarrier& m = barrier_at(mbar, "cp.async.bulk's mbarrier");
  m.copies.push_back(AsyncCopy{dst, src, bytes, bytes});
}

bool mbarrier_try_wait_parity(unsigned address, unsigned parity) {
  MBarrier& m = barrier_at(address, "mbarrier.try_wait.parity");
  if (!m.copies.empty()) {  // the copies it tracks land now, at the latest moment a wait allows
    for (const AsyncCopy& c : m.copies) {
      land(c);
      m.tx -= c.bytes;
    }
    m.copies.clear();
    note_progress();
    maybe_complete(m);
  }
  if (m.phase != (parity & 1u)) return true;  // the phase of that parity has completed
  spin_yield();
  return false;
}

}  // namespace emu::ptx
