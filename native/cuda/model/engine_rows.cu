#include <cuda_bf16.h>

#include "cuda/model/engine_rows.cuh"

namespace dapo::cuda::model {

namespace {

constexpr int kThreads = 128;

// One block per copied row; W elements of `Word` per step (16-byte words when every row start is
// aligned, the element itself otherwise).
template <typename Word>
__global__ void __launch_bounds__(kThreads) copy_rows_kernel(const Word* src, size_t ld_src, const int32_t* src_rows,
                                                             Word* dst, size_t ld_dst, const int32_t* dst_rows,
                                                             size_t words) {
  const size_t i = blockIdx.x;
  const size_t s = src_rows ? static_cast<size_t>(src_rows[i]) : i;
  const size_t d = dst_rows ? static_cast<size_t>(dst_rows[i]) : i;
  const Word* from = src + s * ld_src;
  Word* to = dst + d * ld_dst;
  for (size_t j = threadIdx.x; j < words; j += kThreads) to[j] = from[j];
}

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

}  // namespace

template <typename T>
cudaError_t copy_rows(const T* src, size_t ld_src, const int32_t* src_rows, T* dst, size_t ld_dst,
                      const int32_t* dst_rows, size_t n, size_t cols, cudaStream_t stream) {
  if (n == 0 || cols == 0) return cudaSuccess;
  if (n > 0x7fffffffu || cols > ld_src || cols > ld_dst) return cudaErrorInvalidValue;
  constexpr size_t kPerWord = 16 / sizeof(T);
  const bool vector = aligned16(src) && aligned16(dst) && ld_src % kPerWord == 0 && ld_dst % kPerWord == 0 &&
                      cols % kPerWord == 0;
  const dim3 grid(static_cast<unsigned>(n));
  if (vector) {
    copy_rows_kernel<<<grid, kThreads, 0, stream>>>(reinterpret_cast<const uint4*>(src), ld_src / kPerWord, src_rows,
                                                    reinterpret_cast<uint4*>(dst), ld_dst / kPerWord, dst_rows,
                                                    cols / kPerWord);
  } else {
    copy_rows_kernel<<<grid, kThreads, 0, stream>>>(src, ld_src, src_rows, dst, ld_dst, dst_rows, cols);
  }
  return cudaGetLastError();
}

template cudaError_t copy_rows<float>(const float*, size_t, const int32_t*, float*, size_t, const int32_t*, size_t,
                                     size_t, cudaStream_t);
template cudaError_t copy_rows<__nv_bfloat16>(const __nv_bfloat16*, size_t, const int32_t*, __nv_bfloat16*, size_t,
                                              const int32_t*, size_t, size_t, cudaStream_t);

}  // namespace dapo::cuda::model
