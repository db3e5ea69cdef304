// Which backend a loss call runs on: 'cpu' (default), 'cuda', or 'auto' (CUDA when the module
// loaded and sees a device, else CPU). Asking for 'cuda' where it is unusable says why.
import { native } from '../native.js';
import { codedError, rangeError, shown, typeError } from '../errors.js';

export type Device = 'cpu' | 'cuda' | 'auto';
export const DEVICES = ['cpu', 'cuda', 'auto'] as const;

export function resolveDevice(device: Device | undefined): 'cpu' | 'cuda' {
  if (device === undefined || device === 'cpu') return 'cpu';
  if (device !== 'cuda' && device !== 'auto') throw rangeError(`device must be 'cpu', 'cuda' or 'auto', got '${shown(device)}'`);
  const info = native.cudaInfo();
  const usable = info.loaded && info.devices > 0;
  if (device === 'auto') return usable ? 'cuda' : 'cpu';
  if (!usable) throw codedError('ERR_DAPO_CUDA_UNAVAILABLE', `device 'cuda' is not available: ${info.reason ?? 'unknown reason'}`);
  return 'cuda';
}

/** Options must be a plain object; anything else is a TypeError naming the call. */
export function requireOptions<T>(options: T, what: string): T {
  if (typeof options !== 'object' || options === null || Array.isArray(options))
    throw typeError(`${what} options must be an object`);
  return options;
}
