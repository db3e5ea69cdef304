// A small persistent thread pool for the CPU kernels.
//
// Work is split into fixed-size chunks handed out from an atomic counter. Kernels keep their
// results independent of how chunks land on threads (each chunk writes its own outputs and
// cross-chunk reductions run in a fixed order afterwards), so a result never depends on the
// thread count.
#pragma once
#include <cstddef>
#include <functional>

namespace dapo {

// Number of threads used by parallel_for: DAPO_NUM_THREADS if set, else the hardware count.
int num_threads();
// Changes the thread count at run time (tests use it to show results do not depend on it).
void set_num_threads(int n);

// Calls fn(begin, end) over [0, n) in chunks of `grain` items. The caller's thread takes part.
// Calls made from inside a pool task run serially, so nesting cannot deadlock.
void parallel_for(size_t n, size_t grain, const std::function<void(size_t, size_t)>& fn);

}  // namespace dapo
