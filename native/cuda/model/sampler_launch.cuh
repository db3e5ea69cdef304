// The sampler's launch layouts, for its check (checks/sampler_check.cu), which runs each one on
// the device it has. sample_rows (ops.cuh) always uses kAuto.
#pragma once
#include <cuda_runtime.h>

#include "cuda/model/ops.cuh"

namespace dapo::cuda::model {

enum class SampleLayout {
  // sm_90+: a cluster of up to 8 blocks per row, each holding its slice of the row in shared
  // memory (read from global memory once); a row that fits one block's shared memory: one block.
  // Otherwise (sm_80 with a large vocabulary, or a vocabulary past 8 blocks' shared memory):
  // kStreamed.
  kAuto,
  // One block per row, reading the row from global memory on every pass (the sm_80 path).
  kStreamed,
  // One block per row holding the whole row in shared memory (cudaErrorInvalidValue when the
  // vocabulary does not fit).
  kSingleResident,
};

cudaError_t sample_rows_layout(const SampleArgs& a, void* scratch, cudaStream_t stream, SampleLayout layout);

}  // namespace dapo::cuda::model
