// The blocked GEMM built with -mavx2 -mfma (see CMakeLists.txt); only called when the CPU has them.
#define DAPO_GEMM_NAMESPACE avx2
#include "model/gemm_impl.h"
