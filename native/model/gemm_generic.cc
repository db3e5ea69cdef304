// The blocked GEMM for any x86-64 (SSE2) or other CPU.
#define DAPO_GEMM_NAMESPACE generic
#include "model/gemm_impl.h"
