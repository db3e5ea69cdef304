// The public loss API: the native kernels behind typed functions, with a device switch.
import { native, type NativeLossArgs, type NativeLossResult } from '../native.js';

export type Device = 'cpu' | 'cuda' | 'auto';
export const DEVICES = ['cpu', 'cuda', 'auto'] as const;

export interface DapoLossOptions extends NativeLossArgs {
  /** 'cpu' (default), 'cuda', or 'auto' (CUDA when a device is usable, else CPU). */
  device?: Device;
}

export type DapoLossResult = NativeLossResult;

function resolveDevice(device: Device | undefined): 'cpu' | 'cuda' {
  if (device === undefined || device === 'cpu') return 'cpu';
  if (device !== 'cuda' && device !== 'auto') throw new RangeError(`device must be 'cpu', 'cuda' or 'auto', got '${String(device)}'`);
  const info = native.cudaInfo();
  const usable = info.loaded && info.devices > 0;
  if (device === 'auto') return usable ? 'cuda' : 'cpu';
  if (!usable) throw new Error(`device 'cuda' is not available: ${info.reason ?? 'unknown reason'}`);
  return 'cuda';
}

function requireOptions<T>(options: T, what: string): T {
  if (typeof options !== 'object' || options === null || Array.isArray(options))
    throw new TypeError(`${what} options must be an object`);
  return options;
}

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
