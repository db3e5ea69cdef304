// The LM-head DAPO loss: from hidden states [N, H] and the head weight [V, H], the loss and the
// gradients for both, computed a chunk at a time so the [N, V] logits never exist. CUDA runs it
// with cuBLASLt bf16 GEMMs (native/cuda/dapo_loss_hidden.cu); the CPU version is its slow,
// exact twin (native/loss/dapo_loss_hidden.cc).
import { native } from '../native.js';
import type { HiddenLossArgs, HiddenLossResult } from './cuda-types.js';
import type { Device } from './index.js';

export type { HiddenLossArgs, HiddenLossResult } from './cuda-types.js';

export interface DapoLossFromHiddenOptions extends HiddenLossArgs {
  /** 'cpu' (default), 'cuda', or 'auto' (CUDA when usable and the inputs are bfloat16). */
  device?: Device;
}

function pick(device: Device | undefined): 'cpu' | 'cuda' {
  if (device === undefined || device === 'cpu') return 'cpu';
  if (device !== 'cuda' && device !== 'auto') throw new RangeError(`device must be 'cpu', 'cuda' or 'auto', got '${String(device)}'`);
  const info = native.cudaInfo();
  const usable = info.loaded && info.devices > 0;
  if (device === 'auto') return usable ? 'cuda' : 'cpu';
  if (!usable) throw new Error(`device 'cuda' is not available: ${info.reason ?? 'unknown reason'}`);
  return 'cuda';
}

/** The DAPO loss from hidden states and the LM head, with gradients for both. */
export function dapoLossFromHidden(options: DapoLossFromHiddenOptions): HiddenLossResult {
  if (options === null || typeof options !== 'object') throw new TypeError('dapoLossFromHidden options must be an object');
  const { device, ...args } = options;
  return pick(device) === 'cuda' ? native.cudaDapoLossFromHidden(args) : native.dapoLossFromHidden(args);
}

/** As dapoLossFromHidden; on CUDA the work runs off the main thread. */
export async function dapoLossFromHiddenAsync(options: DapoLossFromHiddenOptions): Promise<HiddenLossResult> {
  if (options === null || typeof options !== 'object') throw new TypeError('dapoLossFromHidden options must be an object');
  const { device, ...args } = options;
  return pick(device) === 'cuda' ? native.cudaDapoLossFromHiddenAsync(args) : native.dapoLossFromHidden(args);
}
