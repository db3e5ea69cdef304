// The perf/ metrics of a step beyond tokens/s: perf/max_memory_allocated_gb, the CUDA engine's
// peak device memory in GiB (as verl reports torch.cuda.max_memory_allocated), and perf/mfu,
// the policy update's model FLOPs per second over the device's peak dense bf16 FLOP/s
// (src/policy/flops.ts). On the CPU engine neither is reported: it has no device memory of its
// own, and the CPU's peak is an fp32 estimate (benchmarks/engine.ts), not a bf16 tensor rate.
import { native } from '../native.js';
import { forwardFlops, peakBf16Flops, trainFlops } from '../policy/flops.js';
import type { Policy } from '../policy/index.js';
import type { TrainSample } from './batch.js';
import type { Metrics } from './metrics.js';

/**
 * FLOPs of one policy update: forward and backward of every sequence per epoch, plus a forward
 * for each sample whose old log-probs are recomputed and, with a KL penalty, the reference's.
 * Call before the update (it fills the old log-probs it recomputes).
 */
export function updateFlops(policy: Policy, samples: TrainSample[], config: { epochsPerBatch: number; klCoef: number }): number {
  let flops = 0;
  for (const s of samples) {
    const length = s.promptIds.length + s.response.length;
    flops += config.epochsPerBatch * trainFlops(policy.config, length);
    if (!s.oldLogprobs) flops += forwardFlops(policy.config, length);
    if (config.klCoef > 0) flops += forwardFlops(policy.config, length);
  }
  return flops;
}

export function perfMetrics(policy: Policy, flops: number, seconds: number): Metrics {
  if (policy.device !== 'cuda') return {};
  const out: Metrics = {};
  const memory = policy.memory();
  if (memory) out['perf/max_memory_allocated_gb'] = memory.peak / 2 ** 30;
  const peak = peakBf16Flops(native.cudaInfo().deviceNames?.[0]);
  if (peak && seconds > 0 && flops > 0) out['perf/mfu'] = flops / seconds / peak;
  return out;
}
