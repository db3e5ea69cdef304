// Which engine holds a policy. Every backend implements NativePolicyEngine (weights,
// gradients, optimizer state and KV cache live inside it), so Policy does not change when a
// CUDA engine is added: it gets a branch here.
import { native } from '../native.js';
import { rangeError, shown } from '../errors.js';
import { PolicyError } from './errors.js';
import type { NativePolicyConfig, NativePolicyEngine } from './native-types.js';

export type PolicyDevice = 'cpu' | 'cuda' | 'auto';
export const POLICY_DEVICES = ['cpu', 'cuda', 'auto'] as const;

/** The backend a device option selects ('auto': the best available, today the CPU). */
export function resolvePolicyDevice(device: PolicyDevice | undefined): 'cpu' {
  if (device === undefined || device === 'cpu' || device === 'auto') return 'cpu';
  if (device === 'cuda')
    throw new PolicyError('E_DEVICE', "device 'cuda' is not available for the policy engine in this build (use 'cpu' or 'auto')");
  throw rangeError(`device must be 'cpu', 'cuda' or 'auto', got '${shown(device)}'`);
}

export function createEngine(config: NativePolicyConfig, device: 'cpu'): NativePolicyEngine {
  if (device !== 'cpu') throw new PolicyError('E_DEVICE', `no policy engine for device '${shown(device)}'`);
  return new native.PolicyEngine(config);
}
