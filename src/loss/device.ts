// Data that stays on the GPU: DeviceTensor handles and the loss on them. Any array argument of
// cudaDapoLoss may be a DeviceTensor; the gradient then comes back as one (or is written over
// the logits with inPlace), so a training step need not copy logits through the host.
import { native } from '../native.js';
import type { CudaLossArgs, CudaLossResult, DeviceTensor as DeviceTensorHandle, DeviceTensorClass } from './cuda-types.js';

export type { CudaLossArgs, CudaLossResult, DeviceDType, DeviceTensorClass } from './cuda-types.js';
/** A handle on GPU memory (see cuda-types.ts). */
export type DeviceTensor = DeviceTensorHandle;

/** DeviceTensor.upload(typedArray) / DeviceTensor.empty(dtype, length). Throws when CUDA is not usable. */
export const DeviceTensor: DeviceTensorClass = native.DeviceTensor;

/** dapoLoss on CUDA with typed arrays or DeviceTensors. */
export function cudaDapoLoss(args: CudaLossArgs): CudaLossResult {
  return native.cudaDapoLoss(args);
}

export function cudaDapoLossAsync(args: CudaLossArgs): Promise<CudaLossResult> {
  return native.cudaDapoLossAsync(args);
}

/** groupAdvantages on CUDA; a DeviceTensor in gives a DeviceTensor out. */
export function cudaGroupAdvantages(
  rewards: Float32Array | DeviceTensorHandle,
  groupSize: number,
  opts?: { std?: boolean; eps?: number },
): Float32Array | DeviceTensorHandle {
  return native.cudaGroupAdvantages(rewards, groupSize, opts);
}
