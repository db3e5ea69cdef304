// The row sweeps built with -mavx2 -mfma (see CMakeLists.txt); only called when the CPU has them.
#define DAPO_ROW_NAMESPACE avx2
#include "loss/row_softmax_impl.h"
