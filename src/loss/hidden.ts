// The LM-head DAPO loss: from hidden states [N, H] and the head weight [V, H], the loss and the
// gradients for both, computed a chunk at a time so the [N, V] logits never exist. CUDA runs it
// with cuBLASLt bf16 GEMMs (native/cuda/dapo_loss_hidden.cu); the CPU version is its slow,
// exact twin (native/loss/dapo_loss_hidden.cc).
import { native } from '../native.js';
import type { HiddenLossArgs, HiddenLossResult } from './cuda-types.js';
import { requireOptions, resolveDevice, type Device } from './backend.js';

export type { HiddenLossArgs, HiddenLossResult } from './cuda-types.js';

export interface DapoLossFromHiddenOptions extends HiddenLossArgs {
  /** 'cpu' (default), 'cuda', or 'auto' (CUDA when usable and the inputs are bfloat16). */
  device?: Device;
}


/** The DAPO loss from hidden states and the LM head, with gradients for both. */
export function dapoLossFromHidden(options: DapoLossFromHiddenOptions): HiddenLossResult {
  const { device, ...args } = requireOptions(options, 'dapoLossFromHidden');
  return resolveDevice(device) === 'cuda' ? native.cudaDapoLossFromHidden(args) : native.dapoLossFromHidden(args);
}

/** As dapoLossFromHidden; on CUDA the work runs off the main thread. */
export async function dapoLossFromHiddenAsync(options: DapoLossFromHiddenOptions): Promise<HiddenLossResult> {
  const { device, ...args } = requireOptions(options, 'dapoLossFromHidden');
  return resolveDevice(device) === 'cuda' ? native.cudaDapoLossFromHiddenAsync(args) : native.dapoLossFromHidden(args);
}
