// A CPU stand-in for the part of cuBLASLt that native/cuda/cublaslt.h declares, built as
// libcublasLt.so.13 beside the emulated module (whose runtime points DAPO_CUBLASLT_PATH at it).
// Column-major D = alpha op(A) op(B) + beta C with transposes and leading dimensions; A and B
// both f32 or both bf16, C and D both f32 or both bf16 (f32 inputs with bf16 outputs are not
// supported, as in cuBLASLt); CUBLAS_COMPUTE_32F with f32 scales. Products are summed in
// double and rounded once, so results are at least as accurate as cuBLAS's fp32 accumulation.
// The heuristic returns one algorithm; a matmul runs as work on its stream (recorded while the
// stream captures). Descriptors and pointers are checked: a layout that does not match the
// problem, or an operand outside device memory, is CUBLAS_STATUS_INVALID_VALUE.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "emu/host.h"

namespace {

enum Status : int {
  kSuccess = 0,
  kNotInitialized = 1,
  kInvalidValue = 7,
  kExecutionFailed = 13,
  kNotSupported = 15,
};
enum : int { kR32F = 0, kR16BF = 14, kCompute32F = 68 };
enum : int { kOpN = 0, kOpT = 1 };
enum : int { kDescTransA = 3, kDescTransB = 4 };

struct Handle {
  int magic = 0x4c54;
};
struct MatmulDesc {
  int compute, scale, trans_a = kOpN, trans_b = kOpN;
};
struct Layout {
  int type;
  uint64_t rows, cols;
  int64_t ld;
  size_t elem() const { return type == kR32F ? 4 : 2; }
  size_t extent_bytes() const { return rows && cols ? ((cols - 1) * static_cast<size_t>(ld) + rows) * elem() : 0; }
};
struct Preference {};

int fail(int status, const char* what) {
  std::fprintf(stderr, "[cuda-emu] cublasLt: %s\n", what);
  return status;
}

float bf16_to_float(uint16_t h) {
  const uint32_t b = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}

uint16_t float_to_bf16(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  if ((b & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((b >> 16) | 0x40u);
  return static_cast<uint16_t>((b + 0x7fffu + ((b >> 16) & 1u)) >> 16);
}

double load(const void* base, int type, size_t i) {
  return type == kR32F ? static_cast<const float*>(base)[i] : bf16_to_float(static_cast<const uint16_t*>(base)[i]);
}

// op(X) of `rows` x `cols`, packed column-major as double.
std::vector<double> pack(const void* x, const Layout& l, bool trans, uint64_t rows, uint64_t cols) {
  std::vector<double> out(rows * cols);
  for (uint64_t j = 0; j < cols; ++j)
    for (uint64_t i = 0; i < rows; ++i)
      out[i + j * rows] = trans ? load(x, l.type, j + i * static_cast<size_t>(l.ld)) : load(x, l.type, i + j * static_cast<size_t>(l.ld));
  return out;
}

struct Problem {
  uint64_t m, n, k;
  bool ta, tb;
  float alpha, beta;
  const void *a, *b, *c;
  void* d;
  Layout la, lb, lc, ld;
};

void run(const Problem& p) {
  const std::vector<double> A = pack(p.a, p.la, p.ta, p.m, p.k);  // m x k
  const std::vector<double> B = pack(p.b, p.lb, p.tb, p.k, p.n);  // k x n
  std::vector<double> acc(p.m);
  for (uint64_t j = 0; j < p.n; ++j) {
    std::fill(acc.begin(), acc.end(), 0.0);
    for (uint64_t q = 0; q < p.k; ++q) {
      const double bq = B[q + j * p.k];
      const double* a = &A[q * p.m];
      for (uint64_t i = 0; i < p.m; ++i) acc[i] += a[i] * bq;
    }
    for (uint64_t i = 0; i < p.m; ++i) {
      double v = static_cast<double>(p.alpha) * acc[i];
      if (p.beta != 0.0f) v += static_cast<double>(p.beta) * load(p.c, p.lc.type, i + j * static_cast<size_t>(p.lc.ld));
      const float f = static_cast<float>(v);
      const size_t at = i + j * static_cast<size_t>(p.ld.ld);
      if (p.ld.type == kR32F) static_cast<float*>(p.d)[at] = f;
      else static_cast<uint16_t*>(p.d)[at] = float_to_bf16(f);
    }
  }
}

bool valid_type(int t) { return t == kR32F || t == kR16BF; }

}  // namespace

extern "C" {

int cublasLtCreate(Handle** h) {
  if (!h) return kInvalidValue;
  *h = new Handle;
  return kSuccess;
}

int cublasLtDestroy(Handle* h) {
  delete h;
  return kSuccess;
}

const char* cublasLtGetStatusString(int status) {
  switch (status) {
    case kSuccess: return "CUBLAS_STATUS_SUCCESS";
    case kNotInitialized: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case kInvalidValue: return "CUBLAS_STATUS_INVALID_VALUE";
    case kExecutionFailed: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case kNotSupported: return "CUBLAS_STATUS_NOT_SUPPORTED";
    default: return "CUBLAS_STATUS_UNKNOWN";
  }
}

int cublasLtMatmulDescCreate(MatmulDesc** d, int compute, int scale) {
  if (!d) return kInvalidValue;
  if (compute != kCompute32F || scale != kR32F) return fail(kNotSupported, "only CUBLAS_COMPUTE_32F with f32 scales is emulated");
  *d = new MatmulDesc{compute, scale};
  return kSuccess;
}

int cublasLtMatmulDescDestroy(MatmulDesc* d) {
  delete d;
  return kSuccess;
}

int cublasLtMatmulDescSetAttribute(MatmulDesc* d, int attr, const void* buf, size_t size) {
  if (!d || !buf) return kInvalidValue;
  if (attr == kDescTransA || attr == kDescTransB) {
    if (size != sizeof(int)) return fail(kInvalidValue, "a transpose attribute of the wrong size");
    int op;
    std::memcpy(&op, buf, sizeof op);
    if (op != kOpN && op != kOpT) return fail(kInvalidValue, "a transpose that is neither N nor T");
    (attr == kDescTransA ? d->trans_a : d->trans_b) = op;
    return kSuccess;
  }
  return fail(kNotSupported, "a matmul descriptor attribute the emulator does not model");
}

int cublasLtMatrixLayoutCreate(Layout** l, int type, uint64_t rows, uint64_t cols, int64_t ld) {
  if (!l) return kInvalidValue;
  if (!valid_type(type)) return fail(kNotSupported, "a data type other than f32 and bf16");
  if (ld < static_cast<int64_t>(rows) || ld < 1) return fail(kInvalidValue, "a leading dimension below the row count");
  *l = new Layout{type, rows, cols, ld};
  return kSuccess;
}

int cublasLtMatrixLayoutDestroy(Layout* l) {
  delete l;
  return kSuccess;
}

int cublasLtMatmulPreferenceCreate(Preference** p) {
  if (!p) return kInvalidValue;
  *p = new Preference;
  return kSuccess;
}

int cublasLtMatmulPreferenceDestroy(Preference* p) {
  delete p;
  return kSuccess;
}

int cublasLtMatmulPreferenceSetAttribute(Preference* p, int, const void* buf, size_t) {
  return p && buf ? kSuccess : kInvalidValue;
}

int cublasLtMatmulAlgoGetHeuristic(Handle* h, MatmulDesc* d, Layout* a, Layout* b, Layout* c, Layout* dl, Preference* p,
                                   int requested, void* results, int* returned) {
  if (!h || !d || !a || !b || !c || !dl || !p || !results || !returned || requested < 1) return kInvalidValue;
  *returned = 0;
  if (a->type != b->type || c->type != dl->type) return fail(kNotSupported, "A and B (or C and D) of different types");
  if (a->type == kR32F && dl->type != kR32F) return fail(kNotSupported, "f32 inputs with a bf16 output");
  // cublasLtMatmulHeuristicResult_t: algo (64 bytes), workspaceSize, state, wavesCount, reserved.
  unsigned char* r = static_cast<unsigned char*>(results);
  std::memset(r, 0, 96);
  const uint64_t tag = 0x454d55;  // "EMU"
  std::memcpy(r, &tag, sizeof tag);
  const float waves = 1.0f;
  std::memcpy(r + 64 + 8 + 4, &waves, sizeof waves);
  *returned = 1;
  return kSuccess;
}

int cublasLtMatmul(Handle* h, MatmulDesc* desc, const void* alpha, const void* a, Layout* la, const void* b, Layout* lb,
                   const void* beta, const void* c, Layout* lc, void* d, Layout* ld, const void* algo, void* workspace,
                   size_t workspace_size, cudaStream_t stream) {
  if (!h) return kNotInitialized;
  if (!desc || !alpha || !beta || !a || !b || !d || !la || !lb || !lc || !ld || !algo) return kInvalidValue;
  Problem p;
  p.ta = desc->trans_a == kOpT, p.tb = desc->trans_b == kOpT;
  p.m = ld->rows, p.n = ld->cols;
  p.k = p.ta ? la->rows : la->cols;
  const uint64_t a_rows = p.ta ? la->cols : la->rows, b_rows = p.tb ? lb->cols : lb->rows,
                 b_cols = p.tb ? lb->rows : lb->cols;
  if (a_rows != p.m || b_rows != p.k || b_cols != p.n || lc->rows != p.m || lc->cols != p.n)
    return fail(kInvalidValue, "layouts that do not match op(A) op(B) = D");
  if (la->type != lb->type || lc->type != ld->type) return fail(kNotSupported, "A and B (or C and D) of different types");
  if (la->type == kR32F && ld->type != kR32F) return fail(kNotSupported, "f32 inputs with a bf16 output");
  if (c == d && lc->ld != ld->ld) return fail(kInvalidValue, "C is D (in place) with a different leading dimension");
  std::memcpy(&p.alpha, alpha, sizeof p.alpha);
  std::memcpy(&p.beta, beta, sizeof p.beta);
  p.a = a, p.b = b, p.c = c, p.d = d;
  p.la = *la, p.lb = *lb, p.lc = *lc, p.ld = *ld;
  if (!emu::device_range(a, la->extent_bytes()) || !emu::device_range(b, lb->extent_bytes()) ||
      !emu::device_range(d, ld->extent_bytes()) || (p.beta != 0.0f && !emu::device_range(c, lc->extent_bytes())))
    return fail(kInvalidValue, "an operand that is not inside one device allocation (size from its layout)");
  if (workspace_size && !emu::device_range(workspace, workspace_size))
    return fail(kInvalidValue, "a workspace that is not device memory of its size");
  if (p.m == 0 || p.n == 0) return kSuccess;
  return emu::enqueue(stream, "cublasLtMatmul", [p] { run(p); }) == cudaSuccess ? kSuccess : kExecutionFailed;
}

}  // extern "C"
