// The engine's own small kernel: copying whole rows between activation buffers by index. It
// gathers the rows that predict targets before the LM head (the CPU engine's memcpy of
// hf rows in head_chunks), scatters their gradient back (dhf), keeps each prompt's last hidden
// row for its first sampled token, and hands those rows to the LM head when a sequence starts.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace dapo::cuda::model {

// For i < n: dst[d(i), 0:cols] = src[s(i), 0:cols], where s(i) = src_rows ? src_rows[i] : i and
// d(i) = dst_rows ? dst_rows[i] : i (device int32 arrays). Rows have leading dimensions ld_src and
// ld_dst (elements). The d(i) must be distinct. T is float or bf16; the copy is exact.
template <typename T>
cudaError_t copy_rows(const T* src, size_t ld_src, const int32_t* src_rows, T* dst, size_t ld_dst,
                      const int32_t* dst_rows, size_t n, size_t cols, cudaStream_t stream);

}  // namespace dapo::cuda::model
