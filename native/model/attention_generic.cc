// Attention for any CPU.
#define DAPO_ATTN_NAMESPACE generic
#include "model/attention_impl.h"
