// Faults the compiler's checks find in device code become CUDA errors of the launch, as the
// hardware reports them: a misaligned access (the alignment check, -fsanitize=alignment; its
// handler is ours, so no UBSan runtime is needed) is cudaErrorMisalignedAddress, an access
// AddressSanitizer reports (in the ASan build) is cudaErrorIllegalAddress. The report names the
// source line; the launch error names the kernel, block and thread.
#include <cstdio>
#include <cstring>
#include <string>

#include "internal.h"

namespace {

struct SourceLocation {
  const char* file;
  uint32_t line, column;
};
struct TypeDescriptor {
  uint16_t kind, info;
  char name[1];
};
struct TypeMismatchData {
  SourceLocation loc;
  const TypeDescriptor* type;
  unsigned char log_alignment;
  unsigned char check_kind;
};
struct AlignmentAssumptionData {
  SourceLocation loc, assumption_loc;
  const TypeDescriptor* type;
};

const char* kind_text(unsigned char k) {
  static const char* const names[] = {"load of",          "store to",        "reference binding to", "member access within",
                                      "member call on",   "constructor call on", "downcast of",     "downcast of",
                                      "upcast of",        "cast to virtual base of", "_Nonnull binding to", "dynamic operation on"};
  return k < sizeof names / sizeof names[0] ? names[k] : "access to";
}

void type_mismatch(TypeMismatchData* d, uintptr_t ptr) {
  const unsigned align = 1u << d->log_alignment;
  char text[1024];
  std::snprintf(text, sizeof text, "%s:%u: %s %s address 0x%zx for type %s, which needs %u-byte alignment", d->loc.file,
                d->loc.line, kind_text(d->check_kind), ptr ? "misaligned" : "null", static_cast<size_t>(ptr),
                d->type ? d->type->name : "?", align);
  if (emu::g_thread) emu::fault(ptr ? cudaErrorMisalignedAddress : cudaErrorIllegalAddress, "%s", text);
  emu::warn("host code: %s", text);
}

#if EMU_ASAN
void asan_report(const char* report) {
  std::string first = report ? report : "";
  const size_t summary = first.find("SUMMARY: ");
  if (summary != std::string::npos) first = first.substr(summary + 9);
  const size_t nl = first.find('\n');
  if (nl != std::string::npos) first = first.substr(0, nl);
  if (first.rfind("AddressSanitizer: ", 0) != 0) first = "AddressSanitizer: " + first;
  emu::note_async_fault(cudaErrorIllegalAddress, first);
}

__attribute__((constructor)) void install_asan_callback() { __asan_set_error_report_callback(asan_report); }
#endif

}  // namespace

// The handlers take void* as the compiler declares them (it does, as built-ins, when a sanitizer is on).
extern "C" {
EMU_API void __ubsan_handle_type_mismatch_v1(void* d, void* ptr) {
  type_mismatch(static_cast<TypeMismatchData*>(d), reinterpret_cast<uintptr_t>(ptr));
}
EMU_API void __ubsan_handle_type_mismatch_v1_abort(void* d, void* ptr) {
  type_mismatch(static_cast<TypeMismatchData*>(d), reinterpret_cast<uintptr_t>(ptr));
}
EMU_API void __ubsan_handle_alignment_assumption(void* data, void* ptr, void* align, void*) {
  const auto* d = static_cast<AlignmentAssumptionData*>(data);
  if (emu::g_thread)
    emu::fault(cudaErrorMisalignedAddress, "%s:%u: pointer 0x%zx assumed %zu-byte aligned", d->loc.file, d->loc.line,
               reinterpret_cast<size_t>(ptr), reinterpret_cast<size_t>(align));
}
}
