// Attention built with -mavx2 -mfma (see CMakeLists.txt); only called when the CPU has them.
#define DAPO_ATTN_NAMESPACE avx2
#include "model/attention_impl.h"
