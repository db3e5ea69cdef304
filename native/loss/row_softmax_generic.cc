// The row sweeps built for the baseline instruction set.
#define DAPO_ROW_NAMESPACE generic
#include "loss/row_softmax_impl.h"
