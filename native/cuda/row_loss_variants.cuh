// Internal to the row sweep: the device facts the planners need, and each variant's planner
// and launcher (row_loss_streaming.cu, row_loss_resident.cu, row_loss_bulk.cu). row_loss.cu
// holds the plan table and dispatches to these.
#pragma once
#include <cuda_runtime.h>

#include "cuda/row_loss.cuh"

namespace dapo::cuda::rowloss {

struct DeviceFacts {
  int major = 0;                 // compute capability
  int sms = 1;                   // multiprocessors
  size_t l2_bytes = 0;           // L2 cache
  size_t smem_optin = 48 << 10;  // dynamic shared memory a block may opt into
};
// The current device's, queried once per device.
const DeviceFacts& device_facts();

// The largest cluster the device launches (1 before sm_90).
inline int max_cluster(const DeviceFacts& d) { return d.major >= 9 ? 16 : 1; }

// Each planner fills *plan for p, or returns false with the reason.
bool plan_streaming(const RowLossParams& p, const DeviceFacts& d, RowLossPlan* plan, const char** why);
bool plan_l2_two_pass(const RowLossParams& p, const DeviceFacts& d, RowLossPlan* plan, const char** why);
bool plan_resident(const RowLossParams& p, const DeviceFacts& d, bool lean, RowLossPlan* plan, const char** why);
bool plan_bulk_cluster(const RowLossParams& p, const DeviceFacts& d, RowLossPlan* plan, const char** why);

cudaError_t launch_streaming(const RowLossParams& p, const RowLossPlan& plan, cudaStream_t stream);
cudaError_t launch_l2_two_pass(const RowLossParams& p, const RowLossPlan& plan, cudaStream_t stream);
cudaError_t launch_resident(const RowLossParams& p, const RowLossPlan& plan, cudaStream_t stream);
cudaError_t launch_bulk_cluster(const RowLossParams& p, const RowLossPlan& plan, cudaStream_t stream);

// Launches kernel `fn` with `blocks` x `threads`, `smem` bytes of dynamic shared memory and
// clusters of `cluster` blocks (1: no cluster), after opting it into that shared memory and, for
// clusters over 8, into non-portable cluster sizes.
cudaError_t launch_clustered(const void* fn, void** args, unsigned blocks, int threads, int cluster, size_t smem,
                             cudaStream_t stream);
// Whether at least one cluster of this shape fits on the device (cudaOccupancyMaxActiveClusters),
// cached per shape.
bool cluster_fits(const void* fn, int threads, int cluster, size_t smem);

}  // namespace dapo::cuda::rowloss
