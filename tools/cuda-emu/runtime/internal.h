// Internals of libdapo_cudaemu.so shared between its files: the device lock, errors, the
// emulated device's limits, and the scheduler's records of threads, blocks and clusters.
#pragma once
#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "emu/device.h"
#include "emu/launch.h"
#include "emu/runtime_api.h"

#if defined(__SANITIZE_ADDRESS__)
#define EMU_ASAN 1
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#else
#define EMU_ASAN 0
#endif

namespace emu {

// ---- the device: one lock serialises every runtime call and launch ----
std::recursive_mutex& device_mutex();
using Lock = std::lock_guard<std::recursive_mutex>;

// The H100-like device the emulator reports.
struct DeviceLimits {
  static constexpr int kSms = 132;
  static constexpr size_t kSharedPerBlock = 48 << 10;            // without opt-in
  static constexpr size_t kSharedPerBlockOptin = 232448;         // 227 KiB
  static constexpr size_t kSharedPerSm = 233472;                 // 228 KiB
  static constexpr size_t kSharedReservedPerBlock = 1024;        // the runtime's reserve
  static constexpr int kMaxThreadsPerBlock = 1024;
  static constexpr int kMaxThreadsPerSm = 2048;
  static constexpr int kMaxBlocksPerSm = 32;
  static constexpr int kMaxPortableCluster = 8;
  static constexpr int kMaxCluster = 16;
  static constexpr int kSmsPerGpc = 18;
  static constexpr size_t kL2Bytes = 50u << 20;
};
size_t device_memory_capacity();  // DAPO_CUDA_EMU_MEMORY_MB, default 8 GiB

// ---- errors ----
cudaError_t ret(cudaError_t e);     // records a failure as the thread's last error
cudaError_t sticky_error();         // the context's sticky error (a fault), or cudaSuccess
void set_sticky(cudaError_t e);
void clear_errors();  // cudaDeviceReset: a new context has no sticky error
void warn(const char* format, ...) __attribute__((format(printf, 1, 2)));
bool verbose();                     // DAPO_CUDA_EMU_VERBOSE=1

// ---- memory ----
bool is_device_range(const void* p, size_t bytes);  // inside one device allocation
bool is_device_pointer(const void* p);
void release_all();  // cudaDeviceReset

// ---- kernels ----
struct KernelInfo {
  std::string name;
  BindArgs bind = nullptr;
  unsigned max_threads = 0;  // __launch_bounds__, 0 when none
  size_t max_dynamic_smem = DeviceLimits::kSharedPerBlock;
  bool non_portable_cluster = false;
  size_t static_smem_seen = 0;  // the largest static shared memory a run has used (as nvcc counts it)
};
KernelInfo& kernel_info(const void* fn);  // registered or not
cudaError_t check_launch(const KernelLaunch& l, const KernelInfo& info);
void run_kernel(const KernelLaunch& l);  // executes now; a fault sets the sticky error

// ---- streams: ops run at once, or are recorded while their stream captures ----
using Op = std::function<void()>;
cudaError_t submit(cudaStream_t stream, const char* what, Op op);
cudaError_t capture_guard(const char* what);  // a synchronous call made during a capture

// ---- the scheduler's records ----
enum class ThreadState { Fresh, Ready, Blocked, Spinning, Done };

struct Fiber {
  char* base = nullptr;  // lowest address of the usable stack
  size_t size = 0;
  void* sp = nullptr;
  void* fake_stack = nullptr;  // AddressSanitizer's per-fiber state
  bool dirty = false;          // abandoned mid-run: its stack holds stale poison
};

struct AsyncCopy {
  void* dst;
  const void* src;
  unsigned bytes, src_bytes;
};

struct Block;

struct Thread : ThreadView {
  Block* block = nullptr;
  unsigned warp = 0;
  ThreadState state = ThreadState::Fresh;
  Fiber* fiber = nullptr;
  const char* waiting_at = "";
  const void* waiting_pc = nullptr;  // the device code's call into the wait, for deadlock reports
  std::vector<AsyncCopy> pending;
  std::deque<std::vector<AsyncCopy>> groups;
};

struct WarpState {
  unsigned lanes = 0;    // lanes that exist
  unsigned arrived = 0;  // lanes waiting at a collective
  unsigned exited = 0;   // lanes that have ended
  WarpOp op[32];
  unsigned mask[32];
  WarpSlot in[32], out[32];
};

struct MBarrier {
  unsigned count = 0, pending = 0, phase = 0;
  long long tx = 0;
  std::vector<AsyncCopy> copies;  // bulk copies that complete on it, landing when it is waited on
};

struct Cluster;

struct Block {
  uint3 idx{0, 0, 0};
  unsigned rank = 0;
  Cluster* cluster = nullptr;
  Thread* threads = nullptr;
  unsigned n_threads = 0;
  std::vector<WarpState> warps;
  unsigned live = 0, at_barrier = 0;
  int barrier_count = 0, barrier_and = 1, barrier_or = 0;
  int result_count = 0, result_and = 1, result_or = 0;
  std::vector<Thread*> barrier_waiters;
  // Shared memory: [dynamic | redzone | static variables ...] in one window.
  unsigned char* window = nullptr;
  size_t dynamic_bytes = 0, static_top = 0;
  size_t static_bytes = 0;  // the static variables as nvcc lays them out (each at its alignment), no redzones
  struct Static {
    const void* key;
    size_t offset, bytes;
  };
  std::vector<Static> statics;  // the static __shared__ variables, by key
  std::map<unsigned, MBarrier> mbarriers;               // by shared address
  bool exited = false;
};

struct Cluster {
  std::vector<Block> blocks;
  unsigned live = 0, at_barrier = 0;
  std::vector<Thread*> barrier_waiters;
};

constexpr size_t kWindowBytes = size_t(1) << 20;  // shared addresses below 1 MiB; rank above
constexpr size_t kStaticArenaOffset = 256 << 10;   // past the largest dynamic allocation

Thread& current();     // the running fiber's thread (faults when none runs)
Block& current_block();
void block_thread(const char* where);  // parks the running thread until another wakes it
// Where device code called into the runtime: set by the entry points that may wait, so a
// deadlock report names the source line (source_line symbolizes it with addr2line).
#define EMU_NOTE_CALLER() (::emu::current().waiting_pc = __builtin_return_address(0))
std::string source_line(const void* pc);
void wake(Thread& t);
void note_progress();
void check_pending_fault();
void note_async_fault(int cuda_error, const std::string& what);  // from a sanitizer callback

}  // namespace emu
