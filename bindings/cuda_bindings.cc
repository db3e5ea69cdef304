// cudaInfo(): whether the CUDA module was built, loaded, which devices it sees and whether it
// has the policy engine.
#include "bindings/args.h"
#include "bindings/bindings.h"
#include "bindings/cuda_bindings.h"
#include "bindings/cuda_module.h"

namespace dapo::bind {
namespace {

Napi::Value CudaInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const CudaStatus& status = cuda_status();
  Napi::Object out = Napi::Object::New(env);
  out.Set("built", status.built);
  out.Set("loaded", status.loaded);
  out.Set("devices", status.devices);
  if (!status.reason.empty()) out.Set("reason", status.reason);
  out.Set("engine", cuda_engine_api() != nullptr);
  if (status.loaded && !status.engine) out.Set("engineReason", status.engine_reason);
  if (!status.emulator.empty()) out.Set("emulator", status.emulator);
  if (const CudaModule* module = cuda_module()) {
    Napi::Array names = Napi::Array::New(env, module->devices);
    for (int d = 0; d < module->devices; ++d) {
      char name[256] = {0}, message[256] = {0};
      if (module->device_name(d, name, sizeof name, message, sizeof message) == 0) names.Set(d, name);
      else names.Set(d, message);
    }
    out.Set("deviceNames", names);
  }
  return out;
}

}  // namespace

void register_cuda(Napi::Env env, Napi::Object exports) {
  exports.Set("cudaInfo", Napi::Function::New(env, CudaInfo, "cudaInfo"));
  register_cuda_tensor(env, exports);
  register_cuda_loss(env, exports);
  register_hidden_loss(env, exports);
  register_cuda_op_check(env, exports);
  register_cuda_policy(env, exports);
}

namespace {

class CudaLossWorker : public Napi::AsyncWorker {
 public:
  CudaLossWorker(Napi::Env env, const char* name, CudaLossJob job)
      : Napi::AsyncWorker(env, name), deferred_(Napi::Promise::Deferred::New(env)), job_(std::move(job)) {}
  Napi::Promise promise() { return deferred_.Promise(); }
  void Execute() override { status_ = job_.run(&stats_, message_, sizeof message_); }
  void OnOK() override {
    Napi::Env env = Env();
    try {
      check_cuda(status_, message_);
      deferred_.Resolve(job_.result(env, stats_));  // throws ERR_DAPO_DETACHED for a gradOut transferred away
    } catch (const Napi::Error& e) {
      deferred_.Reject(with_code(e).Value());
    } catch (const std::exception& e) {
      deferred_.Reject(to_js_error(env, e).Value());
    }
  }

 private:
  Napi::Promise::Deferred deferred_;
  CudaLossJob job_;
  dapo_cuda_loss_stats stats_{};
  int status_ = 0;
  char message_[1024] = {0};
};

}  // namespace

Napi::Value queue_cuda_loss(Napi::Env env, const char* name, const std::function<CudaLossJob()>& make) {
  auto deferred = Napi::Promise::Deferred::New(env);
  try {
    auto* worker = new CudaLossWorker(env, name, make());
    Napi::Promise promise = worker->promise();
    worker->Queue();
    return promise;
  } catch (const Napi::Error& e) {
    deferred.Reject(with_code(e).Value());
  } catch (const std::exception& e) {
    deferred.Reject(to_js_error(env, e).Value());
  }
  return deferred.Promise();
}

}  // namespace dapo::bind
