// The public loss API: the native kernels behind typed functions, with a device switch.
import { native, type NativeLossArgs, type NativeLossResult } from '../native.js';
import { requireOptions, resolveDevice, type Device } from './backend.js';

export { DEVICES } from './backend.js';
export type { Device } from './backend.js';

export interface DapoLossOptions extends NativeLossArgs {
  /** 'cpu' (default), 'cuda', or 'auto' (CUDA when a device is usable, else CPU). */
  device?: Device;
}

export type DapoLossResult = NativeLossResult;

/** The DAPO policy loss and its gradient, synchronously. */
export function dapoLoss(options: DapoLossOptions): DapoLossResult {
  const { device, ...args } = requireOptions(options, 'dapoLoss');
  return resolveDevice(device) === 'cuda' ? (native.cudaDapoLoss(args) as DapoLossResult) : native.dapoLoss(args);
}

/** As dapoLoss, computed off the main thread. */
export async function dapoLossAsync(options: DapoLossOptions): Promise<DapoLossResult> {
  const { device, ...args } = requireOptions(options, 'dapoLoss');
  return resolveDevice(device) === 'cuda' ? ((await native.cudaDapoLossAsync(args)) as DapoLossResult) : native.dapoLossAsync(args);
}

export interface GroupAdvantageOptions {
  /** Divide by the group's standard deviation (default true; false is Dr. GRPO). */
  std?: boolean;
  eps?: number;
  device?: Device;
}

/** One advantage per response from the rewards of each group of `groupSize` responses. */
export function groupAdvantages(rewards: Float32Array, groupSize: number, opts: GroupAdvantageOptions = {}): Float32Array {
  const { device, ...rest } = requireOptions(opts, 'groupAdvantages');
  return resolveDevice(device) === 'cuda'
    ? (native.cudaGroupAdvantages(rewards, groupSize, rest) as Float32Array)
    : native.groupAdvantages(rewards, groupSize, rest);
}
