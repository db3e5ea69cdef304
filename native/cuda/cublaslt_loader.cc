// Opens cuBLASLt with dlopen at first use (see cublaslt.h): the module then loads on machines
// without cuBLAS, and only the LM-head loss needs it.
#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>

#include "cuda/api.h"
#include "cuda/cublaslt.h"

namespace dapo::cuda {
namespace {

CublasLt g_lt;
int g_status = -1;  // -1 not tried, 0 ready, else the failure
std::string g_reason;
std::mutex g_mutex;

template <typename F>
bool resolve(void* handle, const char* name, F& slot) {
  slot = reinterpret_cast<F>(dlsym(handle, name));
  if (!slot) g_reason = std::string("cuBLASLt lacks ") + name;
  return slot != nullptr;
}

void* open_library() {
  std::string tried;
  const char* env = std::getenv("DAPO_CUBLASLT_PATH");
  const char* names[] = {env, "libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so",
                         "/usr/local/cuda/lib64/libcublasLt.so.13", "/usr/local/cuda/lib64/libcublasLt.so.12",
                         "/usr/local/cuda/lib64/libcublasLt.so"};
  for (const char* name : names) {
    if (!name || !*name) continue;
    if (void* handle = dlopen(name, RTLD_NOW | RTLD_LOCAL)) {
      std::snprintf(g_lt.library, sizeof g_lt.library, "%s", name);
      return handle;
    }
    tried += tried.empty() ? name : std::string(", ") + name;
  }
  g_reason = "cuBLASLt could not be opened (tried " + tried +
             "); install the CUDA toolkit's cuBLAS or set DAPO_CUBLASLT_PATH";
  return nullptr;
}

int open_once() {
  void* h = open_library();
  if (!h) return DAPO_CUDA_ERR_CUBLAS;
  if (!resolve(h, "cublasLtCreate", g_lt.create) || !resolve(h, "cublasLtDestroy", g_lt.destroy) ||
      !resolve(h, "cublasLtMatmulDescCreate", g_lt.matmul_desc_create) ||
      !resolve(h, "cublasLtMatmulDescDestroy", g_lt.matmul_desc_destroy) ||
      !resolve(h, "cublasLtMatmulDescSetAttribute", g_lt.matmul_desc_set_attribute) ||
      !resolve(h, "cublasLtMatrixLayoutCreate", g_lt.matrix_layout_create) ||
      !resolve(h, "cublasLtMatrixLayoutDestroy", g_lt.matrix_layout_destroy) ||
      !resolve(h, "cublasLtMatmulPreferenceCreate", g_lt.preference_create) ||
      !resolve(h, "cublasLtMatmulPreferenceDestroy", g_lt.preference_destroy) ||
      !resolve(h, "cublasLtMatmulPreferenceSetAttribute", g_lt.preference_set_attribute) ||
      !resolve(h, "cublasLtMatmulAlgoGetHeuristic", g_lt.algo_get_heuristic) ||
      !resolve(h, "cublasLtMatmul", g_lt.matmul))
    return DAPO_CUDA_ERR_CUBLAS;
  g_lt.status_string = reinterpret_cast<const char* (*)(cublasStatus_t)>(dlsym(h, "cublasLtGetStatusString"));
  cublasStatus_t s = g_lt.create(&g_lt.handle);
  if (s != 0) {
    g_reason = "cublasLtCreate failed with status " + std::to_string(s);
    return DAPO_CUDA_ERR_CUBLAS;
  }
  return 0;
}

}  // namespace

int cublaslt_get(const CublasLt** out, char* message, size_t message_size) {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_status < 0) g_status = open_once();
  if (g_status != 0) {
    if (message && message_size) std::snprintf(message, message_size, "%s", g_reason.c_str());
    return g_status;
  }
  *out = &g_lt;
  return 0;
}

}  // namespace dapo::cuda
