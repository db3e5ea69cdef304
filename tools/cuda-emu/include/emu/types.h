// Vector types and dims as CUDA declares them (vector_types.h): the same sizes and alignments,
// so a float4 access through a pointer that is not 16-byte aligned is caught (the build checks
// alignment; see tools/cuda-emu/README.md).
#pragma once
#include <cstddef>
#include <cstdint>

#define EMU_API __attribute__((visibility("default")))

struct uint3 {
  unsigned x, y, z;
};

struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned vx = 1, unsigned vy = 1, unsigned vz = 1) : x(vx), y(vy), z(vz) {}
  constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
  constexpr operator uint3() const { return uint3{x, y, z}; }
};

#define EMU_VEC2(T, name, align)  \
  struct alignas(align) name {   \
    T x, y;                      \
  };                             \
  inline name make_##name(T a, T b) { return name{a, b}; }
#define EMU_VEC3(T, name)                 \
  struct name {                           \
    T x, y, z;                            \
  };                                      \
  inline name make_##name(T a, T b, T c) { return name{a, b, c}; }
#define EMU_VEC4(T, name, align)                \
  struct alignas(align) name {                 \
    T x, y, z, w;                              \
  };                                           \
  inline name make_##name(T a, T b, T c, T d) { return name{a, b, c, d}; }

EMU_VEC2(float, float2, 8)
EMU_VEC4(float, float4, 16)
EMU_VEC2(int, int2, 8)
EMU_VEC4(int, int4, 16)
EMU_VEC2(unsigned, uint2, 8)
EMU_VEC4(unsigned, uint4, 16)
EMU_VEC2(double, double2, 16)
EMU_VEC2(long long, longlong2, 16)
EMU_VEC2(unsigned long long, ulonglong2, 16)
EMU_VEC2(unsigned short, ushort2, 4)
EMU_VEC4(unsigned short, ushort4, 8)
EMU_VEC3(float, float3)
EMU_VEC3(int, int3)
inline uint3 make_uint3(unsigned a, unsigned b, unsigned c) { return uint3{a, b, c}; }

#undef EMU_VEC2
#undef EMU_VEC3
#undef EMU_VEC4
