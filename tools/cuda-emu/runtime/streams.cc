// Streams, events and graphs. Work runs at once, in the order it is issued (one emulated
// device executes one thing at a time, which is a legal schedule of any stream program). While
// a stream captures, its work (and that of streams joined to the capture through events) is
// recorded instead, and a graph launch replays the recording: kernel parameters and copy
// addresses as they were at capture, memory contents as they are at replay, as on a GPU. Calls
// that a capture forbids (synchronous copies, cudaMalloc, synchronising) fail with
// cudaErrorStreamCaptureUnsupported and invalidate the capture, as the CUDA runtime does.
#include <chrono>
#include <thread>

#include "emu/host.h"
#include "internal.h"

struct EmuCapture {
  cudaStreamCaptureMode mode;
  std::thread::id thread;
  std::vector<std::pair<std::string, emu::Op>> ops;
  bool invalidated = false;
  std::string why;
};

struct EmuStream {
  unsigned flags = 0;
  std::shared_ptr<EmuCapture> capture;  // set while capturing (or joined to a capture)
  bool origin = false;                  // the stream that began the capture
};

struct EmuEvent {
  unsigned flags = 0;
  bool recorded = false;
  double ms = 0;                        // host time when the event's work was done
  std::shared_ptr<EmuCapture> capture;  // recorded inside a capture
};

struct EmuGraph {
  std::vector<std::pair<std::string, emu::Op>> ops;
};

struct EmuGraphExec {
  std::vector<std::pair<std::string, emu::Op>> ops;
};

namespace emu {
namespace {

EmuStream& g_legacy = *new EmuStream;  // stream 0; never destroyed: see errors.cc
std::vector<std::weak_ptr<EmuCapture>>& g_captures = *new std::vector<std::weak_ptr<EmuCapture>>;

EmuStream* resolve(cudaStream_t s) { return s ? s : &g_legacy; }

double now_ms() {
  using namespace std::chrono;
  return duration<double, std::milli>(steady_clock::now().time_since_epoch()).count();
}

void invalidate(EmuCapture& c, const std::string& why) {
  if (!c.invalidated) warn("stream capture invalidated: %s", why.c_str());
  c.invalidated = true;
  if (c.why.empty()) c.why = why;
}

// A capture the calling thread's synchronous call would interfere with (global mode: any
// thread's capture; thread-local mode: this thread's).
std::shared_ptr<EmuCapture> interfering_capture() {
  for (auto& w : g_captures)
    if (auto c = w.lock())
      if (!c->invalidated && (c->mode == cudaStreamCaptureModeGlobal ||
                              (c->mode == cudaStreamCaptureModeThreadLocal && c->thread == std::this_thread::get_id())))
        return c;
  return nullptr;
}

}  // namespace

cudaError_t capture_guard(const char* what) {
  if (auto c = interfering_capture()) {
    invalidate(*c, std::string(what) + " called during a stream capture");
    return ret(cudaErrorStreamCaptureUnsupported);
  }
  return cudaSuccess;
}

cudaError_t submit(cudaStream_t stream, const char* what, Op op) {
  EmuStream* s = resolve(stream);
  if (s->capture) {
    if (s->capture->invalidated) return ret(cudaErrorStreamCaptureInvalidated);
    s->capture->ops.emplace_back(what, std::move(op));
    return cudaSuccess;
  }
  if (s == &g_legacy)
    if (auto c = interfering_capture()) {
      invalidate(*c, std::string(what) + " on the legacy default stream during a capture");
      return ret(cudaErrorStreamCaptureUnsupported);
    }
  op();
  return sticky_error();
}

}  // namespace emu

using emu::Lock;
using emu::ret;

#define EMU_STICKY_CHECK() \
  if (cudaError_t sticky_ = emu::sticky_error()) return sticky_

cudaError_t cudaDeviceSynchronize() {
  Lock lock(emu::device_mutex());
  EMU_STICKY_CHECK();
  return emu::capture_guard("cudaDeviceSynchronize");
}

// A new context: no sticky error, no allocations (streams, events and graphs are not tracked, and
// stay valid here where a GPU would invalidate them).
cudaError_t cudaDeviceReset() {
  Lock lock(emu::device_mutex());
  emu::release_all();
  emu::clear_errors();
  return cudaSuccess;
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned flags) {
  Lock lock(emu::device_mutex());
  EMU_STICKY_CHECK();
  *stream = new EmuStream;
  (*stream)->flags = flags;
  return cudaSuccess;
}

cudaError_t cudaStreamCreate(cudaStream_t* stream) { return cudaStreamCreateWithFlags(stream, cudaStreamDefault); }

cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  Lock lock(emu::device_mutex());
  if (!stream) return ret(cudaErrorInvalidResourceHandle);
  delete stream;
  return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  Lock lock(emu::device_mutex());
  EMU_STICKY_CHECK();
  EmuStream* s = emu::resolve(stream);
  if (s->capture) {
    emu::invalidate(*s->capture, "cudaStreamSynchronize on a capturing stream");
    return ret(cudaErrorStreamCaptureUnsupported);
  }
  return emu::capture_guard("cudaStreamSynchronize");
}

cudaError_t cudaStreamQuery(cudaStream_t stream) {
  Lock lock(emu::device_mutex());
  EMU_STICKY_CHECK();
  if (emu::resolve(stream)->capture) return ret(cudaErrorStreamCaptureUnsupported);
  return cudaSuccess;
}

cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned) {
  Lock lock(emu::device_mutex());
  EMU_STICKY_CHECK();
  if (!event) return ret(cudaErrorInvalidResourceHandle);
  EmuStream* s = emu::resolve(stream);
  if (event->capture && !s->capture) {
    if (s == &emu::g_legacy) return ret(cudaErrorStreamCaptureUnsupported);
    s->capture = event->capture;  // the stream joins the capture (a fork)
  } else if (s->capture && !event->capture && !s->origin) {
    // Waiting on outside work is fine; nothing to record.
  }
  return cudaSuccess;
}

cudaError_t cudaStreamBeginCapture(cudaStream_t stream, cudaStreamCaptureMode mode) {
  Lock lock(emu::device_mutex());
  EMU_STICKY_CHECK();
  EmuStream* s = emu::resolve(stream);
  if (s == &emu::g_legacy) return ret(cudaErrorStreamCaptureUnsupported);
  if (s->capture) return ret(cudaErrorIllegalState);
  auto c = std::make_shared<EmuCapture>();
  c->mode = mode;
  c->thread = std::this_thread::get_id();
  s->capture = c;
  s->origin = true;
  emu::g_captures.push_back(c);
  return cudaSuccess;
}

cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t* graph) {
  Lock lock(emu::device_mutex());
  *graph = nullptr;
  EmuStream* s = emu::resolve(stream);
  if (!s->capture || !s->origin) return ret(cudaErrorStreamCaptureUnmatched);
  std::shared_ptr<EmuCapture> c = s->capture;
  if (c->mode != cudaStreamCaptureModeRelaxed && c->thread != std::this_thread::get_id())
    return ret(cudaErrorStreamCaptureWrongThread);
  s->capture.reset();
  s->origin = false;
  // Streams joined through events leave the capture with it.
  auto& all = emu::g_captures;
  for (size_t i = 0; i < all.size();)
    if (all[i].expired() || all[i].lock() == c) all.erase(all.begin() + static_cast<long>(i));
    else ++i;
  if (c->invalidated) return ret(cudaErrorStreamCaptureInvalidated);
  if (cudaError_t sticky = emu::sticky_error()) return sticky;
  *graph = new EmuGraph{std::move(c->ops)};
  return cudaSuccess;
}

cudaError_t cudaStreamIsCapturing(cudaStream_t stream, cudaStreamCaptureStatus* status) {
  Lock lock(emu::device_mutex());
  EmuStream* s = emu::resolve(stream);
  if (!s->capture) *status = cudaStreamCaptureStatusNone;
  else *status = s->capture->invalidated ? cudaStreamCaptureStatusInvalidated : cudaStreamCaptureStatusActive;
  return cudaSuccess;
}

cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned flags) {
  Lock lock(emu::device_mutex());
  EMU_STICKY_CHECK();
  *event = new EmuEvent;
  (*event)->flags = flags;
  return cudaSuccess;
}

cudaError_t cudaEventCreate(cudaEvent_t* event) { return cudaEventCreateWithFlags(event, cudaEventDefault); }

cudaError_t cudaEventDestroy(cudaEvent_t event) {
  Lock lock(emu::device_mutex());
  if (!event) return ret(cudaErrorInvalidResourceHandle);
  delete event;
  return cudaSuccess;
}

cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
  Lock lock(emu::device_mutex());
  EMU_STICKY_CHECK();
  if (!event) return ret(cudaErrorInvalidResourceHandle);
  EmuStream* s = emu::resolve(stream);
  if (s->capture) {
    event->capture = s->capture;  // a node of the graph other streams may wait on
    return cudaSuccess;
  }
  event->capture.reset();
  if (s == &emu::g_legacy)
    if (cudaError_t e = emu::capture_guard("cudaEventRecord on the legacy default stream")) return e;
  event->recorded = true;
  event->ms = emu::now_ms();
  return cudaSuccess;
}

cudaError_t cudaEventSynchronize(cudaEvent_t event) {
  Lock lock(emu::device_mutex());
  EMU_STICKY_CHECK();
  if (!event) return ret(cudaErrorInvalidResourceHandle);
  if (event->capture) return ret(cudaErrorStreamCaptureUnsupported);
  return emu::capture_guard("cudaEventSynchronize");
}

cudaError_t cudaEventQuery(cudaEvent_t event) {
  Lock lock(emu::device_mutex());
  EMU_STICKY_CHECK();
  return event ? cudaSuccess : ret(cudaErrorInvalidResourceHandle);
}

cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t stop) {
  Lock lock(emu::device_mutex());
  EMU_STICKY_CHECK();
  if (!start || !stop) return ret(cudaErrorInvalidResourceHandle);
  if ((start->flags | stop->flags) & cudaEventDisableTiming) return ret(cudaErrorInvalidResourceHandle);
  if (!start->recorded || !stop->recorded) return ret(cudaErrorInvalidResourceHandle);
  *ms = static_cast<float>(stop->ms - start->ms);
  return cudaSuccess;
}

cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t graph, unsigned long long) {
  Lock lock(emu::device_mutex());
  EMU_STICKY_CHECK();
  if (!graph) return ret(cudaErrorInvalidValue);
  *exec = new EmuGraphExec{graph->ops};
  return cudaSuccess;
}

cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream) {
  Lock lock(emu::device_mutex());
  EMU_STICKY_CHECK();
  if (!exec) return ret(cudaErrorInvalidValue);
  EmuStream* s = emu::resolve(stream);
  if (s->capture) return ret(cudaErrorNotSupported);  // graphs inside captures: not used, not emulated
  if (s == &emu::g_legacy)
    if (cudaError_t e = emu::capture_guard("cudaGraphLaunch on the legacy default stream")) return e;
  for (auto& [what, op] : exec->ops) {
    op();
    if (cudaError_t e = emu::sticky_error()) {
      emu::warn("graph replay failed at %s", what.c_str());
      return e;
    }
  }
  return cudaSuccess;
}

cudaError_t cudaGraphDestroy(cudaGraph_t graph) {
  Lock lock(emu::device_mutex());
  delete graph;
  return cudaSuccess;
}

cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec) {
  Lock lock(emu::device_mutex());
  delete exec;
  return cudaSuccess;
}

namespace emu {

cudaError_t enqueue(cudaStream_t stream, const char* what, std::function<void()> work) {
  Lock lock(device_mutex());
  if (cudaError_t s = sticky_error()) return s;
  return submit(stream, what, std::move(work));
}

bool device_range(const void* p, size_t bytes) {
  Lock lock(device_mutex());
  return is_device_range(p, bytes);
}

}  // namespace emu
