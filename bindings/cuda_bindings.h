// Shared pieces of the CUDA bindings (cuda_*.cc): the module or a clear error, module status
// to JS error, DeviceTensor access, and the parsing of loss arguments whose arrays may be
// typed arrays (host) or DeviceTensors (device).
#pragma once
#include <napi.h>

#include <functional>
#include <string>
#include <vector>

#include "bindings/args.h"
#include "bindings/cuda_module.h"
#include "loss/dapo_loss.h"

namespace dapo::bind {

void register_cuda_tensor(Napi::Env env, Napi::Object exports);
void register_cuda_loss(Napi::Env env, Napi::Object exports);
void register_hidden_loss(Napi::Env env, Napi::Object exports);
void register_cuda_op_check(Napi::Env env, Napi::Object exports);
void register_cuda_policy(Napi::Env env, Napi::Object exports);

// The loaded module with a device; throws (code ERR_DAPO_CUDA_UNAVAILABLE) with the reason.
const CudaModule& require_cuda();
// Throws the dapo::Error matching a non-zero module status.
void check_cuda(int status, const char* message);

// Element types a DeviceTensor can hold; names as in JS ('float32', 'bfloat16', 'int32', 'uint8').
enum class DType { F32, BF16, I32, U8 };
const char* dtype_name(DType d);
size_t dtype_bytes(DType d);

struct DeviceBuffer {
  void* ptr = nullptr;
  size_t length = 0;
  DType dtype = DType::F32;
};
// True when value is a live DeviceTensor (throws TypeError for a disposed one).
bool device_tensor_of(Napi::Env env, Napi::Value value, const char* key, DeviceBuffer* out);
// A new DeviceTensor owning `length` elements of fresh device memory.
Napi::Object new_device_tensor(Napi::Env env, DType dtype, size_t length, DeviceBuffer* out);

// One array argument: a typed array (host) or a DeviceTensor (device).
struct Operand {
  bool present = false;
  bool on_device = false;
  const void* ptr = nullptr;
  size_t length = 0;
  DType dtype = DType::F32;
  dapo_cuda_in in() const { return dapo_cuda_in{ptr, on_device ? 1 : 0}; }
};

// Everything a CUDA loss call shares with the others, checked on the main thread. Messages
// match bindings/loss_call.cc.
struct CommonCall {
  size_t n = 0;
  Operand tokens, old_logprobs, advantages, mask, seq_ids;
  Operand ref_logprobs;  // with options.kl_coef > 0
  LossOptions options;
  std::vector<Napi::Reference<Napi::Value>> keep_alive;
  Napi::Reference<Napi::Float32Array> logprobs, entropy;
};

// Reads obj[key] as an operand of the given dtypes (first one names the typed array in errors).
Operand operand(Napi::Object args, const char* key, std::initializer_list<DType> dtypes, bool required,
                std::vector<Napi::Reference<Napi::Value>>& keep_alive);
bool any_device_tensor(Napi::Env env, Napi::Object args, std::initializer_list<const char*> keys);

// Token arrays, clip and aggregation options, the KL penalty (klCoef, refLogprobs), and the
// logprobs / entropy outputs.
void parse_common(Napi::Env env, Napi::Object args, bool need_tokens, CommonCall& call);
dapo_cuda_loss_common to_abi(const CommonCall& call);
Napi::Object stats_object(Napi::Env env, const dapo_cuda_loss_stats& s);

// One CUDA loss entry point run off the main thread. `run` calls the module on a worker thread
// (status, stats, message buffer); `result` builds the JS value on the main thread.
struct CudaLossJob {
  std::function<int(dapo_cuda_loss_stats*, char*, size_t)> run;
  std::function<Napi::Value(Napi::Env, const dapo_cuda_loss_stats&)> result;
};
// Queues the job that `make` parses from the arguments (on the main thread) and returns its
// Promise; a parse error or a module failure rejects it with the matching JS error.
Napi::Value queue_cuda_loss(Napi::Env env, const char* name, const std::function<CudaLossJob()>& make);

}  // namespace dapo::bind
