// Size arithmetic that cannot wrap, and a memory bound checked before allocating. Every product
// or sum that sizes a buffer goes through these, so a request too large to address is a range
// error naming what was being sized, never a buffer smaller than what is then written into it.
#pragma once
#include <cstddef>
#include <initializer_list>
#include <string>

#include "common/error.h"

namespace dapo {

// a * b, or a range error "<what> (a x b) is too large".
inline size_t checked_mul(size_t a, size_t b, const std::string& what) {
  size_t out;
  if (__builtin_mul_overflow(a, b, &out))
    throw_range(what + " (" + std::to_string(a) + " x " + std::to_string(b) + ") is too large to address");
  return out;
}

// a + b, or a range error "<what> (a + b) is too large".
inline size_t checked_add(size_t a, size_t b, const std::string& what) {
  size_t out;
  if (__builtin_add_overflow(a, b, &out))
    throw_range(what + " (" + std::to_string(a) + " + " + std::to_string(b) + ") is too large to address");
  return out;
}

// The product of all factors, checked at each step.
inline size_t checked_product(std::initializer_list<size_t> factors, const std::string& what) {
  size_t out = 1;
  for (size_t f : factors) out = checked_mul(out, f, what);
  return out;
}

// Bytes of physical memory on this machine (0 when unknown).
size_t physical_memory_bytes();

// A range error when `bytes` exceed the machine's physical memory. Linux overcommits: an
// allocation that large can succeed and the process is killed when its pages are touched, so
// the request is refused before anything is allocated.
void check_fits_memory(size_t bytes, const std::string& what);

}  // namespace dapo
