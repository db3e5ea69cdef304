// Which engine holds a policy. Every backend implements NativePolicyEngine (weights,
// gradients, optimizer state and KV cache live inside it), so Policy, the trainer and the CLI
// do not change with the device: 'cpu' is the fp32 engine of native/model, 'cuda' the engine of
// libdapo_cuda.so, 'auto' CUDA when cudaInfo() says its engine is usable, else the CPU.
import { native } from '../native.js';
import { rangeError, shown } from '../errors.js';
import { PolicyError } from './errors.js';
import type { CudaComputeDType, NativePolicyConfig, NativePolicyEngine } from './native-types.js';

export type PolicyDevice = 'cpu' | 'cuda' | 'auto';
export const POLICY_DEVICES = ['cpu', 'cuda', 'auto'] as const;
/** Compute dtypes: the CPU engine computes in float32; CUDA in bfloat16 (default) or float32. */
export type PolicyDType = CudaComputeDType;
export const POLICY_DTYPES = ['bfloat16', 'float32'] as const;

/** Why the CUDA policy engine cannot run here, or undefined when it can. */
export function cudaEngineUnavailable(): string | undefined {
  const info = native.cudaInfo();
  if (!(info.loaded && info.devices > 0)) return info.reason ?? 'unknown reason';
  if (!info.engine) return `the CUDA module has no policy engine (${info.engineReason ?? 'unknown reason'})`;
  return undefined;
}

/** The backend a device option selects. 'cuda' where it is unusable is an E_DEVICE error with the reason. */
export function resolvePolicyDevice(device: PolicyDevice | undefined): 'cpu' | 'cuda' {
  if (device === undefined || device === 'cpu') return 'cpu';
  if (device !== 'cuda' && device !== 'auto') throw rangeError(`device must be 'cpu', 'cuda' or 'auto', got '${shown(device)}'`);
  const reason = cudaEngineUnavailable();
  if (device === 'auto') return reason === undefined ? 'cuda' : 'cpu';
  if (reason !== undefined) throw new PolicyError('E_DEVICE', `device 'cuda' is not available for the policy engine: ${reason}`);
  return 'cuda';
}

/** The compute dtype on a device: CUDA defaults to bfloat16; the CPU computes only in float32. */
export function resolvePolicyDType(device: 'cpu' | 'cuda', dtype: PolicyDType | undefined): PolicyDType {
  if (dtype !== undefined && dtype !== 'bfloat16' && dtype !== 'float32')
    throw rangeError(`dtype must be 'bfloat16' or 'float32', got '${shown(dtype)}'`);
  if (device === 'cuda') return dtype ?? 'bfloat16';
  if (dtype === 'bfloat16')
    throw new PolicyError('E_DEVICE', "dtype 'bfloat16' needs the CUDA engine: the CPU engine computes in float32 (use dtype 'float32' or device 'cuda')");
  return 'float32';
}

export interface EngineChoice {
  device: 'cpu' | 'cuda';
  dtype: PolicyDType;
  /** CUDA: recompute each layer in the backward pass instead of keeping its activations. */
  recompute?: boolean;
}

/** Native errors that are the device's, as PolicyErrors with the same code; others unchanged. */
export function asPolicyError(error: unknown): unknown {
  const code = (error as { code?: unknown } | null)?.code;
  if (error instanceof Error && !(error instanceof PolicyError) && (code === 'E_OOM' || code === 'E_DEVICE_LOST' || code === 'E_KERNEL'))
    return new PolicyError(code, error.message, { cause: error });
  return error;
}

export function createEngine(config: NativePolicyConfig, choice: EngineChoice): NativePolicyEngine {
  if (choice.device === 'cpu') return new native.PolicyEngine(config);
  try {
    return new native.CudaPolicyEngine(config, { dtype: choice.dtype, recompute: choice.recompute ?? false });
  } catch (error) {
    throw asPolicyError(error);
  }
}
