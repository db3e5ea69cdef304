// The kernel lab's LM-head part (lm-head.cc): the loss from hidden states through the CUDA
// module's C ABI, at Qwen's vocabulary and H = 896 (Qwen2.5-0.5B) and H = 3584 (Qwen2.5-7B).
#pragma once
#include <string>

// Prints a table and returns its rows as a JSON array; adds failed runs to *failures.
std::string run_lm_head_lab(bool quick, const char* argv0, int* failures);
