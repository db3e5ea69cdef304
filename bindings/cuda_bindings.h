// Shared pieces of the CUDA bindings (cuda_*.cc): the module or a clear error, module status
// to JS error, DeviceTensor access, and the parsing of loss arguments whose arrays may be
// typed arrays (host) or DeviceTensors (device). Every entry point checks its arguments before
// it asks for the module, so a bad argument is reported the same with or without a device.
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
// The dtype of a typed array's elements (a Uint16Array holds bfloat16 bits); false for others.
bool dtype_of_typed_array(napi_typedarray_type type, DType* out);

struct DeviceBuffer {
  void* ptr = nullptr;
  size_t length = 0;
  DType dtype = DType::F32;
};

class DeviceTensor;  // cuda_tensor_bindings.cc

// One call's hold on a DeviceTensor's memory, which the call's kernels use in place. While any
// call holds a tensor, dispose() marks it disposed at once (no later call can use it, download
// refuses) but frees its memory only when the last hold ends, so a kernel never runs on freed
// (or reallocated) memory. The hold also references the JavaScript object, so it is not collected
// meanwhile. Made and ended on the main thread: an async call's holds end when its Promise settles.
class DeviceTensorHold {
 public:
  explicit DeviceTensorHold(Napi::Object tensor);
  DeviceTensorHold(DeviceTensorHold&& other) noexcept;
  DeviceTensorHold& operator=(DeviceTensorHold&&) = delete;
  DeviceTensorHold(const DeviceTensorHold&) = delete;
  ~DeviceTensorHold();

 private:
  Napi::ObjectReference ref_;
  DeviceTensor* tensor_;
};

// True when value is a live DeviceTensor (a disposed one is a TypeError naming key).
bool device_tensor_of(Napi::Env env, Napi::Value value, const char* key, DeviceBuffer* out);
// A new DeviceTensor owning `length` elements of fresh device memory.
Napi::Object new_device_tensor(Napi::Env env, DType dtype, size_t length, DeviceBuffer* out);

// What keeps one call's array arguments valid until it has run, wherever they live: typed
// arrays through CallArrays (an async call copies those over an ArrayBuffer), DeviceTensors
// through holds (used in place, zero-copy).
struct CallOperands {
  CallArrays arrays;
  std::vector<DeviceTensorHold> tensors;
};

// One array argument: a typed array (host) or a DeviceTensor (device). `ptr` is the memory the
// call uses: the tensor's, or what CallArrays handed over for a typed array (its copy in an
// async call).
struct Operand {
  bool present = false;
  bool on_device = false;
  const void* ptr = nullptr;
  size_t length = 0;
  DType dtype = DType::F32;
  dapo_cuda_in in() const { return dapo_cuda_in{ptr, on_device ? 1 : 0}; }
};

// Everything a CUDA loss call shares with the others, checked on the main thread with the
// messages of bindings/loss_call.cc (the same functions where the argument is the same).
struct CommonCall {
  size_t n = 0;
  Operand tokens, old_logprobs, advantages, mask, seq_ids;
  Operand ref_logprobs;  // with options.kl_coef > 0
  LossOptions options;
  CallOperands operands;
  Napi::Reference<Napi::Float32Array> logprobs, entropy;
};

// `value` (the argument `key`) as an input operand of the given dtypes (the first names the
// typed array in errors), taken into `owner` for the call. output_operand: the same for an
// array the call writes (an async call writes a buffer of its own, copied back by
// owner.arrays.finish()).
Operand operand(Napi::Env env, Napi::Value value, const char* key, std::initializer_list<DType> dtypes, bool required,
                CallOperands& owner);
Operand output_operand(Napi::Env env, Napi::Value value, const char* key, std::initializer_list<DType> dtypes,
                       CallOperands& owner);
bool any_device_tensor(Napi::Env env, Napi::Object args, std::initializer_list<const char*> keys);

// Token arrays, clip and aggregation options, the KL penalty (klCoef, refLogprobs), and the
// logprobs / entropy outputs. `call.operands.arrays` must already say whether the call is async.
void parse_common(Napi::Env env, Napi::Object args, bool need_tokens, CommonCall& call);
dapo_cuda_loss_common to_abi(const CommonCall& call);
// The clip, aggregation and KL fields of the ABI from checked options.
void options_to_abi(const LossOptions& options, dapo_cuda_loss_common& abi);
// The loss statistics of an ABI stats struct: dapo_cuda_loss_stats (the loss calls) or
// dapo_cuda_accumulate_stats (the engine's accumulate), which share these fields.
template <typename AbiStats>
LossStats loss_stats_of(const AbiStats& s) {
  LossStats stats;
  stats.loss = s.loss;
  stats.clip_frac_low = s.clip_frac_low;
  stats.clip_frac_high = s.clip_frac_high;
  stats.clip_frac_dual = s.clip_frac_dual;
  stats.approx_kl = s.approx_kl;
  stats.kl_ref = s.kl_ref;
  stats.tokens = static_cast<size_t>(s.tokens);
  return stats;
}
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
