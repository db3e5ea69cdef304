#include "common/checked.h"

#include <unistd.h>

#include <cstdio>

namespace dapo {

size_t physical_memory_bytes() {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  if (pages <= 0 || page <= 0) return 0;
  size_t bytes;
  if (__builtin_mul_overflow(static_cast<size_t>(pages), static_cast<size_t>(page), &bytes)) return 0;
  return bytes;
}

void check_fits_memory(size_t bytes, const std::string& what) {
  const size_t have = physical_memory_bytes();
  if (have == 0 || bytes <= have) return;
  const auto gib = [](size_t b) {
    char text[32];
    std::snprintf(text, sizeof text, "%.1f", static_cast<double>(b) / (1u << 30));
    return std::string(text);
  };
  throw_range(what + " needs " + gib(bytes) + " GiB, more than this machine's " + gib(have) + " GiB of memory");
}

}  // namespace dapo
