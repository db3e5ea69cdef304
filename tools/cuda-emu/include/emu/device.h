// The device side as kernel code sees it: each CUDA thread is a fiber of the CPU thread that
// runs the launch (runtime/scheduler.cc); `threadIdx` and friends read the running fiber's
// record. Barriers, warp collectives, clusters and asynchronous copies switch fibers.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "emu/types.h"

namespace emu {

// What inline device code reads about the running thread (the scheduler's Thread begins with it).
struct ThreadView {
  uint3 thread_idx;
  uint3 block_idx;
  dim3 block_dim;
  dim3 grid_dim;
  unsigned lane;          // threadIdx linearised, % 32
  unsigned linear;        // threadIdx linearised
  unsigned cluster_rank;  // the block's rank in its cluster
  unsigned cluster_size;  // blocks in the cluster
  dim3 cluster_dim;
};

EMU_API extern ThreadView* g_thread;  // the running fiber's; null outside a kernel

// Called first by every __global__ function (transform.ts puts it there): the first thread of
// a launch names the kernel, whose limits (__launch_bounds__, shared memory attributes) the
// launch is then checked against.
EMU_API void kernel_started(const void* fn, unsigned max_threads);

// Faults end the launch with a sticky error, as a trap or an illegal access does on a GPU.
[[noreturn]] EMU_API void fault(int cuda_error, const char* format, ...) __attribute__((format(printf, 2, 3)));

// ---- block and cluster ----
EMU_API void syncthreads();
EMU_API int syncthreads_count(int predicate);
EMU_API int syncthreads_and(int predicate);
EMU_API int syncthreads_or(int predicate);
EMU_API void cluster_sync();
EMU_API void* map_shared_rank(const void* p, unsigned rank);  // distributed shared memory
EMU_API unsigned shared_rank_of(const void* p);              // the rank whose shared memory holds p
EMU_API void* dynamic_shared();
EMU_API void* shared_var(const void* key, size_t bytes, size_t align);  // static __shared__, one per block
EMU_API unsigned shared_address(const void* p);                        // __cvta_generic_to_shared
EMU_API void* shared_pointer(unsigned address);                        // and back
EMU_API void spin_yield();  // a thread polling for something others make happen (mbarrier try_wait)

// ---- warp collectives: every lane of `mask` (that has not exited) meets at the same one ----
enum class WarpOp : int { Shfl, Ballot, All, Any, SyncWarp, Ldmatrix, Mma, Match };
struct WarpSlot {
  alignas(16) unsigned char bytes[96];
};
// Runs `op` over the lanes of mask once all have arrived, each lane's input in in[lane] and
// output in out[lane]; returns this lane's output.
using WarpFn = void (*)(const WarpSlot* in, WarpSlot* out, unsigned mask, const void* extra);
EMU_API WarpSlot warp_collective(WarpOp op, unsigned mask, const WarpSlot& mine, WarpFn fn, const void* extra);

template <typename T>
inline WarpSlot slot_of(const T& v) {
  static_assert(sizeof(T) <= sizeof(WarpSlot), "warp collective operand too large");
  WarpSlot s;
  std::memcpy(s.bytes, &v, sizeof(T));
  return s;
}
template <typename T>
inline T from_slot(const WarpSlot& s) {
  T v;
  std::memcpy(&v, s.bytes, sizeof(T));
  return v;
}

enum class ShflKind : int { Idx, Up, Down, Xor };
struct ShflArgs {
  ShflKind kind;
  int width;
  unsigned arg_offset;  // where the lane argument sits in each slot (after the value, and its padding)
};
EMU_API void shfl_fn(const WarpSlot* in, WarpSlot* out, unsigned mask, const void* extra);

template <typename T>
inline T shfl(ShflKind kind, unsigned mask, T v, int lane_arg, int width) {
  static_assert(std::is_trivially_copyable<T>::value, "shuffled values must be trivially copyable");
  struct In {
    T v;
    int arg;
  } in{v, lane_arg};
  const ShflArgs args{kind, width, static_cast<unsigned>(offsetof(In, arg))};
  return from_slot<In>(warp_collective(WarpOp::Shfl, mask, slot_of(in), shfl_fn, &args)).v;
}

EMU_API unsigned ballot(unsigned mask, int predicate);
EMU_API int vote_all(unsigned mask, int predicate);
EMU_API int vote_any(unsigned mask, int predicate);
EMU_API void syncwarp(unsigned mask);

}  // namespace emu

// The built-in variables: the scheduler sets them to the running fiber's before it switches to
// it (every switch happens inside a call the compiler cannot see through, so no stale copy is kept).
EMU_API extern uint3 threadIdx;
EMU_API extern uint3 blockIdx;
EMU_API extern dim3 blockDim;
EMU_API extern dim3 gridDim;

namespace emu {
// A static __shared__ variable of type T (an array type included), one per block.
template <typename T>
inline T& shared_ref(const void* key, size_t align) {
  return *static_cast<T*>(shared_var(key, sizeof(T), align ? align : alignof(T)));
}
}  // namespace emu
