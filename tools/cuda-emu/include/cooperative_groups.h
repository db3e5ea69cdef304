// Cooperative groups on the emulator: the thread block and the thread-block cluster (sm_90),
// with distributed shared memory.
#pragma once
#include "cuda_runtime.h"

namespace cooperative_groups {

struct thread_block {
  void sync() const { ::emu::syncthreads(); }
  unsigned thread_rank() const { return ::emu::g_thread->linear; }
  unsigned num_threads() const {
    const dim3& b = ::emu::g_thread->block_dim;
    return b.x * b.y * b.z;
  }
  unsigned size() const { return num_threads(); }
  dim3 group_index() const { return dim3(::emu::g_thread->block_idx); }
  dim3 thread_index() const { return dim3(::emu::g_thread->thread_idx); }
  dim3 dim_threads() const { return ::emu::g_thread->block_dim; }
};
inline thread_block this_thread_block() { return thread_block{}; }

struct cluster_group {
  void sync() const { ::emu::cluster_sync(); }
  unsigned block_rank() const { return ::emu::g_thread->cluster_rank; }
  unsigned num_blocks() const { return ::emu::g_thread->cluster_size; }
  dim3 dim_blocks() const { return ::emu::g_thread->cluster_dim; }
  dim3 block_index() const {
    const dim3& c = ::emu::g_thread->cluster_dim;
    const uint3& b = ::emu::g_thread->block_idx;
    return dim3(b.x % c.x, b.y % c.y, b.z % c.z);
  }
  unsigned thread_rank() const {
    const dim3& b = ::emu::g_thread->block_dim;
    return block_rank() * (b.x * b.y * b.z) + ::emu::g_thread->linear;
  }
  unsigned num_threads() const {
    const dim3& b = ::emu::g_thread->block_dim;
    return num_blocks() * b.x * b.y * b.z;
  }
  unsigned size() const { return num_threads(); }
  template <typename T>
  T* map_shared_rank(T* p, unsigned rank) const {
    return static_cast<T*>(::emu::map_shared_rank(p, rank));
  }
  unsigned query_shared_rank(const void* p) const { return ::emu::shared_rank_of(p); }
};
inline cluster_group this_cluster() { return cluster_group{}; }

}  // namespace cooperative_groups
