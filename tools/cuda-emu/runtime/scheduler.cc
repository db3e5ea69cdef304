// The execution model. A launch runs its clusters one after another (a block is a cluster of
// one); all threads of a cluster are fibers of the calling CPU thread, each on its own stack,
// run one at a time from a queue. A thread runs until it must wait (a barrier, a warp
// collective, a cluster barrier, an mbarrier it polls) or ends; the thread that completes a
// barrier or a collective wakes the others. Nothing else preempts a thread, so atomics are
// atomic and a fault stops the launch where it happened.
//
// A thread that never waits runs start to end on a reused stack, so plain kernels cost about a
// function call per thread. Faults (a trap, a deadlock, a collective whose lanes diverge or have
// exited, a shared-memory limit, an access AddressSanitizer or the alignment check reports) end
// the launch with a sticky error and a message naming the kernel, block and thread.
#include <sys/mman.h>
#include <xmmintrin.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "internal.h"

extern "C" void emu_fiber_switch(void** save_sp, void* to_sp);

uint3 threadIdx{0, 0, 0};
uint3 blockIdx{0, 0, 0};
dim3 blockDim;
dim3 gridDim;

namespace emu {

ThreadView* g_thread = nullptr;

namespace {

constexpr size_t kStaticArenaBytes = 64 << 10;  // 48 KiB of static shared memory, and redzones
constexpr size_t kWindowAlloc = kStaticArenaOffset + kStaticArenaBytes;
constexpr size_t kRedzone = 32;
constexpr unsigned char kGarbage = 0xff;  // NaN as fp32 and bf16, -1 as integers

struct Run {
  const KernelLaunch* launch = nullptr;
  KernelInfo* info = nullptr;
  Cluster cluster;
  std::vector<Thread> threads;
  std::deque<Thread*> queue;
  Thread* running = nullptr;
  void* sched_sp = nullptr;
  void* sched_fake_stack = nullptr;
  const void* sched_bottom = nullptr;
  size_t sched_size = 0;
  bool faulted = false;
  cudaError_t rejected = cudaSuccess;  // the kernel's own limits refuse the launch (not sticky)
  int fault_error = 0;
  std::string fault_message;
  int pending_error = 0;
  std::string pending_message;
  size_t spins = 0;
};
Run* g_run = nullptr;

// ---- stacks ----

size_t stack_bytes() {
  static const size_t bytes = [] {
    const char* v = std::getenv("DAPO_CUDA_EMU_STACK_KB");
    const long kb = v && *v ? std::atol(v) : (EMU_ASAN ? 512 : 256);
    return static_cast<size_t>(kb > 64 ? kb : 64) << 10;
  }();
  return bytes;
}

std::vector<Fiber*>& g_free_fibers = *new std::vector<Fiber*>;  // never destroyed: see errors.cc

Fiber* acquire_fiber() {
  if (!g_free_fibers.empty()) {
    Fiber* f = g_free_fibers.back();
    g_free_fibers.pop_back();
    return f;
  }
  const size_t guard = 4096, size = stack_bytes();
  void* mem = mmap(nullptr, size + guard, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mem == MAP_FAILED) {
    std::fprintf(stderr, "[cuda-emu] cannot map a %zu-byte fiber stack\n", size);
    std::abort();
  }
  mprotect(mem, guard, PROT_NONE);  // an overflow faults instead of corrupting a neighbour
  Fiber* f = new Fiber;
  f->base = static_cast<char*>(mem) + guard;
  f->size = size;
  return f;
}

void release_fiber(Fiber* f) {
#if EMU_ASAN
  // A fiber never returns from its frames (it switches away for good), so their redzones stay
  // poisoned: clear them, or the next thread on this stack trips on them. An abandoned fiber may
  // have stopped anywhere: clear all of it.
  char* top = f->base + f->size;
  char* from = f->dirty || !f->sp ? f->base : std::max(f->base, static_cast<char*>(f->sp) - 256);
  ASAN_UNPOISON_MEMORY_REGION(from, static_cast<size_t>(top - from));
#endif
  f->dirty = false;
  f->fake_stack = nullptr;
  g_free_fibers.push_back(f);
}

// ---- switching ----

void resume(Thread* t) {
  g_run->running = t;
  g_thread = t;
  threadIdx = t->thread_idx;
  blockIdx = t->block_idx;
  blockDim = t->block_dim;
  gridDim = t->grid_dim;
#if EMU_ASAN
  __sanitizer_start_switch_fiber(&g_run->sched_fake_stack, t->fiber->base, t->fiber->size);
#endif
  emu_fiber_switch(&g_run->sched_sp, t->fiber->sp);
#if EMU_ASAN
  __sanitizer_finish_switch_fiber(g_run->sched_fake_stack, nullptr, nullptr);
#endif
  g_thread = nullptr;
  g_run->running = nullptr;
}

void to_scheduler(bool exiting) {
  Thread& t = *g_run->running;
#if EMU_ASAN
  __sanitizer_start_switch_fiber(exiting ? nullptr : &t.fiber->fake_stack, g_run->sched_bottom, g_run->sched_size);
#else
  (void)exiting;
#endif
  emu_fiber_switch(&t.fiber->sp, g_run->sched_sp);
#if EMU_ASAN
  __sanitizer_finish_switch_fiber(t.fiber->fake_stack, &g_run->sched_bottom, &g_run->sched_size);
#endif
}

void thread_exit();

// The first code a fiber runs: the kernel, then the exit. Never returns.
__attribute__((no_sanitize_address)) void fiber_entry() {
#if EMU_ASAN
  __sanitizer_finish_switch_fiber(nullptr, &g_run->sched_bottom, &g_run->sched_size);
#endif
  (*g_run->launch->body)();
  thread_exit();
  std::abort();
}

void start_fiber(Thread* t) {
  t->fiber = acquire_fiber();
  // A stack whose saved registers pop into fiber_entry: [6 registers][fiber_entry][0].
  uintptr_t top = reinterpret_cast<uintptr_t>(t->fiber->base + t->fiber->size) & ~uintptr_t(15);
  uintptr_t* slot = reinterpret_cast<uintptr_t*>(top - 16);
  slot[0] = reinterpret_cast<uintptr_t>(&fiber_entry);
  slot[1] = 0;
  uintptr_t* sp = slot - 6;
  for (int r = 0; r < 6; ++r) sp[r] = 0;
  t->fiber->sp = sp;
}

// ---- shared memory windows: one per block of a cluster, reused across launches ----

std::vector<unsigned char*>& g_windows = *new std::vector<unsigned char*>;

unsigned char* window_for(unsigned rank) {
  while (g_windows.size() <= rank) {
    void* mem = std::aligned_alloc(4096, kWindowAlloc);
    if (!mem) {
      std::fprintf(stderr, "[cuda-emu] cannot allocate shared memory windows\n");
      std::abort();
    }
#if EMU_ASAN
    ASAN_POISON_MEMORY_REGION(mem, kWindowAlloc);
#endif
    g_windows.push_back(static_cast<unsigned char*>(mem));
  }
  return g_windows[rank];
}

void open_range(unsigned char* p, size_t bytes) {
#if EMU_ASAN
  ASAN_UNPOISON_MEMORY_REGION(p, bytes);
#endif
  std::memset(p, kGarbage, bytes);
}

void close_range(unsigned char* p, size_t bytes) {
  std::memset(p, kGarbage, bytes);  // what a late reader of this block's memory gets without ASan
#if EMU_ASAN
  ASAN_POISON_MEMORY_REGION(p, bytes);
#endif
}

void block_exited(Block& b) {
  b.exited = true;
  close_range(b.window, b.dynamic_bytes);
  for (const Block::Static& v : b.statics) close_range(b.window + v.offset, v.bytes);  // not the redzones between them
}

// ---- launch setup ----

const char* op_name(WarpOp op) {
  switch (op) {
    case WarpOp::Shfl: return "__shfl_sync";
    case WarpOp::Ballot: return "__ballot_sync";
    case WarpOp::All: return "__all_sync";
    case WarpOp::Any: return "__any_sync";
    case WarpOp::SyncWarp: return "__syncwarp";
    case WarpOp::Ldmatrix: return "ldmatrix";
    case WarpOp::Mma: return "mma.sync";
    case WarpOp::Match: return "__match_sync";
  }
  return "?";
}

void setup_block(Run& run, Block& b, const uint3& idx, unsigned rank, unsigned cluster_size, Thread* threads) {
  const KernelLaunch& l = *run.launch;
  const unsigned n = l.block.x * l.block.y * l.block.z;
  b.idx = idx;
  b.rank = rank;
  b.cluster = &run.cluster;
  b.threads = threads;
  b.n_threads = n;
  b.warps.assign((n + 31) / 32, WarpState());
  for (unsigned w = 0; w < b.warps.size(); ++w) {
    const unsigned lanes = n - w * 32 < 32 ? n - w * 32 : 32;
    b.warps[w].lanes = lanes == 32 ? ~0u : (1u << lanes) - 1;
  }
  b.live = n;
  b.at_barrier = 0;
  b.barrier_count = 0, b.barrier_and = 1, b.barrier_or = 0;
  b.barrier_waiters.clear();
  b.window = window_for(rank);
  b.dynamic_bytes = l.smem;
  b.static_top = kStaticArenaOffset;
  b.static_bytes = 0;
  b.statics.clear();
  b.mbarriers.clear();
  b.exited = false;
  open_range(b.window, l.smem);
  for (unsigned i = 0; i < n; ++i) {
    Thread& t = threads[i];
    t.thread_idx = uint3{i % l.block.x, (i / l.block.x) % l.block.y, i / (l.block.x * l.block.y)};
    t.block_idx = idx;
    t.block_dim = l.block;
    t.grid_dim = l.grid;
    t.lane = i % 32;
    t.linear = i;
    t.cluster_rank = rank;
    t.cluster_size = cluster_size;
    t.cluster_dim = l.cluster;
    t.block = &b;
    t.warp = i / 32;
    t.state = ThreadState::Fresh;
    t.fiber = nullptr;
    t.waiting_at = "";
    t.pending.clear();
    t.groups.clear();
  }
}

std::string where(const Thread& t) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "block (%u,%u,%u) thread (%u,%u,%u)", t.block_idx.x, t.block_idx.y, t.block_idx.z,
                t.thread_idx.x, t.thread_idx.y, t.thread_idx.z);
  return buf;
}

void record_fault(Run& run, int error, const std::string& message) {
  if (run.faulted) return;
  run.faulted = true;
  run.fault_error = error;
  run.fault_message = message;
}

std::string describe_waiters(Run& run) {
  std::string s;
  int shown = 0;
  for (Thread& t : run.threads) {
    if (t.state != ThreadState::Blocked && t.state != ThreadState::Spinning) continue;
    if (shown++ >= 6) continue;
    s += "\n    " + where(t) + " waits at " + t.waiting_at;
    const std::string line = source_line(t.waiting_pc);
    if (!line.empty()) s += " (" + line + ")";
  }
  if (shown > 6) s += "\n    ... and " + std::to_string(shown - 6) + " more";
  return s;
}

void run_cluster(Run& run) {
  for (Thread& t : run.threads) run.queue.push_back(&t);
  run.spins = 0;
  while (!run.queue.empty()) {
    Thread* t = run.queue.front();
    run.queue.pop_front();
    if (t->state == ThreadState::Fresh) start_fiber(t);
    t->state = ThreadState::Ready;
    resume(t);
    if (!run.faulted && run.pending_error) {
      record_fault(run, run.pending_error, run.pending_message + " (in " + where(*t) + ")");
      if (t->fiber) t->fiber->dirty = true;
    }
    if (run.faulted || run.rejected) break;
    switch (t->state) {
      case ThreadState::Done:
        release_fiber(t->fiber);
        t->fiber = nullptr;
        break;
      case ThreadState::Spinning:
        run.queue.push_back(t);
        if (++run.spins > 2 * run.queue.size() + 64) {
          record_fault(run, cudaErrorLaunchTimeout,
                       "deadlock: every waiting thread polls for something no thread will do" + describe_waiters(run));
          t->fiber->dirty = true;
        }
        break;
      case ThreadState::Ready:
        run.queue.push_back(t);
        break;
      default:
        break;
    }
    if (run.faulted) break;
  }
  if (!run.faulted && !run.rejected)
    for (Thread& t : run.threads)
      if (t.state != ThreadState::Done) {
        record_fault(run, cudaErrorLaunchTimeout,
                     "deadlock: threads wait at barriers or collectives that cannot complete" + describe_waiters(run));
        break;
      }
  if (run.faulted || run.rejected) {
    run.queue.clear();
    for (Thread& t : run.threads)
      if (t.fiber) {  // abandoned mid-run: the stack may hold stale AddressSanitizer poison
        t.fiber->dirty = true;
        release_fiber(t.fiber);
        t.fiber = nullptr;
      }
  }
}

// Blocks in launch order: x fastest, then y, then z; a cluster's blocks run together.
void run_launch(Run& run) {
  const KernelLaunch& l = *run.launch;
  const dim3 c = l.cluster;
  const unsigned cluster_size = c.x * c.y * c.z;
  const unsigned n = l.block.x * l.block.y * l.block.z;
  run.threads.assign(static_cast<size_t>(cluster_size) * n, Thread());
  run.cluster.blocks.assign(cluster_size, Block());
  for (unsigned cz = 0; cz < l.grid.z / c.z && !run.faulted && !run.rejected; ++cz)
    for (unsigned cy = 0; cy < l.grid.y / c.y && !run.faulted && !run.rejected; ++cy)
      for (unsigned cx = 0; cx < l.grid.x / c.x && !run.faulted && !run.rejected; ++cx) {
        for (unsigned r = 0; r < cluster_size; ++r) {
          const uint3 idx{cx * c.x + r % c.x, cy * c.y + (r / c.x) % c.y, cz * c.z + r / (c.x * c.y)};
          setup_block(run, run.cluster.blocks[r], idx, r, cluster_size, &run.threads[static_cast<size_t>(r) * n]);
        }
        run.cluster.live = cluster_size * n;
        run.cluster.at_barrier = 0;
        run.cluster.barrier_waiters.clear();
        run_cluster(run);
        for (Block& b : run.cluster.blocks)
          if (!b.exited) block_exited(b);
      }
}

}  // namespace

// ---- validation and execution of a launch ----

// What any launch must satisfy.
cudaError_t check_shape(const KernelLaunch& l, const char* name) {
  const unsigned long long threads = 1ull * l.block.x * l.block.y * l.block.z;
  if (threads == 0 || l.block.x > 1024 || l.block.y > 1024 || l.block.z > 64 || threads > 1024) {
    warn("%s: block (%u,%u,%u) is not a valid block shape", name, l.block.x, l.block.y, l.block.z);
    return cudaErrorInvalidConfiguration;
  }
  if (l.grid.x == 0 || l.grid.y == 0 || l.grid.z == 0 || l.grid.x > 0x7fffffffu || l.grid.y > 65535 ||
      l.grid.z > 65535) {
    warn("%s: grid (%u,%u,%u) is not a valid grid", name, l.grid.x, l.grid.y, l.grid.z);
    return cudaErrorInvalidConfiguration;
  }
  return cudaSuccess;
}

// What the kernel's own limits allow: __launch_bounds__, shared memory attributes, clusters.
cudaError_t check_launch(const KernelLaunch& l, const KernelInfo& info) {
  if (cudaError_t s = check_shape(l, info.name.c_str())) return s;
  const unsigned long long threads = 1ull * l.block.x * l.block.y * l.block.z;
  if (info.max_threads && threads > info.max_threads) {
    warn("%s: %llu threads a block, above its __launch_bounds__ of %u", info.name.c_str(), threads, info.max_threads);
    return cudaErrorLaunchOutOfResources;
  }
  if (l.smem > info.max_dynamic_smem) {
    warn("%s: %zu bytes of dynamic shared memory, above its limit of %zu (cudaFuncAttributeMaxDynamicSharedMemorySize)",
         info.name.c_str(), l.smem, info.max_dynamic_smem);
    return cudaErrorInvalidValue;
  }
  if (l.smem + info.static_smem_seen > DeviceLimits::kSharedPerBlockOptin) {
    warn("%s: %zu bytes of dynamic and %zu of static shared memory exceed the device's %zu", info.name.c_str(), l.smem,
         info.static_smem_seen, DeviceLimits::kSharedPerBlockOptin);
    return cudaErrorInvalidValue;
  }
  const dim3 c = l.cluster;
  const unsigned cluster = c.x * c.y * c.z;
  if (cluster == 0 || cluster > DeviceLimits::kMaxCluster ||
      (cluster > DeviceLimits::kMaxPortableCluster && !info.non_portable_cluster)) {
    warn("%s: a cluster of %u blocks (the limit is 8, or 16 with cudaFuncAttributeNonPortableClusterSizeAllowed)",
         info.name.c_str(), cluster);
    return cudaErrorInvalidClusterSize;
  }
  if (l.grid.x % c.x || l.grid.y % c.y || l.grid.z % c.z) {
    warn("%s: grid (%u,%u,%u) is not a whole number of clusters (%u,%u,%u)", info.name.c_str(), l.grid.x, l.grid.y,
         l.grid.z, c.x, c.y, c.z);
    return cudaErrorInvalidClusterSize;
  }
  if (cluster > 1) {
    cudaLaunchAttribute attr{};
    attr.id = cudaLaunchAttributeClusterDimension;
    attr.val.clusterDim.x = c.x, attr.val.clusterDim.y = c.y, attr.val.clusterDim.z = c.z;
    cudaLaunchConfig_t cfg{l.grid, l.block, l.smem, l.stream, &attr, 1};
    int resident = 0;
    if (cudaOccupancyMaxActiveClusters(&resident, l.fn, &cfg) != cudaSuccess || resident == 0) {
      cudaGetLastError();
      warn("%s: a cluster of %u blocks of %llu threads and %zu bytes of shared memory cannot be resident",
           info.name.c_str(), cluster, threads, l.smem);
      return cudaErrorInvalidClusterSize;
    }
  }
  return cudaSuccess;
}

void run_kernel(const KernelLaunch& l) {
  Run run;
  run.launch = &l;
  run.info = l.fn ? &kernel_info(l.fn) : nullptr;  // else set by the first thread's kernel_started
  if (verbose())
    warn("launch %s grid (%u,%u,%u) block (%u,%u,%u) cluster (%u,%u,%u) smem %zu",
         run.info ? run.info->name.c_str() : l.expression, l.grid.x,
         l.grid.y, l.grid.z, l.block.x, l.block.y, l.block.z, l.cluster.x, l.cluster.y, l.cluster.z, l.smem);
  Run* outer = g_run;
  g_run = &run;
  // --use_fast_math flushes fp32 denormals to zero on the device (-ftz=true): so does the CPU here.
  const unsigned mxcsr = _mm_getcsr();
  _mm_setcsr(mxcsr | 0x8040u);  // FTZ | DAZ
  run_launch(run);
  _mm_setcsr(mxcsr);
  g_run = outer;
  if (run.rejected) ret(run.rejected);  // as a launch error: cudaGetLastError reports it
  if (run.faulted) {
    warn("kernel %s failed: %s", run.info ? run.info->name.c_str() : l.expression, run.fault_message.c_str());
    set_sticky(static_cast<cudaError_t>(run.fault_error));
  }
}

cudaError_t launch(const KernelLaunch& l) {
  Lock lock(device_mutex());
  if (cudaError_t s = sticky_error()) return s;
  const char* name = l.expression;
  if (l.fn) {
    KernelInfo& info = kernel_info(l.fn);
    if (cudaError_t s = check_launch(l, info)) return ret(s);
    name = info.name.c_str();
  } else if (cudaError_t s = check_shape(l, l.expression)) {
    return ret(s);
  }
  KernelLaunch copy = l;
  return ret(submit(l.stream, name, [copy] { run_kernel(copy); }));
}

void kernel_started(const void* fn, unsigned max_threads) {
  Run& run = *g_run;
  if (run.info) return;
  run.info = &kernel_info(fn);
  if (max_threads) run.info->max_threads = max_threads;
  const cudaError_t s = check_launch(*run.launch, *run.info);
  if (s == cudaSuccess) return;
  // Refused before any of the kernel ran: no fault, the launch's error is the refusal.
  run.rejected = s;
  Thread& t = current();
  t.fiber->dirty = true;
  t.state = ThreadState::Blocked;
  to_scheduler(false);
  std::abort();
}

// ---- what device code calls ----

Thread& current() {
  if (!g_run || !g_run->running) {
    std::fprintf(stderr, "[cuda-emu] device code called outside a kernel\n");
    std::abort();
  }
  return *g_run->running;
}

Block& current_block() { return *current().block; }

void fault(int error, const char* format, ...) {
  char text[4096];
  va_list args;
  va_start(args, format);
  std::vsnprintf(text, sizeof text, format, args);
  va_end(args);
  if (!g_run || !g_run->running) {
    std::fprintf(stderr, "[cuda-emu] device fault outside a kernel: %s\n", text);
    std::abort();
  }
  Thread& t = *g_run->running;
  record_fault(*g_run, error, std::string(text) + " (in " + where(t) + ")");
  t.fiber->dirty = true;
  t.state = ThreadState::Blocked;
  to_scheduler(false);
  std::abort();  // the scheduler never resumes a faulted launch
}

void note_async_fault(int error, const std::string& what) {
  if (!g_run || !g_run->running || g_run->pending_error) return;
  g_run->pending_error = error;
  g_run->pending_message = what;
}

void check_pending_fault() {
  if (g_run && g_run->pending_error) fault(g_run->pending_error, "%s", g_run->pending_message.c_str());
}

void note_progress() {
  if (g_run) g_run->spins = 0;
}

void block_thread(const char* at) {
  Thread& t = current();
  t.state = ThreadState::Blocked;
  t.waiting_at = at;
  to_scheduler(false);
  check_pending_fault();
}

void wake(Thread& t) {
  t.state = ThreadState::Ready;
  t.waiting_at = "";
  g_run->queue.push_back(&t);
}

void spin_yield() {
  Thread& t = current();
  check_pending_fault();
  t.state = ThreadState::Spinning;
  t.waiting_at = "a polling loop (mbarrier try_wait)";
  to_scheduler(false);
  check_pending_fault();
}

namespace {

// Ends the running thread: it no longer counts at barriers; a collective waiting for it faults.
void thread_exit() {
  Thread& t = current();
  check_pending_fault();
  Block& b = *t.block;
  WarpState& w = b.warps[t.warp];
  const unsigned bit = 1u << t.lane;
  for (unsigned l = 0; l < 32; ++l)
    if ((w.arrived >> l & 1u) && (w.mask[l] & bit))
      fault(cudaErrorIllegalInstruction, "lane %u exits while lane %u waits for it at %s (mask 0x%08x)", t.lane, l,
            op_name(w.op[l]), w.mask[l]);
  t.state = ThreadState::Done;
  w.exited |= bit;
  note_progress();
  --b.live;
  if (b.at_barrier > 0 && b.at_barrier == b.live) {
    b.at_barrier = 0;
    b.result_count = b.barrier_count, b.result_and = b.barrier_and, b.result_or = b.barrier_or;
    b.barrier_count = 0, b.barrier_and = 1, b.barrier_or = 0;
    for (Thread* o : b.barrier_waiters) wake(*o);
    b.barrier_waiters.clear();
  }
  Cluster& c = *b.cluster;
  --c.live;
  if (c.at_barrier > 0 && c.at_barrier == c.live) {
    c.at_barrier = 0;
    for (Thread* o : c.barrier_waiters) wake(*o);
    c.barrier_waiters.clear();
  }
  if (b.live == 0) block_exited(b);
  to_scheduler(true);
}

int block_barrier(int predicate) {
  Thread& t = current();
  check_pending_fault();
  Block& b = *t.block;
  note_progress();
  b.barrier_count += predicate != 0;
  b.barrier_and &= predicate != 0;
  b.barrier_or |= predicate != 0;
  if (++b.at_barrier == b.live) {
    b.at_barrier = 0;
    b.result_count = b.barrier_count, b.result_and = b.barrier_and, b.result_or = b.barrier_or;
    b.barrier_count = 0, b.barrier_and = 1, b.barrier_or = 0;
    for (Thread* o : b.barrier_waiters) wake(*o);
    b.barrier_waiters.clear();
    return b.result_count;
  }
  b.barrier_waiters.push_back(&t);
  block_thread("__syncthreads");
  return b.result_count;
}

}  // namespace

void syncthreads() {
  EMU_NOTE_CALLER();
  block_barrier(1);
}
int syncthreads_count(int p) {
  EMU_NOTE_CALLER();
  return block_barrier(p);
}
int syncthreads_and(int p) {
  EMU_NOTE_CALLER();
  block_barrier(p);
  return current_block().result_and;
}
int syncthreads_or(int p) {
  EMU_NOTE_CALLER();
  block_barrier(p);
  return current_block().result_or;
}

void cluster_sync() {
  EMU_NOTE_CALLER();
  Thread& t = current();
  check_pending_fault();
  Cluster& c = *t.block->cluster;
  note_progress();
  if (++c.at_barrier == c.live) {
    c.at_barrier = 0;
    for (Thread* o : c.barrier_waiters) wake(*o);
    c.barrier_waiters.clear();
    return;
  }
  c.barrier_waiters.push_back(&t);
  block_thread("cluster.sync()");
}

// ---- warp collectives ----

namespace {

WarpSlot collective(WarpOp op, unsigned mask, const WarpSlot& mine, WarpFn fn, const void* extra) {
  Thread& t = current();
  check_pending_fault();
  Block& b = *t.block;
  WarpState& w = b.warps[t.warp];
  const unsigned lane = t.lane, bit = 1u << lane;
  if (!(mask & bit))
    fault(cudaErrorIllegalInstruction, "%s with mask 0x%08x, which leaves out the calling lane %u", op_name(op), mask,
          lane);
  if (mask & ~w.lanes)
    fault(cudaErrorIllegalInstruction, "%s with mask 0x%08x names lanes the block does not have (warp lanes 0x%08x)",
          op_name(op), mask, w.lanes);
  // Only lanes of the mask are looked at (bit by bit): this runs for every lane of every collective.
  if (const unsigned gone = w.exited & mask)
    fault(cudaErrorIllegalInstruction, "%s (mask 0x%08x) waits for lane %d, which has exited", op_name(op), mask,
          __builtin_ctz(gone));
  for (unsigned waiting = w.arrived & mask & ~bit; waiting; waiting &= waiting - 1) {
    const unsigned l = static_cast<unsigned>(__builtin_ctz(waiting));
    if (w.op[l] != op || w.mask[l] != mask)
      fault(cudaErrorIllegalInstruction, "divergent warp: lane %u is at %s (mask 0x%08x) while lane %u is at %s (mask 0x%08x)",
            lane, op_name(op), mask, l, op_name(w.op[l]), w.mask[l]);
  }
  note_progress();
  w.op[lane] = op;
  w.mask[lane] = mask;
  w.in[lane] = mine;
  w.arrived |= bit;
  if ((w.arrived & mask) == mask) {
    fn(w.in, w.out, mask, extra);
    w.arrived &= ~mask;
    for (unsigned others = mask & ~bit; others; others &= others - 1)
      wake(b.threads[t.warp * 32 + static_cast<unsigned>(__builtin_ctz(others))]);
    return w.out[lane];
  }
  block_thread(op_name(op));
  return w.out[lane];
}

}  // namespace

WarpSlot warp_collective(WarpOp op, unsigned mask, const WarpSlot& mine, WarpFn fn, const void* extra) {
  EMU_NOTE_CALLER();
  return collective(op, mask, mine, fn, extra);
}

void shfl_fn(const WarpSlot* in, WarpSlot* out, unsigned mask, const void* extra) {
  const ShflArgs& a = *static_cast<const ShflArgs*>(extra);
  const int width = a.width;
  for (int l = 0; l < 32; ++l) {
    if (!(mask >> l & 1u)) continue;
    int arg;
    std::memcpy(&arg, in[l].bytes + a.arg_offset, sizeof(int));
    const int base = l & ~(width - 1);
    int src = l;
    switch (a.kind) {
      case ShflKind::Idx: src = base + (arg & (width - 1)); break;
      case ShflKind::Up: src = (l - base) >= arg ? l - arg : l; break;
      case ShflKind::Down: src = (l - base) + arg < width ? l + arg : l; break;
      case ShflKind::Xor: src = base + (((l - base) ^ arg) & (width - 1)); break;
    }
    if (!(mask >> src & 1u)) {
      // Reading a lane outside the mask is undefined: give garbage, as the hardware may.
      std::memset(out[l].bytes, 0xff, sizeof out[l].bytes);
      continue;
    }
    out[l] = in[src];
  }
}

namespace {

void ballot_fn(const WarpSlot* in, WarpSlot* out, unsigned mask, const void*) {
  unsigned bits = 0;
  for (int l = 0; l < 32; ++l)
    if ((mask >> l & 1u) && from_slot<int>(in[l]) != 0) bits |= 1u << l;
  for (int l = 0; l < 32; ++l) out[l] = slot_of(bits);
}

}  // namespace

unsigned ballot(unsigned mask, int p) {
  EMU_NOTE_CALLER();
  return from_slot<unsigned>(collective(WarpOp::Ballot, mask, slot_of(p ? 1 : 0), ballot_fn, nullptr));
}
int vote_all(unsigned mask, int p) {
  EMU_NOTE_CALLER();
  return from_slot<unsigned>(collective(WarpOp::All, mask, slot_of(p ? 1 : 0), ballot_fn, nullptr)) == mask;
}
int vote_any(unsigned mask, int p) {
  EMU_NOTE_CALLER();
  return from_slot<unsigned>(collective(WarpOp::Any, mask, slot_of(p ? 1 : 0), ballot_fn, nullptr)) != 0;
}
void syncwarp(unsigned mask) {
  EMU_NOTE_CALLER();
  collective(WarpOp::SyncWarp, mask, WarpSlot(), ballot_fn, nullptr);
}

// ---- shared memory ----

void* dynamic_shared() {
  Block& b = current_block();
  return b.window;
}

void* shared_var(const void* key, size_t bytes, size_t align) {
  Thread& t = current();
  Block& b = *t.block;
  for (const Block::Static& v : b.statics)
    if (v.key == key) return b.window + v.offset;
  if (align == 0 || (align & (align - 1))) align = 16;
  // At the worst alignment its type allows (a float array at 4 mod 16), so code that assumes
  // more (a float4 view of a float[]) is caught on the emulator, not by luck on a GPU.
  size_t offset = (b.static_top + kRedzone + 127) / 128 * 128;
  if (align < 16) offset += align;
  if (offset + bytes + kRedzone > kWindowAlloc)
    fault(cudaErrorInvalidValue, "static __shared__ variables exceed 48 KiB (nvcc refuses this)");
  b.static_top = offset + bytes;
  b.statics.push_back(Block::Static{key, offset, bytes});
  // The limits count what the kernel would use on a GPU, not the emulator's redzones and padding.
  b.static_bytes = (b.static_bytes + align - 1) / align * align + bytes;
  if (g_run->info && b.static_bytes > g_run->info->static_smem_seen) g_run->info->static_smem_seen = b.static_bytes;
  if (b.dynamic_bytes + b.static_bytes > DeviceLimits::kSharedPerBlockOptin)
    fault(cudaErrorInvalidValue, "%zu bytes of dynamic and %zu of static shared memory exceed the device's %zu bytes a block",
          b.dynamic_bytes, b.static_bytes, DeviceLimits::kSharedPerBlockOptin);
  open_range(b.window + offset, bytes);
  return b.window + offset;
}

unsigned shared_rank_of(const void* p) {
  if (!g_run || !g_run->running) return ~0u;
  const unsigned char* c = static_cast<const unsigned char*>(p);
  for (Block& b : g_run->cluster.blocks)
    if (c >= b.window && c < b.window + kWindowAlloc) return b.rank;
  return ~0u;
}

unsigned shared_address(const void* p) {
  Block& b = current_block();
  const unsigned rank = shared_rank_of(p);
  if (rank == ~0u)
    fault(cudaErrorInvalidAddressSpace, "cvta.to.shared of %p, which is not shared memory", p);
  const Block& owner = b.cluster->blocks[rank];
  const unsigned offset = static_cast<unsigned>(static_cast<const unsigned char*>(p) - owner.window);
  return rank == b.rank ? offset : static_cast<unsigned>((rank + 1) * kWindowBytes + offset);
}

void* shared_pointer(unsigned address) {
  Block& b = current_block();
  const unsigned hi = static_cast<unsigned>(address / kWindowBytes), offset = static_cast<unsigned>(address % kWindowBytes);
  const unsigned rank = hi == 0 ? b.rank : hi - 1;
  if (rank >= b.cluster->blocks.size() || offset >= kWindowAlloc)
    fault(cudaErrorIllegalAddress, "shared address 0x%x is outside the cluster's shared memory", address);
  return b.cluster->blocks[rank].window + offset;
}

void* map_shared_rank(const void* p, unsigned rank) {
  Block& b = current_block();
  Cluster& c = *b.cluster;
  if (rank >= c.blocks.size())
    fault(cudaErrorIllegalAddress, "map_shared_rank to rank %u of a cluster of %zu blocks", rank, c.blocks.size());
  const unsigned from = shared_rank_of(p);
  if (from == ~0u) fault(cudaErrorIllegalAddress, "map_shared_rank of %p, which is not shared memory", p);
  if (c.blocks[rank].exited)
    fault(cudaErrorIllegalAddress, "map_shared_rank to block rank %u, which has exited (its shared memory is gone)", rank);
  const size_t offset = static_cast<size_t>(static_cast<const unsigned char*>(p) - c.blocks[from].window);
  return c.blocks[rank].window + offset;
}

}  // namespace emu

// ---- launches through void** (the kernel registered itself at load) ----

cudaError_t cudaLaunchKernelExC(const cudaLaunchConfig_t* config, const void* func, void** args) {
  emu::Lock lock(emu::device_mutex());
  if (cudaError_t s = emu::sticky_error()) return s;
  emu::KernelInfo& info = emu::kernel_info(func);
  if (!info.bind) {
    emu::warn("cudaLaunchKernelExC: %p is not a __global__ function of this module", func);
    return emu::ret(cudaErrorInvalidValue);
  }
  emu::KernelLaunch l;
  l.fn = func;
  l.expression = info.name.c_str();
  l.grid = config->gridDim;
  l.block = config->blockDim;
  l.smem = config->dynamicSmemBytes;
  l.stream = config->stream;
  l.cluster = emu::cluster_of(config);
  l.body = info.bind(args);
  return emu::launch(l);
}

cudaError_t cudaLaunchKernel(const void* func, dim3 grid, dim3 block, void** args, size_t smem, cudaStream_t stream) {
  cudaLaunchConfig_t config{grid, block, smem, stream, nullptr, 0};
  return cudaLaunchKernelExC(&config, func, args);
}
