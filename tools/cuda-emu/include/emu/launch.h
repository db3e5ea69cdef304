// Kernel launches on the emulator. `k<<<grid, block, smem, stream>>>(args)` is rewritten by
// tools/cuda-emu/transform.ts into launch_call("k", LaunchConfig(grid, block, smem, stream),
// [=](const auto&... a) { k(a...); }, args); the arguments are copied when the launch is made
// (as CUDA copies them), and every thread calls the kernel with its own copy.
//
// cudaLaunchKernelExC gets a kernel as `const void*` with its arguments as `void**`: the
// transform puts `::emu::kernel_entry<&kernel<Args...>, bounds>()` at the top of every __global__
// function, which registers the kernel (name, and how to bind a void** argument list to its
// parameters) when the module loads.
#pragma once
#include <cstddef>
#include <functional>
#include <memory>
#include <tuple>
#include <type_traits>
#include <utility>

#include "emu/device.h"
#include "emu/runtime_api.h"

namespace emu {

using KernelBody = std::shared_ptr<const std::function<void()>>;

struct KernelLaunch {
  const void* fn = nullptr;  // null for a <<<>>> launch: the kernel names itself when it starts
  const char* expression = "";  // the launch's kernel expression, for messages
  dim3 grid, block;
  size_t smem = 0;
  cudaStream_t stream = nullptr;
  dim3 cluster{1, 1, 1};
  KernelBody body;
};

// Validates and runs (or, while its stream is capturing, records) a launch.
EMU_API cudaError_t launch(const KernelLaunch& l);

using BindArgs = KernelBody (*)(void** args);
EMU_API bool register_kernel(const void* fn, BindArgs bind, const char* pretty_name, unsigned max_threads);

struct LaunchConfig {
  dim3 grid, block;
  size_t smem;
  cudaStream_t stream;
  LaunchConfig(dim3 g, dim3 b, size_t s = 0, cudaStream_t st = nullptr) : grid(g), block(b), smem(s), stream(st) {}
};

// k<<<config>>>(args): `call` is [=](const auto&... a) { k(a...); }, so the kernel's template
// arguments are deduced from the arguments as in the CUDA call; the arguments are copied now.
template <typename F, typename... A>
inline void launch_call(const char* expression, const LaunchConfig& c, F&& call, A&&... args) {
  KernelLaunch l;
  l.expression = expression;
  l.grid = c.grid;
  l.block = c.block;
  l.smem = c.smem;
  l.stream = c.stream;
  auto params = std::make_tuple(std::decay_t<A>(std::forward<A>(args))...);
  l.body = std::make_shared<const std::function<void()>>(
      [call = std::forward<F>(call), params]() { std::apply(call, params); });
  launch(l);  // a failure is left for cudaGetLastError, as with <<<>>>
}

template <typename... P, typename... A>
inline KernelBody bind_call(void (*kernel)(P...), A&&... args) {
  static_assert(sizeof...(P) == sizeof...(A), "kernel launched with the wrong number of arguments");
  std::tuple<std::decay_t<P>...> params(std::forward<A>(args)...);
  return std::make_shared<const std::function<void()>>([kernel, params]() { std::apply(kernel, params); });
}

EMU_API dim3 cluster_of(const cudaLaunchConfig_t* config);

// ---- registration of __global__ functions, for launches through void** ----
template <typename F>
struct KernelTraits;
template <typename... P>
struct KernelTraits<void (*)(P...)> {
  using Params = std::tuple<std::decay_t<P>...>;
  template <size_t... I>
  static Params from(void** args, std::index_sequence<I...>) {
    return Params(*static_cast<std::tuple_element_t<I, Params>*>(args[I])...);
  }
  static constexpr size_t count = sizeof...(P);
};

template <auto F>
KernelBody bind_args(void** args) {
  using Tr = KernelTraits<decltype(F)>;
  auto params = Tr::from(args, std::make_index_sequence<Tr::count>());
  return std::make_shared<const std::function<void()>>([params]() { std::apply(F, params); });
}

template <auto F>
const char* kernel_pretty_name() {
  return __PRETTY_FUNCTION__;
}

// B: the kernel's __launch_bounds__ maximum of threads per block (0: none).
template <auto F, unsigned B>
struct KernelRegistrar {
  static const bool token;
};
template <auto F, unsigned B>
const bool KernelRegistrar<F, B>::token =
    ::emu::register_kernel(reinterpret_cast<const void*>(F), &bind_args<F>, kernel_pretty_name<F>(), B);

template <auto F, unsigned B>
inline void kernel_entry() {
  static_cast<void>(&KernelRegistrar<F, B>::token);  // instantiated, so registered at load time
  ::emu::kernel_started(reinterpret_cast<const void*>(F), B);
}

}  // namespace emu

template <typename... P, typename... A>
inline cudaError_t cudaLaunchKernelEx(const cudaLaunchConfig_t* config, void (*kernel)(P...), A&&... args) {
  emu::KernelLaunch l;
  l.fn = reinterpret_cast<const void*>(kernel);
  l.grid = config->gridDim;
  l.block = config->blockDim;
  l.smem = config->dynamicSmemBytes;
  l.stream = config->stream;
  l.cluster = emu::cluster_of(config);
  l.body = emu::bind_call(kernel, std::forward<A>(args)...);
  return emu::launch(l);
}
