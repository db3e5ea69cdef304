// The row sweep's plan table and dispatch (see row_loss.cuh); the variants live in
// row_loss_streaming.cu, row_loss_resident.cu and row_loss_bulk.cu.
#include <cstdint>
#include <map>
#include <mutex>
#include <tuple>

#include "cuda/row_loss.cuh"
#include "cuda/row_loss_variants.cuh"

namespace dapo::cuda {
namespace rowloss {

const DeviceFacts& device_facts() {
  static std::mutex mutex;
  static std::map<int, DeviceFacts> cache;
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess) device = -1;
  std::lock_guard<std::mutex> lock(mutex);
  auto it = cache.find(device);
  if (it != cache.end()) return it->second;
  DeviceFacts f;
  int value = 0;
  if (device >= 0) {
    if (cudaDeviceGetAttribute(&value, cudaDevAttrComputeCapabilityMajor, device) == cudaSuccess) f.major = value;
    if (cudaDeviceGetAttribute(&value, cudaDevAttrMultiProcessorCount, device) == cudaSuccess && value > 0) f.sms = value;
    if (cudaDeviceGetAttribute(&value, cudaDevAttrL2CacheSize, device) == cudaSuccess && value > 0) f.l2_bytes = value;
    if (cudaDeviceGetAttribute(&value, cudaDevAttrMaxSharedMemoryPerBlockOptin, device) == cudaSuccess && value > 0)
      f.smem_optin = static_cast<size_t>(value) - 1024;  // room for the kernels' static shared memory
  }
  return cache.emplace(device, f).first->second;
}

namespace {

cudaError_t prepare_function(const void* fn, int cluster, size_t smem) {
  cudaError_t s = cudaSuccess;
  if (smem > (48u << 10))
    s = cudaFuncSetAttribute(fn, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem));
  if (s == cudaSuccess && cluster > 8) s = cudaFuncSetAttribute(fn, cudaFuncAttributeNonPortableClusterSizeAllowed, 1);
  return s;
}

cudaLaunchConfig_t launch_config(unsigned blocks, int threads, int cluster, size_t smem, cudaStream_t stream,
                                 cudaLaunchAttribute* attribute) {
  cudaLaunchConfig_t config = {};
  config.gridDim = dim3(blocks);
  config.blockDim = dim3(static_cast<unsigned>(threads));
  config.dynamicSmemBytes = smem;
  config.stream = stream;
  if (cluster > 1) {
    attribute->id = cudaLaunchAttributeClusterDimension;
    attribute->val.clusterDim.x = static_cast<unsigned>(cluster);
    attribute->val.clusterDim.y = 1;
    attribute->val.clusterDim.z = 1;
    config.attrs = attribute;
    config.numAttrs = 1;
  }
  return config;
}

}  // namespace

cudaError_t launch_clustered(const void* fn, void** args, unsigned blocks, int threads, int cluster, size_t smem,
                             cudaStream_t stream) {
  if (blocks == 0) return cudaSuccess;
  cudaError_t s = prepare_function(fn, cluster, smem);
  if (s != cudaSuccess) return s;
  cudaLaunchAttribute attribute;
  cudaLaunchConfig_t config = launch_config(blocks, threads, cluster, smem, stream, &attribute);
  return cudaLaunchKernelExC(&config, fn, args);
}

bool cluster_fits(const void* fn, int threads, int cluster, size_t smem) {
  static std::mutex mutex;
  static std::map<std::tuple<int, const void*, int, int, size_t>, bool> cache;
  int device = 0;
  cudaGetDevice(&device);
  const auto key = std::make_tuple(device, fn, threads, cluster, smem);
  std::lock_guard<std::mutex> lock(mutex);
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  bool fits = false;
  if (prepare_function(fn, cluster, smem) == cudaSuccess) {
    cudaLaunchAttribute attribute;
    cudaLaunchConfig_t config = launch_config(static_cast<unsigned>(cluster), threads, cluster, smem, 0, &attribute);
    int count = 0;
    fits = cudaOccupancyMaxActiveClusters(&count, fn, &config) == cudaSuccess && count > 0;
  }
  cudaGetLastError();  // a refused query leaves nothing behind for the next launch to report
  cache.emplace(key, fits);
  return fits;
}

}  // namespace rowloss

namespace {

// Provisional: chosen by design (read the logits once, keep many bytes in flight) until the
// kernel lab's measurements on a GPU replace it (benchmarks/kernels/row-loss.cu prints both this
// table's choice and the measured fastest variant per shape).
constexpr RowLossRule kRules[] = {
    {SIZE_MAX, 0, -1, kRowBulkCluster},   // sm_90, rows of whole 16-byte vectors
    {65536, 0, -1, kRowL2TwoPass},        // small rows: many in flight, the second read from L2
    {262144, 0, -1, kRowResidentLean},    // the row in registers, two blocks per SM
    {SIZE_MAX, 0, -1, kRowL2TwoPass},
};

bool rule_matches(const RowLossRule& rule, const RowLossParams& p) {
  const int in_place = p.grad != nullptr && p.grad == p.logits ? 1 : 0;
  return p.vocab <= rule.vocab_max && (rule.dtype == 0 || rule.dtype == p.dtype) &&
         (rule.in_place < 0 || rule.in_place == in_place);
}

}  // namespace

const char* row_loss_variant_name(int variant) {
  switch (variant) {
    case kRowStreaming: return "streaming";
    case kRowResidentWide: return "resident-wide";
    case kRowResidentLean: return "resident-lean";
    case kRowL2TwoPass: return "l2-two-pass";
    case kRowBulkCluster: return "bulk-cluster";
    default: return "unknown";
  }
}

const RowLossRule* row_loss_rules(size_t* count) {
  *count = sizeof kRules / sizeof kRules[0];
  return kRules;
}

bool plan_row_loss_variant(const RowLossParams& p, int variant, RowLossPlan* plan, const char** why) {
  using namespace rowloss;
  const DeviceFacts& d = device_facts();
  switch (variant) {
    case kRowStreaming: return plan_streaming(p, d, plan, why);
    case kRowResidentWide: return plan_resident(p, d, false, plan, why);
    case kRowResidentLean: return plan_resident(p, d, true, plan, why);
    case kRowL2TwoPass: return plan_l2_two_pass(p, d, plan, why);
    case kRowBulkCluster: return plan_bulk_cluster(p, d, plan, why);
    default:
      if (why) *why = "no such variant";
      return false;
  }
}

RowLossPlan plan_row_loss(const RowLossParams& p) {
  RowLossPlan plan;
  for (const RowLossRule& rule : kRules)
    if (rule_matches(rule, p) && plan_row_loss_variant(p, rule.variant, &plan)) return plan;
  plan_row_loss_variant(p, kRowStreaming, &plan);
  return plan;
}

cudaError_t launch_row_loss_plan(const RowLossParams& p, const RowLossPlan& plan, cudaStream_t stream) {
  using namespace rowloss;
  if (p.rows == 0) return cudaSuccess;
  switch (plan.variant) {
    case kRowStreaming: return launch_streaming(p, plan, stream);
    case kRowResidentWide:
    case kRowResidentLean: return launch_resident(p, plan, stream);
    case kRowL2TwoPass: return launch_l2_two_pass(p, plan, stream);
    case kRowBulkCluster: return launch_bulk_cluster(p, plan, stream);
    default: return cudaErrorInvalidValue;
  }
}

cudaError_t launch_row_loss(const RowLossParams& p, cudaStream_t stream) {
  if (p.rows == 0) return cudaSuccess;
  return launch_row_loss_plan(p, plan_row_loss(p), stream);
}

}  // namespace dapo::cuda
