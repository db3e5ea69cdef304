// The C ABI of the CUDA engine (api.h, dapo_cuda_engine_*): argument checks, the device made
// current, and every C++ exception turned into a status and message here, so none crosses the
// ABI. A lost CUDA context (DAPO_CUDA_ERR_DEVICE_LOST) marks the engine: every later call refuses
// with it. Running out of memory frees the buffers the engine keeps between calls, so the next
// call starts from the weights and optimizer state alone.
#include <cstdio>
#include <exception>
#include <memory>
#include <new>
#include <string>

#include "common/error.h"
#include "cuda/buffers.cuh"
#include "cuda/model/engine.cuh"
#include "cuda/model/engine_error.cuh"
#include "cuda/model/engine_inputs.h"

struct dapo_cuda_engine {
  std::unique_ptr<dapo::cuda::model::CudaEngineBase> impl;
  int device = 0;
  bool lost = false;
  std::string lost_message;
};

namespace {

using dapo::cuda::model::CudaEngineBase;
using dapo::cuda::model::EngineError;

int put(int status, const std::string& text, char* message, size_t message_size) {
  if (message && message_size > 0) std::snprintf(message, message_size, "%s", text.c_str());
  return status;
}

// The status and message of the exception being handled (call inside a catch block).
int exception_status(std::string* text) {
  try {
    throw;
  } catch (const EngineError& e) {
    *text = e.what();
    return e.status();
  } catch (const dapo::Error& e) {  // the shared C++ code (the config's and layout's checks)
    *text = e.what();
    return e.kind() == dapo::ErrorKind::Range ? DAPO_CUDA_ERR_RANGE : DAPO_CUDA_ERR_ARGS;
  } catch (const std::bad_alloc&) {
    *text = "out of host memory";
    return DAPO_CUDA_ERR_OOM;
  } catch (const std::exception& e) {
    *text = e.what();
    return DAPO_CUDA_ERR_ARGS;
  } catch (...) {
    *text = "an unknown C++ exception";
    return DAPO_CUDA_ERR_ARGS;
  }
}

// After a device-side failure: is the context still usable? A kernel fault surfaces as a sticky
// error at the next synchronisation.
bool context_lost(int status) {
  if (status == DAPO_CUDA_ERR_DEVICE_LOST) return true;
  if (status == DAPO_CUDA_ERR_RANGE || status == DAPO_CUDA_ERR_ARGS || status == DAPO_CUDA_ERR_NONFINITE) return false;
  const cudaError_t probe = cudaDeviceSynchronize();
  if (dapo::cuda::model::is_sticky(probe)) return true;
  cudaGetLastError();
  return false;
}

template <typename Fn>
int guarded(dapo_cuda_engine* e, char* message, size_t message_size, Fn&& fn) {
  if (!e || !e->impl) return put(DAPO_CUDA_ERR_ARGS, "the engine is null or was destroyed", message, message_size);
  if (e->lost) return put(DAPO_CUDA_ERR_DEVICE_LOST, e->lost_message, message, message_size);
  std::string text;
  int status = 0;
  try {
    dapo::cuda::model::check_cuda(cudaSetDevice(e->device), "cudaSetDevice");
    fn(*e->impl);
    return 0;
  } catch (...) {
    status = exception_status(&text);
  }
  if (context_lost(status)) {
    e->lost = true;
    e->lost_message = "the engine's CUDA context is lost (" + text + "); create a new engine in a new process";
    return put(DAPO_CUDA_ERR_DEVICE_LOST, e->lost_message, message, message_size);
  }
  if (status == DAPO_CUDA_ERR_OOM) {
    try {
      e->impl->release_buffers();
    } catch (...) {
    }
  }
  return put(status, text, message, message_size);
}

int null_argument(const char* what, char* message, size_t message_size) {
  return put(DAPO_CUDA_ERR_ARGS, std::string(what) + " is null", message, message_size);
}

dapo::ModelConfig model_config(const dapo_cuda_model_config& m) {
  dapo::ModelConfig c;
  c.vocab = m.vocab;
  c.hidden = m.hidden;
  c.intermediate = m.intermediate;
  c.layers = m.layers;
  c.heads = m.heads;
  c.kv_heads = m.kv_heads;
  c.head_dim = m.head_dim;
  c.max_positions = m.max_positions;
  c.rope_theta = m.rope_theta;
  c.rms_eps = m.rms_eps;
  c.qkv_bias = m.qkv_bias != 0;
  c.qk_norm = m.qk_norm != 0;
  c.tie_embeddings = m.tie_embeddings != 0;
  c.rope_llama3 = m.rope_llama3 != 0;
  c.rope_factor = m.rope_factor;
  c.rope_low_freq_factor = m.rope_low_freq_factor;
  c.rope_high_freq_factor = m.rope_high_freq_factor;
  c.rope_original_max_positions = m.rope_original_max_positions;
  return c;
}

}  // namespace

extern "C" int dapo_cuda_engine_create(const dapo_cuda_model_config* config, const dapo_cuda_engine_options* options,
                                       dapo_cuda_engine** engine, char* message, size_t message_size) {
  if (!engine) return null_argument("engine", message, message_size);
  *engine = nullptr;
  if (!config) return null_argument("config", message, message_size);
  if (!options) return null_argument("options", message, message_size);
  std::string text;
  int status = 0;
  try {
    int count = 0;
    dapo::cuda::model::check_cuda(cudaGetDeviceCount(&count), "cudaGetDeviceCount");
    if (options->device < 0 || options->device >= count)
      dapo::cuda::model::throw_range("device " + std::to_string(options->device) + " is not one of the " +
                                     std::to_string(count) + " CUDA devices");
    dapo::cuda::model::check_cuda(cudaSetDevice(options->device), "cudaSetDevice");
    dapo::cuda::keep_pool_memory();
    auto e = std::make_unique<dapo_cuda_engine>();
    e->device = options->device;
    e->impl = dapo::cuda::model::make_engine(model_config(*config), *options);
    *engine = e.release();
    return 0;
  } catch (...) {
    status = exception_status(&text);
  }
  return put(status, text, message, message_size);
}

extern "C" void dapo_cuda_engine_destroy(dapo_cuda_engine* engine) {
  if (!engine) return;
  try {
    if (!engine->lost) cudaSetDevice(engine->device);
    engine->impl.reset();
  } catch (...) {
  }
  delete engine;
}

extern "C" int dapo_cuda_engine_write(dapo_cuda_engine* engine, int what, size_t offset, size_t count, const void* host,
                                      int host_dtype, char* message, size_t message_size) {
  return guarded(engine, message, message_size,
                 [&](CudaEngineBase& e) { e.write(what, offset, count, host, host_dtype); });
}

extern "C" int dapo_cuda_engine_read(dapo_cuda_engine* engine, int what, size_t offset, size_t count, float* host,
                                     char* message, size_t message_size) {
  return guarded(engine, message, message_size, [&](CudaEngineBase& e) { e.read(what, offset, count, host); });
}

extern "C" int dapo_cuda_engine_get_steps(dapo_cuda_engine* engine, uint64_t* steps, char* message,
                                          size_t message_size) {
  if (!steps) return null_argument("steps", message, message_size);
  return guarded(engine, message, message_size, [&](CudaEngineBase& e) { *steps = e.steps(); });
}

extern "C" int dapo_cuda_engine_set_steps(dapo_cuda_engine* engine, uint64_t steps, char* message, size_t message_size) {
  return guarded(engine, message, message_size, [&](CudaEngineBase& e) { e.set_steps(steps); });
}

extern "C" int dapo_cuda_engine_zero_grad(dapo_cuda_engine* engine, char* message, size_t message_size) {
  return guarded(engine, message, message_size, [&](CudaEngineBase& e) { e.zero_grad(); });
}

extern "C" int dapo_cuda_engine_release_buffers(dapo_cuda_engine* engine, char* message, size_t message_size) {
  return guarded(engine, message, message_size, [&](CudaEngineBase& e) { e.release_buffers(); });
}

extern "C" int dapo_cuda_engine_forward_logits(dapo_cuda_engine* engine, const int32_t* tokens, size_t t, float* logits,
                                               char* message, size_t message_size) {
  return guarded(engine, message, message_size, [&](CudaEngineBase& e) { e.forward_logits(tokens, t, logits); });
}

extern "C" int dapo_cuda_engine_logprobs(dapo_cuda_engine* engine, const dapo_cuda_packed_batch* batch,
                                         double temperature, float* logprobs, float* entropy, char* message,
                                         size_t message_size) {
  if (!batch) return null_argument("batch", message, message_size);
  return guarded(engine, message, message_size,
                 [&](CudaEngineBase& e) { e.logprobs(*batch, temperature, logprobs, entropy); });
}

extern "C" int dapo_cuda_engine_accumulate(dapo_cuda_engine* engine, const dapo_cuda_accumulate_args* args,
                                           dapo_cuda_accumulate_stats* stats, char* message, size_t message_size) {
  if (!args) return null_argument("args", message, message_size);
  if (!stats) return null_argument("stats", message, message_size);
  *stats = dapo_cuda_accumulate_stats{};
  return guarded(engine, message, message_size, [&](CudaEngineBase& e) { *stats = e.accumulate(*args); });
}

extern "C" int dapo_cuda_engine_step(dapo_cuda_engine* engine, const dapo_cuda_step_args* args,
                                     dapo_cuda_step_result* result, char* message, size_t message_size) {
  if (!args) return null_argument("args", message, message_size);
  if (!result) return null_argument("result", message, message_size);
  *result = dapo_cuda_step_result{};
  return guarded(engine, message, message_size, [&](CudaEngineBase& e) { *result = e.step(*args); });
}

extern "C" int dapo_cuda_engine_generate_capacity(dapo_cuda_engine* engine, const dapo_cuda_generate_args* args,
                                                  size_t* capacity, char* message, size_t message_size) {
  if (!args) return null_argument("args", message, message_size);
  if (!capacity) return null_argument("capacity", message, message_size);
  return guarded(engine, message, message_size, [&](CudaEngineBase& e) {
    const dapo::cuda::model::GeneratePlan plan = dapo::cuda::model::plan_generate(e.config(), *args);
    for (size_t q = 0; q < plan.n_seqs; ++q) capacity[q] = plan.capacity(q);
  });
}

extern "C" int dapo_cuda_engine_generate(dapo_cuda_engine* engine, const dapo_cuda_generate_args* args,
                                         int32_t* tokens, float* logprobs, size_t* lengths, uint8_t* finished,
                                         char* message, size_t message_size) {
  if (!args) return null_argument("args", message, message_size);
  return guarded(engine, message, message_size,
                 [&](CudaEngineBase& e) { e.generate(*args, tokens, logprobs, lengths, finished); });
}

extern "C" int dapo_cuda_engine_memory(dapo_cuda_engine* engine, int reset_peak, dapo_cuda_memory_stats* stats,
                                       char* message, size_t message_size) {
  if (!stats) return null_argument("stats", message, message_size);
  *stats = dapo_cuda_memory_stats{};
  return guarded(engine, message, message_size, [&](CudaEngineBase& e) { *stats = e.memory(reset_peak != 0); });
}
